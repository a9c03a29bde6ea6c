"""`mlkit stylize`: Gatys neural style transfer."""

import click

from mlkit.commands._options import DIR, FILE, Numbers, device_option, seed_option


def _layers(ctx, param, value):
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


@click.command()
@click.argument("content", metavar="CONTENT", **FILE)
@click.option("-s", "--style", "styles", multiple=True, required=True, metavar="STYLE", **FILE,
              help="A style picture; repeat for several styles.")
@click.option("--style-blend", type=Numbers(), metavar="W1,W2...", help="One weight per --style, normalised to sum 1 [default: equal].")
@click.option("-o", "--output", metavar="OUT", **FILE, help="A file (out.png), a folder (ending in /) or - for the mlkit stream (the default when piped).")
@click.option("--size", type=click.IntRange(16, 8192), default=512, show_default=True, help="Longest side of the output, in pixels.")
@click.option("--iterations", type=click.IntRange(1), default=500, show_default=True, help="Iterations at each scale.")
@click.option("--stop-delta", type=click.FloatRange(0), default=1e-4, show_default=True,
              help="Stop a scale once the loss falls by less than this fraction per iteration (over 10 iterations); 0: never.")
@click.option("--content-weight", type=click.FloatRange(0), default=5.0, show_default=True, help="Weight of the content loss.")
@click.option("--style-weight", type=click.FloatRange(0), default=500.0, show_default=True, help="Weight of the style loss.")
@click.option("--tv-weight", type=click.FloatRange(0), default=100.0, show_default=True, help="Weight of the total-variation (smoothness) loss.")
@click.option("--content-layers", callback=_layers, metavar="L1,L2...", help="VGG19 layers matched to the content [default: block4_conv2, alias relu4_2].")
@click.option("--style-layers", callback=_layers, metavar="L1,L2...", help="VGG19 layers whose Gram matrices are matched to the style [default: block1_conv1 ... block5_conv1].")
@click.option("--style-layer-weight-exp", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="Style layer n+1 weighs this times layer n (then normalised): above 1 favours coarse, below 1 fine structure.")
@click.option("--style-scale", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="Size of the style pictures relative to the output: larger paints larger brush strokes.")
@click.option("--pooling", type=click.Choice(["max", "avg"]), default="max", show_default=True,
              help="VGG19's pooling: avg keeps more of the content's fine detail, max is more abstract.")
@click.option("--init", type=click.Choice(["noise", "content", "style"]), default="noise", show_default=True, help="The image the optimisation starts from.")
@click.option("--optimizer", type=click.Choice(["lbfgs", "adam"]), default="lbfgs", show_default=True, help="L-BFGS (fewer, surer iterations) or Adam.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), help="Adam's step size in pixel units (0-255) [default: 10].")
@click.option("--scales", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Coarse to fine: start at 1/2^(N-1) of --size and upsample each result to start the next.")
@click.option("--preserve-colors", is_flag=True, help="Keep the content's colours; take only the luminance from the result.")
@click.option("--checkpoint-every", type=click.IntRange(1), metavar="N", help="Write the picture every N iterations into --checkpoint-dir.")
@click.option("--checkpoint-dir", metavar="DIR", **DIR, help="Folder for the checkpoint pictures (iter-000050.png ...).")
@seed_option
@click.option("--weights", metavar="PATH", **FILE, help="VGG19's vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 [default: $MLKIT_VGG19_WEIGHTS, then Keras's cache ~/.keras/models].")
@click.option("--log", metavar="FILE.jsonl", **FILE, help="Write one JSON line per iteration: loss terms and seconds.")
@device_option
def command(content, styles, style_blend, output, checkpoint_every, checkpoint_dir, seed, weights, log, device, **knobs):
    """Paint CONTENT (a picture, or - for one 2D image on stdin) in the style of one or more
    STYLE pictures (Gatys et al.): the picture is optimised so that its VGG19 features match
    CONTENT's in deep layers and the styles' Gram matrices in several layers. The best
    picture seen is the one written; Ctrl-C writes the best so far and exits 130.

    VGG19's ImageNet weights (80 MB) come from --weights, $MLKIT_VGG19_WEIGHTS or Keras's
    cache, downloaded there on first use where there is a network.

    \b
    Examples:
      mlkit sample face -o face.jpg && mlkit sample document -o page.jpg
      mlkit stylize face.jpg --style page.jpg --size 256 --scales 2 -o out.png
      mlkit stylize face.jpg -s page.jpg -s my.jpg --style-blend 0.75,0.25 --preserve-colors -o out.png
    """
    from mlkit import ui
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


def _check_pictures(paths):
    import os

    from mlkit.errors import MlkitError

    for path in paths:
        if path != "-" and not os.path.isfile(path):
            what = "a folder, not a picture" if os.path.isdir(path) else "no such file"
            raise MlkitError(f"{path}: {what}", "give a picture file (png, jpg ...), or - for stdin")
