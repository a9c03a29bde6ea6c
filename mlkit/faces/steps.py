"""The work of `mlkit eigenfaces`, from files to results: train, recognize, detect, reconstruct
(the batch work function, the only place the faces domain writes history) and show.

    from mlkit.faces import load_model, recognize_files
    result = recognize_files(load_model("model.npz"), ["probe/"])   # rows as --format json prints
"""

import dataclasses

import numpy as np

from mlkit.faces import eigenfaces, formats


@dataclasses.dataclass
class ProbeResult:
    """One row per probe image that could be read; `failures` holds an MlkitError naming each
    file that could not, out of `inputs` files; `threshold` is the face threshold used."""

    rows: list
    failures: list
    inputs: int
    threshold: float


def train_files(inputs, output, size=None, labels_csv=None, normalize=True, k=None, variance=None, min_eigenvalue=None,
                detect_variance=0.4):
    """Train on image files (labels: folder names, or `labels_csv`) and save the model to `output`.
    `size` is (height, width), by default the first image's."""
    eigenfaces.check_k_rule(k, variance, min_eigenvalue)  # before any image is read
    names, images, folders = formats.load_gray(inputs)
    labels = formats.read_labels(labels_csv, names) if labels_csv else folders
    size = tuple(size) if size else images[0].shape[:2]
    X = eigenfaces.prepare(images, size, normalize)
    model = eigenfaces.train(X, labels, size, normalize, k, variance, min_eigenvalue, detect_variance)
    formats.save_model(model, output)
    return model


def recognize_files(model, inputs, threshold=None):
    """Label, distance to the nearest training face, face distance and unknown, per probe image."""
    names, X, failures, count = _probes(model, inputs)
    labels, dist, face_dist, unknown = eigenfaces.recognize(model, X, threshold)
    rows = [
        {"name": n, "label": str(lab), "distance": float(d), "face_distance": float(f), "unknown": bool(u)}
        for n, lab, d, f, u in zip(names, labels, dist, face_dist, unknown)
    ]
    return ProbeResult(rows, failures, count, model.face_threshold if threshold is None else threshold)


def detect_files(model, inputs, threshold=None, calibrate=None):
    """Face distance and face-or-not per probe image; `calibrate` = (faces, nonfaces), two
    image specs, picks the threshold that best separates them."""
    if calibrate:
        faces, others = (eigenfaces.face_distance(model, _prepared(model, formats.load_gray([spec])[1])) for spec in calibrate)
        threshold = eigenfaces.calibrate(faces, others)
    threshold = model.face_threshold if threshold is None else threshold
    names, X, failures, count = _probes(model, inputs)
    rows = [
        {"name": n, "face_distance": float(d), "is_face": bool(d <= threshold)}
        for n, d in zip(names, eigenfaces.face_distance(model, X))
    ]
    return ProbeResult(rows, failures, count, threshold)


def _probes(model, inputs):
    """Names and prepared rows of the probes that could be read, the failures, the file count."""
    names, images, failures, count = formats.read_probes(inputs)
    return names, _prepared(model, images), failures, count


def _prepared(model, images):
    return eigenfaces.prepare(images, model.size, model.normalize)


def reconstruct_step(img, seedseq, model, k=None, cmdline=None):
    """Batch work function for `eigenfaces reconstruct`: <name>_recon and <name>_error."""
    from mlkit import provenance
    from mlkit.dtypes import to_dtype
    from mlkit.io import Image

    out = []
    entry = provenance.entry("eigenfaces reconstruct", {"k": k or model.k}, cmdline=cmdline)
    dtype = img.data.dtype if np.issubdtype(img.data.dtype, np.number) else np.float32
    for name, plane in formats.planes(img):
        formats.check_plane(name, plane)
        original, recon = eigenfaces.reconstruct_image(model, plane, k)
        for suffix, values in (("recon", recon), ("error", np.abs(original - recon))):
            # a new gray image at the model's size: the input's grid, channels and header do not apply
            data = to_dtype(values, dtype)
            out.append(Image(data=data, name=f"{name}_{suffix}", history=[*img.history, entry], format=img.format, suffix=img.suffix))
    return out


def show(model, output, count=15, scree=None):
    """Write the mosaic of the mean face and the top eigenfaces, and the scree plot if asked."""
    from mlkit.faces.plot import write_scree
    from mlkit.io import Image, write_image

    write_image(Image(data=eigenfaces.mosaic(model, count), format="png"), output)
    if scree:
        write_scree(model, scree)
