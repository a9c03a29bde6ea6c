"""Option decorators shared by the commands, so every command reads the same way."""

import click


def inputs_argument(fn):
    return click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")(fn)


def batch_options(fn):
    """-o, --ext, --dtype, --jobs and --shard: how a batch is split and where it goes."""
    options = [
        click.option(
            "-o",
            "--output",
            metavar="OUT",
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
    return click.option(
        "--seed", type=click.IntRange(0), help="Seed for the random draws; the same seed gives identical outputs."
    )(fn)


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
