"""The files of the faces domain: the .npz model (saved atomically, loaded safely and checked
field by field), face image sets with their labels, and label CSVs."""

import csv
import dataclasses
import os
import zipfile
import zlib

import numpy as np

from mlkit.errors import MlkitError
from mlkit.faces import eigenfaces
from mlkit.io.image import to_gray

# model member -> (dtype kinds it may have, number of dimensions)
FIELDS = {
    "mean": ("fiu", 1),
    "eigenfaces": ("fiu", 2),
    "eigenvalues": ("fiu", 1),
    "weights": ("fiu", 2),
    "labels": ("US", 1),
    "size": ("iu", 1),
    "normalize": ("biu", 0),
    "detect_k": ("iu", 0),
    "face_threshold": ("fiu", 0),
    "class_threshold": ("fiu", 0),
}
RETRAIN = "retrain it with mlkit eigenfaces train"


def save_model(model, path):
    """Write the model as an .npz of plain arrays, atomically (a temporary file renamed)."""
    from mlkit.io.write import atomic_write

    fields = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}
    fields["labels"] = np.asarray(model.labels, dtype=str)
    fields["size"] = np.asarray(model.size, dtype=np.int64)
    with atomic_write(path) as out:
        np.savez(out, **fields)


def load_model(path):
    """Load a model .npz, checked field by field; never unpickles. Each member's .npy
    header (dtype, shape) is checked, and its size held against the memory limit,
    before its data is read."""
    try:
        with zipfile.ZipFile(path) as archive:
            missing = [key for key in FIELDS if key + ".npy" not in archive.namelist()]
            if missing:
                raise MlkitError(f"not an eigenfaces model: it lacks {', '.join(missing)}", RETRAIN)
            spent = [0]  # bytes the members take once loaded and widened, so far
            fields = {key: _read_member(archive, key, spent) for key in FIELDS}
        model = _model_from(fields)
        _check_model(model)
    except MlkitError as exc:
        raise type(exc)(f"{path}: {exc.message}", exc.hint) from None
    except (OSError, EOFError, ValueError, RuntimeError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error) as exc:
        # a corrupt archive or member; RuntimeError: an encrypted one, NotImplementedError: unknown compression
        raise MlkitError(f"{path}: cannot read the model ({_reason(exc)})", "is it a model saved by mlkit eigenfaces train?") from None
    return model


def _reason(exc):
    text = str(exc).splitlines()[0] if str(exc) else "truncated or corrupt"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else text


WIDENED = {"mean": 8, "eigenfaces": 8, "eigenvalues": 8, "weights": 8}  # _model_from's float64 copies


def _read_member(archive, key, spent):
    """One array, its header checked before any of its data is read: its size as stored and
    as _model_from widens it, added to `spent`, the members' total, held against the limit."""
    import math

    from numpy.lib import format as npy

    from mlkit.io import limits

    with archive.open(key + ".npy") as f:
        shape, dtype = _member_header(f, key)
        kinds, ndim = FIELDS[key]
        if dtype.hasobject:
            raise MlkitError(f"not a valid eigenfaces model: {key} holds Python objects", "models hold plain arrays only")
        if dtype.kind not in kinds or len(shape) != ndim:
            raise MlkitError(f"not a valid eigenfaces model: {key} is a {len(shape)}-D {dtype.name} array", RETRAIN)
        widened = 4 * dtype.itemsize if dtype.kind == "S" else WIDENED.get(key, 0)  # bytes to str: 4 bytes a character
        spent[0] += math.prod(shape) * (dtype.itemsize + widened)
        limits.check(spent[0], f"model member {key} ({'x'.join(map(str, shape)) or 'scalar'} {dtype.name}) as loaded")
    with archive.open(key + ".npy") as f:
        return npy.read_array(f, allow_pickle=False)


def _member_header(f, key):
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(f)
        read = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f"unknown .npy version {version}")
        shape, _, dtype = read(f)
    except Exception as exc:  # numpy raises ValueError, SyntaxError, TokenError... for a corrupt header
        raise MlkitError(f"not a valid eigenfaces model: the header of {key} is corrupt ({_reason(exc)})", RETRAIN) from None
    return shape, dtype


def _model_from(fields):
    return eigenfaces.Model(
        mean=fields["mean"].astype(np.float64),
        eigenfaces=fields["eigenfaces"].astype(np.float64),
        eigenvalues=fields["eigenvalues"].astype(np.float64),
        weights=fields["weights"].astype(np.float64),
        labels=fields["labels"].astype(str),
        size=tuple(int(v) for v in fields["size"]),
        normalize=bool(fields["normalize"]),
        detect_k=int(fields["detect_k"]),
        face_threshold=float(fields["face_threshold"]),
        class_threshold=float(fields["class_threshold"]),
    )


def _check_model(m):
    """Shapes consistent with each other, values finite, thresholds numbers >= 0."""
    problem = _shape_problem(m) or _value_problem(m)
    if problem:
        raise MlkitError(f"not a valid eigenfaces model: {problem}", RETRAIN)


def _shape_problem(m):
    if len(m.size) != 2 or min(m.size) < 1:
        return f"size {list(m.size)} is not a height and a width"
    pixels = m.size[0] * m.size[1]
    if m.mean.shape != (pixels,):
        return f"the mean face has {m.mean.size} pixels, the size {m.size[0]}x{m.size[1]} has {pixels}"
    if m.k < 1 or m.eigenfaces.shape[1] != pixels:
        return f"eigenfaces is {m.eigenfaces.shape[0]}x{m.eigenfaces.shape[1]}, expected k x {pixels} with k >= 1"
    if len(m.eigenvalues) < m.k:
        return f"{len(m.eigenvalues)} eigenvalues for {m.k} eigenfaces"
    if len(m.labels) < 1 or m.weights.shape != (len(m.labels), m.k):
        return f"weights is {m.weights.shape[0]}x{m.weights.shape[1]}, expected {len(m.labels)} labels x {m.k} eigenfaces"
    if not 1 <= m.detect_k <= m.k:
        return f"detect_k is {m.detect_k}, expected 1 to {m.k}"
    return None


def _value_problem(m):
    for name in ("mean", "eigenfaces", "weights", "eigenvalues"):
        if not np.isfinite(getattr(m, name)).all():
            return f"{name} holds NaN or infinite values"
    if not (m.eigenvalues > 0).all():
        return "eigenvalues must be positive"
    for name in ("face_threshold", "class_threshold"):
        value = getattr(m, name)
        if not value >= 0:  # NaN fails too; +inf (no limit) is what train gives small sets
            return f"{name} is {value}: a threshold is a number >= 0"
    return None


def load_gray(specs):
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
            found = _read_file(path)
        except MlkitError as exc:
            failures.append(exc)
            continue
        for name, plane in found:
            names.append(name)
            images.append(plane)
    return names, images, failures, len(files)


def _label(path):
    return os.path.basename(os.path.dirname(os.path.abspath(path))) if path != "-" else "stdin"


def _read_file(path):
    """[(name, gray plane)] of one file, each plane non-empty and finite; errors name the file."""
    from mlkit.io.read import read_images

    try:
        found = [named for img in read_images(path) for named in planes(img)]
        for name, plane in found:
            check_plane(name, plane)
    except MlkitError as exc:
        raise type(exc)(f"{'stdin' if path == '-' else path}: {exc.message}", exc.hint) from None
    return found


def check_plane(name, plane):
    if plane.size == 0:
        raise MlkitError(f"image {name} is empty")
    if not np.isfinite(plane).all():
        raise MlkitError(f"image {name} holds NaN or infinite values", "replace them, or leave this image out")


def _face_files(specs):
    from mlkit.io.inputs import expand_inputs

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


def planes(img):
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
