"""`mlkit compress`: autoencoder compression of image sets, with honest rate-distortion numbers."""

import click

from mlkit.commands._options import DIR, FILE, device_option, inputs_argument, seed_option
from mlkit.commands._output import emit, format_option

KINDS = ("dense", "conv", "sparse", "rd", "hyper")


def slice_axis_option(fn):
    return click.option("--slice-axis", type=click.IntRange(0, 2), default=2, show_default=True,
                        help="Axis along which volumes are cut into 2D slices.")(fn)


def jobs_option(fn):
    return click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True,
                        help="Batches of 64 planes run through the network in parallel (the same bytes out).")(fn)


def fit_option(fn):
    return click.option("--fit", is_flag=True, help="Convert and stretch inputs whose channels, aspect or scale differ "
                        "from the model's (otherwise an error).")(fn)


def bits_option(fn):
    return click.option("--bits", type=click.IntRange(1, 16), default=8, show_default=True,
                        help="Autoencoders: quantisation of each code number (the rd and hyper codecs round their latents).")(fn)


@click.group()
def command():
    """Train a learned codec (or an autoencoder) on an image set, then store images as its
    entropy-coded codes (.mlz) and rebuild them. It compresses only images like those it was
    trained on: measure with eval.

    \b
    Examples:
      mlkit compress train digits/ -o q4.keras --kind rd --latent 16 --size 16x16 --quality 4
      mlkit compress encode q4.keras test/ -o test.mlz
      mlkit compress decode q4.keras test.mlz -o out/
      mlkit compress eval q2.keras,q4.keras,q6.keras test/ --format json --plot rd.png
    """


def _size(ctx, param, value):
    if value is None:
        return None
    parts = value.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise click.BadParameter(f"{value!r} is not HxW (e.g. 16x16)")
    return int(parts[0]), int(parts[1])


def _require_deep(what):
    from mlkit.deep.runtime import require_deep

    require_deep(f"compress {what}")


def _check_model(path):
    """The model file, looked at before TensorFlow loads."""
    import os

    from mlkit.errors import MlkitError

    if not os.path.isfile(path):
        raise MlkitError(f"{path}: {'a folder, not a model' if os.path.isdir(path) else 'no such file'}",
                         "give a .keras model made by mlkit compress train")


def _named(path, call, *args):
    """call(*args), its errors naming `path` (the layer that knows the path adds it)."""
    from mlkit.errors import MlkitError

    try:
        return call(*args)
    except MlkitError as exc:
        if exc.message.startswith(f"{path}:"):
            raise
        raise type(exc)(f"{'stdin' if path == '-' else path}: {exc.message}", exc.hint) from None


def _runtime(device, seed=None):
    from mlkit.deep.runtime import Runtime

    return Runtime(device=device, seed=seed)


@command.command()
@inputs_argument
@click.option("-o", "--output", required=True, metavar="MODEL.keras", **FILE, help="Where to save the trained model.")
@click.option("--kind", type=click.Choice(KINDS), default="conv", show_default=True,
              help="rd (the learned codec: GDN transforms, a factorized entropy model, loss D + lambda R), "
                   "hyper (rd plus a scale hyperprior: a small side map sets each latent's Gaussian scale; "
                   "--size a multiple of 4 x --downsample), "
                   "or an autoencoder: dense, conv, sparse (dense with an L1 penalty on the code's activity).")
@click.option("--latent", type=click.IntRange(1, 4096), default=32, show_default=True,
              help="Numbers in each image's code (rd: channels of its latent map, see --downsample).")
@click.option("--downsample", type=click.Choice(["4", "8", "16"]), default="4", show_default=True,
              help="rd, hyper: the latent map is H/f x W/f (2, 3 or 4 stride-2 stages); larger f, fewer numbers for "
                   "small sets of large images. --size must be a multiple of f.")
@click.option("--quality", type=click.IntRange(1, 8), help="rd, hyper: the rate, 1 (fewest bits) .. 8; lambda from a fixed table [default: 4].")
@click.option("--lambda", "lam", type=click.FloatRange(0, min_open=True), help="rd, hyper: the weight of the rate in D + lambda R (instead of --quality).")
@click.option("--epochs", type=click.IntRange(1), default=50, show_default=True, help="Most passes over the training images.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--size", callback=_size, metavar="HxW", help="Model input size [default: the first image's].")
@click.option("--val-split", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="Share of the images held out for the validation loss and early stopping.")
@click.option("--patience", type=click.IntRange(1), default=5, show_default=True,
              help="Stop after this many epochs without a better validation loss (the best weights are kept).")
@click.option("--checkpoint-dir", metavar="DIR", **DIR, help="Checkpoints here, and resume from them.")
@seed_option
@slice_axis_option
@device_option
def train(inputs, output, kind, latent, downsample, quality, lam, epochs, batch_size, size, val_split, patience, checkpoint_dir, seed,
          slice_axis, device):
    """Train the learned codec (--kind rd or hyper, one model per --quality) or an autoencoder
    on 2D images or the 2D slices of 3D/4D NIfTI volumes.

    \b
    Examples:
      mlkit compress train digits/ -o q3.keras --kind rd --latent 16 --size 16x16 --quality 3 --epochs 60
      mlkit compress train scans/ -o h1.keras --kind hyper --downsample 8 --size 128x96 --quality 1
      mlkit compress train faces/ -o ae.keras --kind conv --latent 32 --size 24x24 --epochs 100
    """
    _require_deep("train")
    from mlkit import ui
    from mlkit.compress import Settings, train as fit
    from mlkit.compress.rd import LAMBDAS
    from mlkit.compress.train import check, check_run_folder, first_size
    from mlkit.deep.data import load_image_set

    if not output.endswith(".keras"):
        raise click.BadParameter(f"{output}: a model file must end in .keras", param_hint="-o")
    learned = kind in ("rd", "hyper")
    if not learned and (quality or lam):
        raise click.UsageError(f"--quality and --lambda apply to --kind rd or hyper, not {kind}")
    if quality and lam:
        raise click.UsageError("give --quality or --lambda, not both")
    if not learned and downsample != "4":
        raise click.UsageError(f"--downsample applies to --kind rd or hyper, not {kind}")
    if learned:
        lam = lam or LAMBDAS[quality or 4]
    settings = Settings(kind=kind, latent=latent, epochs=epochs, batch_size=batch_size, size=size or first_size(inputs, slice_axis),
                        val_split=val_split, seed=seed, slice_axis=slice_axis, patience=patience, lam=lam,
                        downsample=int(downsample))
    check(settings)
    if checkpoint_dir:
        check_run_folder(checkpoint_dir, settings)  # before the images load and TensorFlow starts
    images, _ = load_image_set(inputs, settings.size, slice_axis=slice_axis, mode="stretch")
    runtime = _runtime(device, seed)
    summary = fit(runtime, images, settings, output, checkpoint_dir)
    early = ", stopped early" if summary["stopped_early"] else ""
    what = f"{kind} codec (lambda {lam:g})" if learned else f"{kind} autoencoder"
    ui.info(f"{output}: {what}, {summary['train']} training and {summary['val']} validation images, "
            f"{summary['epochs']} epochs{early}, best validation loss {summary['best_val_loss']:.5g} at epoch {summary['best_epoch']} (seed {seed})")
    return 0


def _codec(model_path, device):
    from mlkit.compress import load

    return load(model_path, _runtime(device).keras)


def _output_or_stdout(output):
    import sys

    if output is None and sys.stdout.isatty():
        raise click.UsageError("give -o, or pipe the output into another command")
    return output or "-"


@command.command()
@click.argument("model_path", metavar="MODEL", **FILE)
@inputs_argument
@click.option("-o", "--output", metavar="CODES.mlz", **FILE, help="The container, or - for stdout (the default when piped).")
@bits_option
@slice_axis_option
@fit_option
@jobs_option
@device_option
def encode(model_path, inputs, output, bits, slice_axis, fit, jobs, device):
    """Store images as their quantised, entropy-coded codes (an .mlz container).

    \b
    Examples:
      mlkit compress encode ae.keras test/*.png -o test.mlz
      mlkit sample | mlkit compress encode mri.keras - | mlkit compress decode mri.keras - -o t1.nii.gz
    """
    from mlkit.compress import encode as pack
    from mlkit.compress.steps import read_set, write_container

    output = _output_or_stdout(output)
    _require_deep("encode")
    _check_model(model_path)
    images = read_set(inputs)  # the inputs before the model
    codec = _codec(model_path, device)
    write_container(pack(codec, images, bits, slice_axis, jobs, fit), output)
    return 0


@command.command()
@click.argument("model_path", metavar="MODEL", **FILE)
@click.argument("codes", metavar="CODES.mlz", **FILE)
@click.option("-o", "--output", metavar="OUT", **FILE, help="A folder (ending in / or existing), one file, or - for the mlkit stream.")
@jobs_option
@device_option
def decode(model_path, codes, output, jobs, device):
    """Rebuild the images in an .mlz container under their names, shapes, dtypes and affines.

    \b
    Example:
      mlkit compress decode ae.keras test.mlz -o out/
    """
    output = _output_or_stdout(output)
    _require_deep("decode")
    from mlkit import provenance
    from mlkit.compress import decode as unpack, formats
    from mlkit.compress.steps import read_container, reconstructions, write_images

    _check_model(model_path)
    box = _named(codes, formats.unpack, read_container(codes))  # a damaged container is said before the model loads
    codec = _codec(model_path, device)
    write_images(reconstructions(_named(codes, unpack, codec, box, jobs), provenance.command_line()), output)
    return 0


def _text(row):
    psnr = "inf" if row["psnr_db"] is None else f"{row['psnr_db']:.2f}"
    ssim = "-" if row["ssim"] is None else f"{row['ssim']:.4f}"
    head = f"{row['model']} {row['image']}: {psnr} dB  ssim {ssim}  {row['bpp']:.3f} bpp"
    if row["image"] != "mean":
        return head
    pooled = "inf" if row["psnr_pooled_db"] is None else f"{row['psnr_pooled_db']:.2f}"
    codecs = "  ".join(f"{n} {row[n]['bpp']:.3f} bpp{'' if row[n]['reached'] else ' (not reached)'} BD {_pct(row[n]['bd_rate'])}"
                       for n in ("jpeg", "webp", "avif", "jxl") if n in row)
    return (f"{head}  pooled {pooled} dB  ratio {row['ratio']:.1f}  |  at equal mean PSNR: {codecs}"
            f"  |  png {row['png']['bpp']:.3f}  gzip {row['gzip']['bpp']:.3f} bpp")


def _pct(value):
    return "-" if value is None else f"{value:+.1f}%"


@command.command(name="eval")
@click.argument("model_path", metavar="MODEL[,MODEL...]", **FILE)
@inputs_argument
@bits_option
@slice_axis_option
@click.option("--plot", metavar="RD.png", **FILE, help="Draw the rate-distortion curves of the models and the codecs (.png, .svg, .pdf).")
@fit_option
@jobs_option
@format_option()
@device_option
def evaluate(model_path, inputs, bits, slice_axis, plot, fit, jobs, fmt, device):
    """PSNR (mean and pooled), SSIM, bits per pixel and ratio per image and for the set, and the
    rate of JPEG, WebP, AVIF and JPEG XL at the same PSNR (interpolated on their curves), the
    BD-rate of the models' curve against each, lossless PNG and gzip. Several models (comma
    separated, e.g. one per --quality) are the points of one curve; an autoencoder alone gives
    its curve over --bits.

    \b
    Example:
      mlkit compress eval q2.keras,q4.keras,q6.keras test/ --format json --plot rd.png
    """
    _require_deep("eval")
    from mlkit.compress import evaluate as measure, load
    from mlkit.compress.steps import read_set
    from mlkit.plots import plot_format

    if plot:
        plot_format(plot)  # .png, .svg or .pdf: refused before the work, not after
    paths = [path for path in model_path.split(",") if path]
    for path in paths:
        _check_model(path)
    images = read_set(inputs)  # the inputs before the models
    keras = _runtime(device).keras
    emit(measure([(path, load(path, keras)) for path in paths], images, bits, slice_axis, plot, jobs, fit), fmt, _text)
    return 0
