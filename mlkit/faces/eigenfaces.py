"""Eigenfaces (Turk & Pentland 1991): a face space for recognition and face detection.

Images are flattened to gray vectors of a common size, optionally contrast
normalised (zero mean, unit variance each). The mean face is subtracted; the
eigenvectors of the covariance come from the small N x N matrix A A^T when
pixels outnumber images (the snapshot trick): eigenfaces = A^T v, normalised.

    from mlkit.faces import train, project
    model = train(vectors, labels, size=(25, 25), variance=0.95)
    weights, face_distance = project(model, vectors)

Recognition takes the nearest training image in face space; detection compares
the distance from face space (the reconstruction error) with a threshold. The
detection face space is the few leading eigenfaces that explain 40% of the
variance (`detect_variance`): on scikit-image's LFW subset the held-out-face vs
non-face ROC AUC is 0.94-0.96 with 3-5 eigenfaces and falls to ~0.75 beyond 6,
because further eigenfaces reconstruct non-faces as well.
Deciding by the mean distance to all training faces misclassifies training
faces themselves, so both decisions use the nearest class and the distance
from face space.

The math only: arrays in, arrays out; files are formats.py's, batches steps.py's.
"""

import dataclasses

import numpy as np

from mlkit.errors import MlkitError, UsageError

# The held-out split behind the default thresholds is fixed, so a model is a function of its
# training images alone: the same images always give the same model file.
SPLIT_SEED = 0


@dataclasses.dataclass
class Model:
    mean: np.ndarray  # (P,)
    eigenfaces: np.ndarray  # (k, P), orthonormal rows
    eigenvalues: np.ndarray  # (r,), all non-zero ones, descending (covariance, /(N-1))
    weights: np.ndarray  # (N, k), training projections
    labels: np.ndarray  # (N,) str
    size: tuple  # (H, W)
    normalize: bool
    detect_k: int  # leading eigenfaces that define the face space for detection
    face_threshold: float  # largest face distance still called a face
    class_threshold: float  # largest face-space distance to a known person

    @property
    def k(self):
        return len(self.eigenfaces)

    @property
    def explained(self):
        """Share of the training variance the kept eigenfaces explain."""
        return float(self.eigenvalues[: self.k].sum() / self.eigenvalues.sum())


def prepare(gray_images, size, normalize=True):
    """Gray images (any sizes) -> (N, H*W) float64 rows at `size`, contrast normalised."""
    import cv2

    height, width = size
    rows = [cv2.resize(np.asarray(image, np.float64), (width, height), interpolation=cv2.INTER_AREA).ravel() for image in gray_images]
    X = np.vstack(rows) if rows else np.empty((0, height * width))
    return _normalized(X) if normalize else X


def _normalized(X):
    """Each row at zero mean and unit variance (a constant row stays at zero)."""
    X = X - X.mean(axis=1, keepdims=True)
    std = X.std(axis=1, keepdims=True)
    return X / np.where(std > 0, std, 1)


def components(X):
    """Mean, eigenvectors (rows, descending) and eigenvalues of the covariance of X's rows."""
    n = len(X)
    if n < 2:
        raise MlkitError("training needs at least 2 images")
    mean = X.mean(axis=0)
    A = X - mean
    if not np.abs(A).max() > 1e-10 * np.abs(X).max():  # all zeros fails too
        raise MlkitError("the images do not vary: all are the same at this size", "train on different images")
    if A.shape[1] > n:  # snapshot trick: N x N instead of P x P
        values, vectors = np.linalg.eigh(A @ A.T)
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        keep = values > values[0] * 1e-10
        faces = (A.T @ vectors[:, keep]).T
        faces /= np.linalg.norm(faces, axis=1, keepdims=True)
        values = values[keep]
    else:
        values, vectors = np.linalg.eigh(A.T @ A)
        order = np.argsort(values)[::-1]
        values, faces = values[order], vectors[:, order].T
        keep = values > values[0] * 1e-10
        values, faces = values[keep], faces[keep]
    return mean, faces, values / (n - 1)


def choose_k(eigenvalues, k=None, variance=None, min_eigenvalue=None):
    """How many eigenfaces to keep: a fixed k, a cumulative variance, or an eigenvalue floor
    (the first given; none means 95% of the variance)."""
    if k is not None:
        return max(1, min(k, len(eigenvalues)))
    if min_eigenvalue is not None:
        return max(1, int((eigenvalues > min_eigenvalue).sum()))
    share = np.cumsum(eigenvalues) / eigenvalues.sum()
    return int(min(np.searchsorted(share, variance if variance is not None else 0.95) + 1, len(eigenvalues)))


def check_k_rule(k=None, variance=None, min_eigenvalue=None):
    """One way of choosing k at most: a usage error otherwise."""
    if sum(v is not None for v in (k, variance, min_eigenvalue)) > 1:
        raise UsageError("give one of -k, --variance and --min-eigenvalue")


def train(X, labels, size, normalize=True, k=None, variance=None, min_eigenvalue=None, detect_variance=0.4, detect_k=None):
    """A Model from prepared rows X (N, P). Thresholds come from held-out training images."""
    check_k_rule(k, variance, min_eigenvalue)
    mean, faces, values = components(X)
    keep = choose_k(values, k, variance, min_eigenvalue)
    detect = min(keep, detect_k or choose_k(values, variance=detect_variance))
    weights = (X - mean) @ faces[:keep].T
    model = Model(mean, faces[:keep], values, weights, np.asarray(labels, str), tuple(size), normalize, detect, np.inf, np.inf)
    model.face_threshold, model.class_threshold = _default_thresholds(X, keep, detect)
    return model


def _default_thresholds(X, keep, detect):
    """Face distance and class distance that 95% of unseen faces stay under.

    A model's own training faces lie closer to face space than new faces will,
    so the thresholds come from a model trained on 80% and tested on the rest.
    """
    n = len(X)
    if n < 10:
        return np.inf, np.inf
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    test, fit = order[: max(2, n // 5)], order[max(2, n // 5) :]
    mean, faces, _ = components(X[fit])
    faces = faces[: min(keep, len(faces))]
    w_fit = (X[fit] - mean) @ faces.T
    w_test, _ = _project(mean, faces, X[test])
    _, dist = _project(mean, faces[:detect], X[test])
    nearest = np.sqrt(((w_test[:, None, :] - w_fit[None]) ** 2).sum(-1)).min(axis=1)
    return float(np.percentile(dist, 95)), float(np.percentile(nearest, 95))


def _project(mean, faces, X):
    A = X - mean
    weights = A @ faces.T
    residual = A - weights @ faces
    return weights, np.sqrt((residual**2).mean(axis=1))


def project(model, X, k=None):
    """Weights (N, k) and distance from that face space (RMS reconstruction error per pixel)."""
    faces = model.eigenfaces[: k or model.k]
    return _project(model.mean, faces, X)


def face_distance(model, X):
    """Distance from the detection face space (the leading `detect_k` eigenfaces)."""
    return project(model, X, model.detect_k)[1]


def reconstruct(model, X, k=None):
    faces = model.eigenfaces[: k or model.k]
    return model.mean + ((X - model.mean) @ faces.T) @ faces


def reconstruct_image(model, plane, k=None):
    """One gray image at the model's size and its reconstruction, both (H, W) in the image's
    own intensity scale (a normalising model's contrast is undone)."""
    original = prepare([plane], model.size, normalize=False)[0]
    row = _normalized(original[None]) if model.normalize else original[None]
    recon = reconstruct(model, row, k)[0]
    if model.normalize:
        recon = recon * original.std() + original.mean()
    return original.reshape(model.size), recon.reshape(model.size)


def recognize(model, X, face_threshold=None):
    """Per row: (label, distance to the nearest training image, face distance, unknown).
    `face_threshold` replaces the model's for this call."""
    weights, _ = project(model, X)
    distance = face_distance(model, X)
    dist = np.sqrt(((weights[:, None, :] - model.weights[None]) ** 2).sum(-1))
    nearest = dist.argmin(axis=1)
    best = dist[np.arange(len(X)), nearest]
    limit = model.face_threshold if face_threshold is None else face_threshold
    unknown = (distance > limit) | (best > model.class_threshold)
    return model.labels[nearest], best, distance, unknown


def calibrate(face_distances, nonface_distances):
    """The threshold that best separates faces from non-faces (highest balanced accuracy)."""
    faces, others = np.asarray(face_distances), np.asarray(nonface_distances)
    if len(faces) == 0 or len(others) == 0:
        raise MlkitError("calibration needs both faces and non-faces")
    candidates = np.unique(np.concatenate([faces, others]))
    accuracy = [((faces <= t).mean() + (others > t).mean()) / 2 for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def mosaic(model, count=15, columns=8):
    """Mean face and the top eigenfaces side by side, each stretched to 0..255 (uint8)."""
    h, w = model.size
    tiles = [model.mean] + list(model.eigenfaces[: min(count, model.k)])
    rows = -(-len(tiles) // columns)
    sheet = np.zeros((rows * (h + 2), columns * (w + 2)), np.uint8)
    for i, tile in enumerate(tiles):
        t = tile.reshape(h, w)
        span = t.max() - t.min()
        t = (t - t.min()) / span * 255 if span > 0 else np.zeros_like(t)
        r, c = divmod(i, columns)
        sheet[r * (h + 2) + 1 : r * (h + 2) + 1 + h, c * (w + 2) + 1 : c * (w + 2) + 1 + w] = t.astype(np.uint8)
    return sheet
