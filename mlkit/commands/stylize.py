"""`mlkit stylize`: neural style transfer, by optimising the picture (Gatys et al., the default:
`mlkit stylize CONTENT -s STYLE`, also spelt `mlkit stylize optimize`) or by training a network
once per style and applying it to any picture (Johnson et al.: `train`, `apply`)."""

import click

from mlkit import ui
from mlkit.commands._options import (DIR, FILE, Numbers, batch_options, complete_paths, device_option, run_batch,
                                     seed_option)
from mlkit.commands._output import emit, format_option

DEFAULT = "optimize"


class StylizeGroup(click.Group):
    """A group whose first argument, when it is not one of its commands, belongs to the
    default command: `mlkit stylize face.jpg -s page.jpg` is `mlkit stylize optimize face.jpg
    -s page.jpg`. (So a content picture named `train`, `apply` or `optimize` needs ./ before it.)"""

    _mlkit_named = True  # names itself in messages; mlkit.cli leaves it alone

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT, *args]
            ctx.meta["stylize_default"] = True
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        ui.state["command"] = "stylize" if ctx.meta.get("stylize_default") else f"stylize {name}"
        return name, cmd, rest

    def shell_complete(self, ctx, incomplete):
        """The modes and, for the default mode's CONTENT, the files: `mlkit stylize fa<Tab>`."""
        found = super().shell_complete(ctx, incomplete)
        if not incomplete.startswith("-"):
            found += complete_paths(ctx, None, incomplete)
        return found


@click.group(cls=StylizeGroup)
def command():
    """Neural style transfer on VGG19, two ways.

    \b
    optimize  (the default) paints one picture by optimising it: slow, any style at once.
    train     trains a network on a folder of photos to paint in one style: once per style.
    apply     paints any pictures with a trained network: a fraction of a second each, no VGG19.

    `mlkit stylize CONTENT -s STYLE ...` is `mlkit stylize optimize CONTENT -s STYLE ...`. Both
    modes use the same loss (content, style and TV terms, layers, Gram normalisation, weights).
    VGG19's ImageNet weights (80 MB) are needed by optimize and train only: --weights,
    $MLKIT_VGG19_WEIGHTS or Keras's cache, downloaded there on first use where there is a network.

    \b
    Examples:
      mlkit sample face -o face.jpg && mlkit sample document -o page.jpg
      mlkit stylize face.jpg --style page.jpg --size 256 --scales 2 -o out.png
      mlkit stylize train page.jpg --content-dir photos/ -c runs/page --epochs 2
      mlkit stylize apply runs/page photos/ -o painted/
    """


def _layers(ctx, param, value):
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def loss_options(fn):
    """The knobs of the perceptual loss, the same in optimize and train."""
    options = [
        click.option("--style-blend", type=Numbers(), metavar="W1,W2...", help="One weight per style, normalised to sum 1 [default: equal]."),
        click.option("--content-weight", type=click.FloatRange(0), default=5.0, show_default=True, help="Weight of the content loss."),
        click.option("--style-weight", type=click.FloatRange(0), default=500.0, show_default=True, help="Weight of the style loss."),
        click.option("--tv-weight", type=click.FloatRange(0), default=100.0, show_default=True, help="Weight of the total-variation (smoothness) loss."),
        click.option("--content-layers", callback=_layers, metavar="L1,L2...", help="VGG19 layers matched to the content [default: block4_conv2, alias relu4_2]."),
        click.option("--style-layers", callback=_layers, metavar="L1,L2...", help="VGG19 layers whose Gram matrices are matched to the style [default: block1_conv1 ... block5_conv1]."),
        click.option("--style-layer-weight-exp", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
                     help="Style layer n+1 weighs this times layer n (then normalised): above 1 favours coarse, below 1 fine structure."),
        click.option("--gram-norm", type=click.Choice(["hwc", "hw"]), default="hwc", show_default=True,
                     help="Divide each Gram matrix by h*w*c (neural-style; shallow layers carry most of the style loss) or h*w "
                          "(the TensorFlow tutorial: layer l's term grows by c_l^2, deep layers dominate; lower --style-weight)."),
        click.option("--style-scale", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
                     help="Size of the style pictures relative to the output: larger paints larger brush strokes."),
        click.option("--pooling", type=click.Choice(["max", "avg"]), default="max", show_default=True,
                     help="VGG19's pooling: avg keeps more of the content's fine detail, max is more abstract."),
        click.option("--preserve-colors", is_flag=True, help="Keep the content's colours; take only the luminance from the result."),
        click.option("--weights", metavar="PATH", **FILE,
                     help="VGG19's vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 [default: $MLKIT_VGG19_WEIGHTS, then Keras's cache ~/.keras/models]."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@command.command("optimize", short_help="Paint one picture by optimising it (Gatys et al.); the default.")
@click.argument("content", metavar="CONTENT", **FILE)
@click.option("-s", "--style", "styles", multiple=True, required=True, metavar="STYLE", **FILE,
              help="A style picture; repeat for several styles.")
@click.option("-o", "--output", metavar="OUT", **FILE, help="A file (out.png), a folder (ending in /) or - for the mlkit stream (the default when piped).")
@click.option("--size", type=click.IntRange(16, 8192), default=512, show_default=True, help="Longest side of the output, in pixels.")
@click.option("--iterations", type=click.IntRange(1), default=500, show_default=True, help="Iterations at each scale.")
@click.option("--stop-delta", type=click.FloatRange(0), default=1e-4, show_default=True,
              help="Stop a scale once the loss falls by less than this fraction per iteration (over 10 iterations); 0: never.")
@loss_options
@click.option("--init", type=click.Choice(["noise", "content", "style"]), default="noise", show_default=True, help="The image the optimisation starts from.")
@click.option("--optimizer", type=click.Choice(["lbfgs", "adam"]), default="lbfgs", show_default=True, help="L-BFGS (fewer, surer iterations) or Adam.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), help="Adam's step size in pixel units (0-255) [default: 10].")
@click.option("--scales", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Coarse to fine: start at 1/2^(N-1) of --size and upsample each result to start the next.")
@click.option("--checkpoint-every", type=click.IntRange(1), metavar="N", help="Write the picture every N iterations into --checkpoint-dir.")
@click.option("--checkpoint-dir", metavar="DIR", **DIR, help="Folder for the checkpoint pictures (iter-000050.png ...).")
@seed_option
@click.option("--log", metavar="FILE.jsonl", **FILE, help="Write one JSON line per iteration: loss terms and seconds.")
@device_option
def optimize(content, styles, style_blend, output, checkpoint_every, checkpoint_dir, seed, weights, log, device, **knobs):
    """Paint CONTENT (a picture, or - for one 2D image on stdin) in the style of one or more
    STYLE pictures (Gatys et al.): the picture is optimised so that its VGG19 features match
    CONTENT's in deep layers and the styles' Gram matrices in several layers. The best
    picture seen is the one written; Ctrl-C writes the best so far and exits 130. The default
    mode: `mlkit stylize CONTENT -s STYLE` is this command.

    \b
    Examples:
      mlkit sample face -o face.jpg && mlkit sample document -o page.jpg
      mlkit stylize face.jpg --style page.jpg --size 256 --scales 2 -o out.png
      mlkit stylize optimize face.jpg -s page.jpg -s my.jpg --style-blend 0.75,0.25 --preserve-colors -o out.png
    """
    from mlkit.deep.runtime import require_deep
    from mlkit.errors import Interrupted
    from mlkit.io.batch import make_sink

    if knobs["lr"] is not None and knobs["optimizer"] != "adam":
        raise click.UsageError("--lr applies to --optimizer adam")
    if bool(checkpoint_every) != bool(checkpoint_dir):
        raise click.UsageError("--checkpoint-every and --checkpoint-dir go together")
    make_sink(output, 1)  # a bad -o fails now, not after the optimisation
    _check_pictures([content, *styles])  # the user's own files before the weights and TensorFlow
    require_deep("stylize")
    from mlkit.style import Settings, stylize, steps

    knobs["lr"] = knobs["lr"] or Settings.lr
    settings = Settings(**{k: v for k, v in knobs.items() if v is not None}, style_blend=style_blend)
    result = stylize(content, list(styles), settings, weights=weights, seed=seed, device=device, log=log,
                     checkpoint_every=checkpoint_every or 0, checkpoint_dir=checkpoint_dir)
    written = steps.write([result.image], output)[0]
    s = result.summary
    if result.interrupted:  # one line, exit 130
        raise Interrupted(f"interrupted after {s['iterations']} iterations; wrote the best picture so far to {written} "
                          f"(loss {s['loss']:.4g})")
    ui.info(f"wrote {written}: {s['size'][1]}x{s['size'][0]}, {s['iterations']} iterations, loss {s['loss']:.4g} "
            f"(content {s['content_loss']:.4g}, style {s['style_loss']:.4g}, tv {s['tv_loss']:.4g}), {s['seconds']:.1f} s")


@command.command("train", short_help="Train a network on photos to paint in a style (Johnson et al.).")
@click.argument("styles", nargs=-1, required=True, metavar="STYLE...", **FILE)
@click.option("--content-dir", "photos", multiple=True, required=True, metavar="PHOTOS", **FILE,
              help="Training photos: a folder (searched recursively), a glob or files; repeat for several. COCO is what the papers use.")
@click.option("-c", "--checkpoint-dir", required=True, metavar="RUN", **DIR,
              help="Run folder: model.keras, checkpoints, samples/, metrics.jsonl. Rerun to resume.")
@click.option("--size", type=click.IntRange(16, 4096), default=256, show_default=True,
              help="Side of the square crops trained on, a multiple of 4 (photos are resized and cropped at random).")
@click.option("--epochs", type=click.FloatRange(0, min_open=True), default=2.0, show_default=True, help="Passes over the photos (ignored with --steps).")
@click.option("--steps", "steps_total", type=click.IntRange(1), help="Train until this global step.")
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True, help="Adam's learning rate.")
@click.option("--width", type=click.IntRange(1, 1024), default=32, show_default=True,
              help="Filters of the network's first layer (then 2x, 4x in the residual blocks).")
@click.option("--res-blocks", type=click.IntRange(0, 64), default=5, show_default=True, help="Residual blocks.")
@loss_options
@click.option("--checkpoint-every", type=click.IntRange(1), default=500, show_default=True,
              help="Steps between checkpoints (the latest 3 kept; model.keras rewritten).")
@click.option("--sample-every", type=click.IntRange(1), default=500, show_default=True, help="Steps between sample pictures (RUN/samples/).")
@click.option("--logdir", type=click.Path(file_okay=False), help="TensorBoard logs: every loss term at every step.")
@seed_option
@device_option
@format_option()
def train(styles, photos, checkpoint_dir, size, epochs, steps_total, batch_size, lr, width, res_blocks, style_blend,
          weights, checkpoint_every, sample_every, logdir, seed, device, fmt, **knobs):
    """Train a network (Johnson et al.: strided convolutions, residual blocks, resize-convolutions,
    instance normalisation) to paint pictures in the style of STYLE (several: blended) with the
    optimisation mode's VGG19 loss, on a folder of photos. RUN/model.keras is the network `mlkit
    stylize apply` uses (no VGG19 needed there). Rerunning the same command resumes from the
    latest checkpoint with the same step, weights, optimizer state and photo order; Ctrl-C
    checkpoints, then exits 130. RUN/metrics.jsonl gets one line per step (the loss terms).

    \b
    Examples:
      mlkit stylize train page.jpg --content-dir photos/ -c runs/page --epochs 2 --seed 1
      mlkit stylize train page.jpg --content-dir coco/train2014/ -c runs/page --size 256 --steps 40000
    """
    from mlkit.deep.runtime import require_deep

    _check_pictures(styles)  # the user's own files before the weights and TensorFlow
    require_deep("stylize train")
    from mlkit.style import Settings
    from mlkit.style.fast import train as train_network

    settings = Settings(size=size, style_blend=style_blend, **{k: v for k, v in knobs.items() if v is not None})
    source = click.get_current_context().get_parameter_source("seed")
    summary = train_network(list(photos), list(styles), checkpoint_dir, settings, steps_total=steps_total, epochs=epochs,
                            batch_size=batch_size, lr=lr, width=width, res_blocks=res_blocks,
                            seed=None if source == click.core.ParameterSource.DEFAULT else seed, drawn_seed=seed,
                            weights=weights, device=device, checkpoint_every=checkpoint_every,
                            sample_every=sample_every, logdir=logdir)
    summary.pop("trainer")
    emit([summary], fmt, _trained)


def _trained(row):
    begun = f"from step {row['started_at']} " if row["started_at"] else ""
    return (f"trained {begun}to step {row['step']} ({row['epochs']} epochs over {row['photos']} photos, {row['device']}); "
            f"network {row['model']}; samples {row['samples']}")


@command.command("apply", short_help="Paint pictures with a trained network, fast, without VGG19.")
@click.argument("model", metavar="RUN|MODEL.keras", **FILE)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...", **FILE)
@batch_options
@click.option("--preserve-colors/--no-preserve-colors", default=None,
              help="Keep each picture's colours, take only the luminance from the network [default: as the run was trained].")
@device_option
def apply(model, inputs, preserve_colors, device, **opts):
    """Paint INPUTs (files, folders, globs or - for the stream) with a network trained by
    `mlkit stylize train`: RUN (its folder) or its MODEL.keras. One forward pass per picture,
    at the picture's own size; gray pictures come out in colour (gray with --preserve-colors),
    an alpha channel is kept. Outputs keep the inputs' names and history.

    \b
    Examples:
      mlkit stylize apply runs/page photos/ -o painted/
      mlkit sample face | mlkit stylize apply runs/page/model.keras - -o face-page.png
    """
    import functools

    from mlkit.deep.runtime import require_deep
    from mlkit.io.batch import make_sink
    from mlkit.io.inputs import expand_inputs

    require_deep("stylize apply")
    from mlkit.style.steps import apply_step, prepare

    make_sink(opts["output"], len(expand_inputs(list(inputs))), opts["ext"], opts["dtype"])  # a bad -o fails first
    prepare(model, device)  # a bad network is one line now, not one per input
    return run_batch(inputs, functools.partial(apply_step, model, device, preserve_colors), opts, label="pictures")


def _check_pictures(paths):
    import os

    from mlkit.errors import MlkitError

    for path in paths:
        if path != "-" and not os.path.isfile(path):
            what = "a folder, not a picture" if os.path.isdir(path) else "no such file"
            raise MlkitError(f"{path}: {what}", "give a picture file (png, jpg ...), or - for stdin")
