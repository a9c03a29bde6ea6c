"""Option decorators shared by the commands, so every command reads the same way."""

import click


def complete_paths(ctx, param, incomplete):
    """Tab completes file names here: the shell's own file completion (click's type "file")."""
    from click.shell_completion import CompletionItem

    return [CompletionItem(incomplete, type="file")]


def complete_dirs(ctx, param, incomplete):
    from click.shell_completion import CompletionItem

    return [CompletionItem(incomplete, type="dir")]


# For options and arguments that name files or folders: click.option(..., **FILE).
FILE = {"shell_complete": complete_paths}
DIR = {"shell_complete": complete_dirs}


def inputs_argument(fn):
    return click.argument("inputs", nargs=-1, required=True, metavar="INPUT...", **FILE)(fn)


def batch_options(fn):
    """-o, --ext, --dtype, --jobs and --shard: how a batch is split and where it goes."""
    options = [
        click.option(
            "-o",
            "--output",
            metavar="OUT",
            **FILE,
            help="A file, a folder (ending in / or existing) or - for stdout (the default when piped).",
        ),
        click.option("--ext", metavar=".EXT", help="File type for outputs in a folder (default: the input's)."),
        click.option(
            "--dtype",
            type=click.Choice(["uint8", "int8", "uint16", "int16", "uint32", "int32", "int64", "float32", "float64"]),
            help="Cast outputs (floats to integers are rounded and clipped).",
        ),
        click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True, help="Inputs processed in parallel."),
        click.option("--shard", metavar="I/N", help="Process only every N-th input from offset I (array jobs)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def seed_option(fn):
    """--seed S; when absent a seed is drawn here and recorded, so every run can be repeated."""
    return click.option(
        "--seed", type=click.IntRange(0), callback=_draw_seed,
        help="Seed for the random draws; the same seed gives identical outputs [default: drawn and recorded].",
    )(fn)


def _draw_seed(ctx, param, value):
    import secrets

    return secrets.randbits(32) if value is None else value


DEVICE_HELP = "Where to run: auto (every visible GPU, else the CPU), cpu or gpu."


def device_option(fn):
    """--device auto|cpu|gpu and --deterministic, the same in every command that runs a network."""
    fn = click.option("--deterministic", is_flag=True, expose_value=False, callback=_deterministic,
                      help="TensorFlow's op determinism: repeatable on GPUs too, slower.")(fn)
    return click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
                        help=DEVICE_HELP)(fn)


def _deterministic(ctx, param, value):
    import os

    if value:
        os.environ["MLKIT_DETERMINISTIC"] = "1"  # read by mlkit.deep.runtime.Runtime


INTERP = {"nearest": 0, "linear": 1, "cubic": 3}


def interp_option(fn, max_order=5):
    """--interp nearest|linear|cubic (B-splines of order 0, 1, 3), the same in every command;
    --order N (hidden) picks any spline order up to `max_order` instead."""
    fn = click.option("--order", type=click.IntRange(0, max_order), hidden=True, help="Spline order instead of --interp.")(fn)
    return click.option(
        "--interp", type=click.Choice(list(INTERP)), help="Interpolation: nearest, linear or cubic [default: linear].",
    )(fn)


def interp_order(opts, allowed=None):
    """The spline order that --interp / --order chose (popped from `opts`); linear by default."""
    interp, order = opts.pop("interp", None), opts.pop("order", None)
    if interp is not None and order is not None and INTERP[interp] != order:
        raise click.UsageError(f"--interp {interp} and --order {order} disagree: give one")
    order = INTERP[interp] if interp is not None else (1 if order is None else order)
    if allowed is not None and order not in allowed:
        raise click.BadParameter(f"order {order} is not one of {', '.join(map(str, allowed))}", param_hint="--order")
    return order


def run_batch(inputs, work, opts, label="inputs", seed=None, extras=None, on_output=None):
    """Call the batch runner with the options batch_options parsed."""
    from mlkit.io import batch

    return batch.run(
        inputs,
        work,
        opts["output"],
        jobs=opts["jobs"],
        shard=batch.parse_shard(opts["shard"]),
        ext=opts["ext"],
        dtype=opts["dtype"],
        seed=seed,
        label=label,
        extras=extras,
        on_output=on_output,
    )


class Numbers(click.ParamType):
    """'1.5' or '64,64,32': one number, or one per axis."""

    name = "N[,N...]"

    def __init__(self, kind=float):
        self.kind = kind

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return value
        try:
            return [self.kind(v) for v in str(value).split(",")]
        except ValueError:
            kind = "integers" if self.kind is int else "numbers"
            self.fail(f"{value!r} is not a comma-separated list of {kind}", param, ctx)
