"""`mlkit eigenfaces`: train a face space; recognise, reconstruct, tell faces from non-faces."""

import click

from mlkit.commands._options import batch_options, inputs_argument, run_batch

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
def command():
    """Eigenfaces (Turk & Pentland): a face space from gray images, for recognition
    (nearest training face) and detection (distance from face space). A NIfTI
    stack of 2D slices counts as a set of images.

    \b
    Examples:
      mlkit eigenfaces train faces/ -o model.npz --size 64x64
      mlkit eigenfaces recognize model.npz probe/*.png --format csv
    """


def _size(text):
    from mlkit.homography_io import parse_size

    width, height = parse_size(text)
    return height, width


def _load(specs, with_labels=False):
    from mlkit.faces_io import load_gray

    return load_gray(specs, with_labels)


def _emit(rows, fields, fmt):
    """CSV, or JSON: always a list (one row per image, whatever their number), NaN and
    infinities as null."""
    import csv
    import json
    import math
    import sys

    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        clean = [{k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()} for row in rows]
        click.echo(json.dumps(clean, indent=2, allow_nan=False))


def _probes(inputs, model):
    """Names and prepared rows of the images that could be read; the others are reported
    (one line each, naming the file). Returns the exit code to end with as well."""
    import numpy as np

    from mlkit import ui
    from mlkit.eigenfaces import prepare
    from mlkit.faces_io import read_probes

    names, images, failures, count = read_probes(inputs)
    for exc in failures:
        ui.error(str(exc))
    if failures and count > 1:
        ui.error(f"{len(failures)} of {count} inputs failed")
    X = prepare(images, model.size, model.normalize) if images else np.empty((0, model.mean.size))
    return names, X, 1 if failures else 0


def _threshold(ctx, param, value):
    if value is not None and not value >= 0:  # NaN too
        raise click.BadParameter(f"{value} is not a distance >= 0")
    return value


@command.command()
@inputs_argument
@click.option("-o", "--output", required=True, metavar="MODEL.npz", help="Where to save the model.")
@click.option("--size", metavar="WxH", help="Common image size [default: the first image's].")
@click.option("-k", type=click.IntRange(1), help="Keep this many eigenfaces.")
@click.option("--variance", type=click.FloatRange(0, 1, min_open=True), help="Keep eigenfaces up to this cumulative variance [default: 0.95].")
@click.option("--min-eigenvalue", type=float, help="Keep eigenfaces whose eigenvalue exceeds this.")
@click.option("--detect-variance", type=click.FloatRange(0, 1, min_open=True), default=0.4, show_default=True, help="Variance of the (smaller) face space used for detection.")
@click.option("--labels", "labels_csv", type=click.Path(exists=True, dir_okay=False), help="CSV image,label (default: folder names).")
@click.option("--normalize/--no-normalize", default=True, show_default=True, help="Zero mean, unit variance per image.")
def train(inputs, output, size, k, variance, min_eigenvalue, detect_variance, labels_csv, normalize):
    """Train a face space from gray (or colour, made gray) images.

    \b
    Examples:
      mlkit eigenfaces train people/*/ -o model.npz --size 92x112 --variance 0.95
      mlkit eigenfaces train faces.nii.gz -o model.npz -k 20 --labels labels.csv
    """
    from mlkit import ui
    from mlkit.eigenfaces import prepare
    from mlkit.eigenfaces import train as fit
    from mlkit.faces_io import read_labels

    if sum(v is not None for v in (k, variance, min_eigenvalue)) > 1:
        raise click.UsageError("give one of -k, --variance and --min-eigenvalue")
    names, images, folders = _load(inputs, with_labels=True)
    labels = read_labels(labels_csv, names) if labels_csv else folders
    hw = _size(size) if size else images[0].shape[:2]
    model = fit(prepare(images, hw, normalize), labels, hw, normalize, k, variance, min_eigenvalue, detect_variance)
    model.save(output)
    share = model.eigenvalues[: model.k].sum() / model.eigenvalues.sum()
    ui.info(f"{len(images)} images, {len(set(labels))} labels, {model.k} eigenfaces ({share:.1%} of the variance), detection on {model.detect_k}")
    return 0


@command.command()
@click.argument("model_path", metavar="MODEL")
@inputs_argument
@click.option("--threshold", type=float, callback=_threshold, help="Face distance above which an image is not a face [default: the model's].")
@click.option("--calibrate", nargs=2, metavar="FACES NONFACES", help="Pick the threshold that best separates these two sets.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
def detect(model_path, inputs, threshold, calibrate, fmt):
    """Face or not: the distance from face space against a threshold.

    \b
    Examples:
      mlkit eigenfaces detect model.npz patches/ --format csv
      mlkit eigenfaces detect model.npz patches/ --calibrate faces/ nonfaces/
    """
    from mlkit import ui
    from mlkit.eigenfaces import calibrate as pick, face_distance, load_model, prepare

    model = load_model(model_path)
    if calibrate:
        faces, others = (face_distance(model, prepare(_load([spec])[1], model.size, model.normalize)) for spec in calibrate)
        threshold = pick(faces, others)
        ui.info(f"calibrated threshold {threshold:.6g}")
    threshold = model.face_threshold if threshold is None else threshold
    names, X, code = _probes(inputs, model)
    dist = face_distance(model, X)
    rows = [{"name": n, "face_distance": float(d), "is_face": bool(d <= threshold)} for n, d in zip(names, dist)]
    _emit(rows, ["name", "face_distance", "is_face"], fmt)
    return code


@command.command()
@click.argument("model_path", metavar="MODEL")
@inputs_argument
@click.option("--threshold", type=float, callback=_threshold, help="Face distance above which an image is unknown [default: the model's].")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
def recognize(model_path, inputs, threshold, fmt):
    """Best label (nearest training face in face space), its distance, the face
    distance, and whether the image is unknown (not a face, or nobody known).

    \b
    Example:
      mlkit eigenfaces recognize model.npz probe/*.png --format csv
    """
    from mlkit.eigenfaces import load_model, recognize as identify

    model = load_model(model_path)
    if threshold is not None:
        model.face_threshold = threshold
    names, X, code = _probes(inputs, model)
    labels, dist, face_dist, unknown = identify(model, X)
    rows = [
        {"name": n, "label": str(l), "distance": float(d), "face_distance": float(f), "unknown": bool(u)}
        for n, l, d, f, u in zip(names, labels, dist, face_dist, unknown)
    ]
    _emit(rows, ["name", "label", "distance", "face_distance", "unknown"], fmt)
    return code


@command.command()
@click.argument("model_path", metavar="MODEL")
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
    from mlkit.eigenfaces import load_model
    from mlkit.faces_io import reconstruct_step

    model = load_model(model_path)
    work = functools.partial(reconstruct_step, model=model, k=k, cmdline=provenance.command_line())
    return run_batch(inputs, work, opts)


@command.command()
@click.argument("model_path", metavar="MODEL")
@click.option("-o", "--output", required=True, metavar="MOSAIC.png", help="Mean face and the top eigenfaces.")
@click.option("--count", type=click.IntRange(1), default=15, show_default=True, help="Eigenfaces in the mosaic.")
@click.option("--scree", type=click.Path(dir_okay=False), help="Also draw the cumulative-variance plot here.")
def show(model_path, output, count, scree):
    """Draw the mean face and the top eigenfaces as a grid (and a scree plot).

    \b
    Example:
      mlkit eigenfaces show model.npz -o mosaic.png --scree scree.png
    """
    from mlkit.eigenfaces import load_model, mosaic, scree as scree_plot
    from mlkit.io import Image, write_image

    model = load_model(model_path)
    write_image(Image(data=mosaic(model, count), format="png"), output)
    if scree:
        write_image(Image(data=scree_plot(model)[..., ::-1].copy(), channels=True, format="png"), scree)
    return 0
