"""`mlkit eigenfaces`: train a face space; recognise, reconstruct, tell faces from non-faces."""

import click

from mlkit.commands._options import FILE, batch_options, inputs_argument, run_batch
from mlkit.commands._output import format_option


@click.group()
def command():
    """Eigenfaces (Turk & Pentland): a face space from gray images, for recognition
    (nearest training face) and detection (distance from face space). A NIfTI
    stack of 2D slices counts as a set of images.

    \b
    Examples:
      mlkit sample faces -o lfw/ && mlkit eigenfaces train lfw/face/ -o model.npz
      mlkit eigenfaces recognize model.npz probe/*.png --format csv
    """


class Size(click.ParamType):
    """'WxH' (width first, as image tools write it) -> (height, width)."""

    name = "WxH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = str(value).lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
            self.fail(f"{value!r} is not WxH with two positive integers, e.g. 92x112", param, ctx)
        return int(parts[1]), int(parts[0])


def _threshold(ctx, param, value):
    if value is not None and not value >= 0:  # NaN too
        raise click.BadParameter(f"{value} is not a distance >= 0")
    return value


def _report(result, fmt):
    """The rows on stdout; each probe that could not be read on stderr. Returns the exit code."""
    from mlkit import ui
    from mlkit.commands._output import emit

    for exc in result.failures:
        ui.error(str(exc))
    if result.failures and result.inputs > 1:
        ui.error(f"{len(result.failures)} of {result.inputs} inputs failed")
    emit(result.rows, fmt)
    return 1 if result.failures else 0


@command.command()
@inputs_argument
@click.option("-o", "--output", required=True, metavar="MODEL.npz", **FILE, help="Where to save the model.")
@click.option("--size", type=Size(), metavar="WxH", help="Common image size [default: the first image's].")
@click.option("-k", type=click.IntRange(1), help="Keep this many eigenfaces.")
@click.option("--variance", type=click.FloatRange(0, 1, min_open=True), help="Keep eigenfaces up to this cumulative variance [default: 0.95].")
@click.option("--min-eigenvalue", type=float, help="Keep eigenfaces whose eigenvalue exceeds this.")
@click.option("--detect-variance", type=click.FloatRange(0, 1, min_open=True), default=0.4, show_default=True, help="Variance of the (smaller) face space used for detection.")
@click.option("--labels", "labels_csv", type=click.Path(exists=True, dir_okay=False), help="CSV image,label (default: folder names).")
@click.option("--normalize/--no-normalize", default=True, show_default=True, help="Zero mean, unit variance per image.")
def train(inputs, output, **opts):
    """Train a face space from gray (or colour, made gray) images.

    \b
    Examples:
      mlkit eigenfaces train people/*/ -o model.npz --size 92x112 --variance 0.95
      mlkit eigenfaces train faces.nii.gz -o model.npz -k 20 --labels labels.csv
    """
    from mlkit import ui
    from mlkit.faces import train_files

    model = train_files(inputs, output, **opts)
    labels = len(set(model.labels))
    ui.info(f"{len(model.labels)} images, {labels} label{'s' * (labels != 1)}, {model.k} eigenfaces "
            f"({model.explained:.1%} of the variance), detection on the first {model.detect_k}")
    return 0


@command.command()
@click.argument("model_path", metavar="MODEL", **FILE)
@inputs_argument
@click.option("--threshold", type=float, callback=_threshold, help="Face distance above which an image is not a face [default: the model's].")
@click.option("--calibrate", nargs=2, metavar="FACES NONFACES", help="Pick the threshold that best separates these two sets.")
@format_option("json")
def detect(model_path, inputs, threshold, calibrate, fmt):
    """Face or not: the distance from face space against a threshold.

    \b
    Examples:
      mlkit eigenfaces detect model.npz patches/ --format csv
      mlkit eigenfaces detect model.npz patches/ --calibrate lfw/face/ lfw/nonface/
    """
    from mlkit import ui
    from mlkit.faces import detect_files, load_model

    result = detect_files(load_model(model_path), inputs, threshold, calibrate)
    if calibrate:
        ui.info(f"calibrated threshold {result.threshold:.6g}")
    return _report(result, fmt)


@command.command()
@click.argument("model_path", metavar="MODEL", **FILE)
@inputs_argument
@click.option("--threshold", type=float, callback=_threshold, help="Face distance above which an image is unknown [default: the model's].")
@format_option("json")
def recognize(model_path, inputs, threshold, fmt):
    """Best label (nearest training face in face space), its distance, the face
    distance, and whether the image is unknown (not a face, or nobody known).

    \b
    Example:
      mlkit eigenfaces recognize model.npz probe/*.png --format csv
    """
    from mlkit.faces import load_model, recognize_files

    return _report(recognize_files(load_model(model_path), inputs, threshold), fmt)


@command.command()
@click.argument("model_path", metavar="MODEL", **FILE)
@inputs_argument
@click.option("-k", type=click.IntRange(1), help="Use the first K eigenfaces [default: all in the model].")
@batch_options
def reconstruct(model_path, inputs, k, **opts):
    """Reconstruct images from their face-space weights; writes <name>_recon and
    <name>_error (absolute difference), in the input's intensity scale.

    \b
    Example:
      mlkit eigenfaces reconstruct model.npz probe/ -k 10 -o recon/
    """
    import functools

    from mlkit import provenance
    from mlkit.faces import load_model, reconstruct_step

    work = functools.partial(reconstruct_step, model=load_model(model_path), k=k, cmdline=provenance.command_line())
    return run_batch(inputs, work, opts)


@command.command()
@click.argument("model_path", metavar="MODEL", **FILE)
@click.option("-o", "--output", required=True, metavar="MOSAIC.png", **FILE, help="Mean face and the top eigenfaces.")
@click.option("--count", type=click.IntRange(1), default=15, show_default=True, help="Eigenfaces in the mosaic.")
@click.option("--scree", type=click.Path(dir_okay=False),
              help="Also draw the scree plot here: each eigenface's share of the variance and the total (PNG, SVG or PDF).")
def show(model_path, output, count, scree):
    """Draw the mean face and the top eigenfaces as a grid (and a scree plot).

    \b
    Example:
      mlkit eigenfaces show model.npz -o mosaic.png --scree scree.png
    """
    from mlkit.faces import load_model, show as draw
    from mlkit.plots import plot_format

    if scree:
        plot_format(scree)  # .png, .svg or .pdf: refused before the model is read

    draw(load_model(model_path), output, count, scree)
    return 0
