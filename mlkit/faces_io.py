"""Face images in and out: gray stacks with labels, label files, the reconstruct step."""

import csv
import os

import numpy as np

from mlkit.dtypes import to_dtype
from mlkit.errors import MlkitError
from mlkit.io.image import to_gray


def load_gray(specs, with_labels=False):
    """(names, gray 2D arrays, labels) from files, folders (or folders of per-person
    folders), globs and NIfTI stacks (each 2D slice along the last axis is an image).
    Labels are the name of the folder holding each file. The first file that cannot
    be used stops the load with an error naming it (a model is not trained on a part)."""
    names, images, labels = [], [], []
    for path in _face_files(specs):
        for name, plane in _read_file(path):
            names.append(name)
            images.append(plane)
            labels.append(_label(path))
    if not images:
        raise MlkitError("no images given")
    return names, images, labels


def read_probes(specs):
    """(names, gray images, failures, number of files): a file that cannot be used is
    kept in failures (an MlkitError naming it) and the others are read on."""
    names, images, failures = [], [], []
    files = _face_files(specs)
    for path in files:
        try:
            planes = _read_file(path)
        except MlkitError as exc:
            failures.append(exc)
            continue
        for name, plane in planes:
            names.append(name)
            images.append(plane)
    return names, images, failures, len(files)


def _label(path):
    return os.path.basename(os.path.dirname(os.path.abspath(path))) if path != "-" else "stdin"


def _read_file(path):
    """[(name, gray plane)] of one file, each plane non-empty and finite; errors name the file."""
    from mlkit.io.read import read_images

    try:
        planes = [plane for img in read_images(path) for plane in _planes(img)]
        for name, plane in planes:
            _check_plane(name, plane)
    except MlkitError as exc:
        raise type(exc)(f"{'stdin' if path == '-' else path}: {exc.message}", exc.hint) from None
    return planes


def _check_plane(name, plane):
    if plane.size == 0:
        raise MlkitError(f"image {name} is empty")
    if not np.isfinite(plane).all():
        raise MlkitError(f"image {name} holds NaN or infinite values", "replace them, or leave this image out")


def _face_files(specs):
    from mlkit.io.batch import expand_inputs

    paths = []
    for spec in specs:
        if os.path.isdir(spec):
            subfolders = sorted(e.path for e in os.scandir(spec) if e.is_dir() and not e.name.startswith("."))
            has_files = any(e.is_file() and not e.name.startswith(".") for e in os.scandir(spec))
            if subfolders and not has_files:
                paths.extend(expand_inputs(subfolders))
                continue
        paths.extend(expand_inputs([spec]))
    return paths


def _planes(img):
    data = img.data
    if img.channels or data.ndim == 2:
        yield img.name, to_gray(img)
    elif data.ndim == 3:
        for k in range(data.shape[2]):
            yield f"{img.name}_s{k:03d}", data[:, :, k].astype(np.float64)
    else:
        raise MlkitError(f"a {data.ndim}D image is neither a 2D face nor a stack of them")


def read_labels(path, names):
    """Labels from a CSV with the header image,label; image is a file stem or name."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or set(rows[0]) != {"image", "label"}:
        raise MlkitError(f"{path}: the header must be image,label")
    table = {}
    for row in rows:
        key = os.path.basename(row["image"])
        table[key] = row["label"]
        table[key.rsplit(".", 1)[0]] = row["label"]
    missing = [n for n in names if n not in table]
    if missing:
        raise MlkitError(f"{path} has no label for {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    return [table[n] for n in names]


def reconstruct_step(img, seedseq, model, k=None, cmdline=None):
    """Batch work function for `eigenfaces reconstruct`: <name>_recon and <name>_error."""
    from mlkit import provenance
    from mlkit.eigenfaces import prepare, reconstruct
    from mlkit.io import Image

    out = []
    entry = provenance.entry("eigenfaces reconstruct", {"k": k or model.k}, cmdline=cmdline)
    for name, plane in _planes(img):
        _check_plane(name, plane)
        row = prepare([plane], model.size, model.normalize)
        recon = reconstruct(model, row, k)[0].reshape(model.size)
        original = row[0].reshape(model.size)
        if model.normalize:  # back to the image's own intensity scale
            resized = prepare([plane], model.size, normalize=False)[0].reshape(model.size)
            recon = recon * resized.std() + resized.mean()
            original = resized
        dtype = img.data.dtype
        for suffix, values in (("recon", recon), ("error", np.abs(original - recon))):
            data = to_dtype(values, dtype if np.issubdtype(dtype, np.number) else np.float32)
            out.append(Image(data=data, name=f"{name}_{suffix}", history=[*img.history, entry], format=img.format, suffix=img.suffix))
    return out
