"""Face templates and the least-squares fit that maps detected landmarks onto one.

Points are (x, y) pixel coordinates, pixel centres on integers (as MTCNN and OpenCV count),
in the order MTCNN gives them: the eye on the image's left, the other eye, the nose tip,
the mouth corner on the image's left, the other corner.
"""

import numpy as np

from mlkit.errors import UsageError

POINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

# Template positions as fractions of the output side.
# OpenFace's mean face (openface/align_dlib.py, dlib's 68 points scaled to the unit square):
# eye centres are the means of points 36-41 and 42-47, the nose tip point 30, the mouth
# corners points 48 and 54, so MTCNN's five points land where OpenFace puts those features.
OPENFACE = ((0.2774, 0.1673), (0.7061, 0.1590), (0.4921, 0.4221), (0.3071, 0.6418), (0.6954, 0.6341))
# ArcFace / InsightFace's 112 x 112 layout (arcface_dst), divided by 112.
ARCFACE = ((0.3419, 0.4616), (0.6565, 0.4598), (0.5002, 0.6405), (0.3710, 0.8247), (0.6315, 0.8233))

# name -> (positions, native side, the landmark set it is meant for). OpenFace's two
# alignments pin its inner eyes and bottom lip, or its outer eyes and nose: eye centres and
# mouth centre, or eye centres and nose tip, are MTCNN's counterparts.
TEMPLATES = {
    "openface-inner": (OPENFACE, 96, "eyes-mouth"),
    "openface-outer": (OPENFACE, 96, "eyes-nose"),
    "arcface": (ARCFACE, 112, "all"),
}
LANDMARK_SETS = ("eyes-mouth", "eyes-nose", "all")
TRANSFORMS = {"similarity": 2, "affine": 3}  # the fewest points each needs

# A point is poor when the others agree best without it and, fitted without it, it lies this
# many times farther from its template position than they do (RMS), and over this fraction of the side.
POOR_RATIO = 4.0
POOR_FRACTION = 0.02


def template_points(name, size, padding=0.0):
    """The five template positions in output pixels for a side of `size`; `padding` adds
    that fraction of the template's width as margin on every side."""
    if name not in TEMPLATES:
        raise UsageError(f"unknown template {name!r}", f"choose from {', '.join(TEMPLATES)}")
    unit = (np.asarray(TEMPLATES[name][0], float) + padding) / (1 + 2 * padding)
    return unit * size


def select(points, which):
    """The points a landmark set uses: eyes-mouth has the mouth centre (mean of the corners)."""
    points = np.asarray(points, float)
    if which == "eyes-mouth":
        return np.stack([points[0], points[1], points[3:5].mean(axis=0)])
    if which == "eyes-nose":
        return points[:3]
    if which == "all":
        return points
    raise UsageError(f"unknown landmark set {which!r}", f"choose from {', '.join(LANDMARK_SETS)}")


def fit(src, dst, kind="similarity", side=None):
    """The 2x3 matrix T with T @ (x, y, 1) ~ dst for each src point, least squares over the
    points; one poor point (see `_drop_poor`) is left out when enough others remain."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    if kind not in TRANSFORMS:
        raise UsageError(f"unknown transform {kind!r}", f"choose from {', '.join(TRANSFORMS)}")
    if len(src) < TRANSFORMS[kind]:
        raise UsageError(f"a {kind} transform needs at least {TRANSFORMS[kind]} points, got {len(src)}")
    matrix = _lstsq(src, dst, kind)
    keep = _drop_poor(src, dst, kind, side)
    return matrix if keep is None else _lstsq(src[keep], dst[keep], kind)


def _lstsq(src, dst, kind):
    ones = np.ones((len(src), 1))
    if kind == "affine":
        solution = np.linalg.lstsq(np.hstack([src, ones]), dst, rcond=None)[0]
        return solution.T
    # x' = a x - b y + tx, y' = b x + a y + ty: rotation, uniform scale, shift
    x, y = src[:, :1], src[:, 1:]
    rows = np.vstack([np.hstack([x, -y, ones, 0 * ones]), np.hstack([y, x, 0 * ones, ones])])
    a, b, tx, ty = np.linalg.lstsq(rows, np.concatenate([dst[:, 0], dst[:, 1]]), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def apply(matrix, points):
    points = np.asarray(points, float)
    return points @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]


def _drop_poor(src, dst, kind, side):
    """Indices of the points to keep when one is poor, else None. Only when the fit stays
    over-determined without it: with fewer points no residual can single one out."""
    if len(src) < TRANSFORMS[kind] + 2:
        return None
    errors = []
    for k in range(len(src)):
        keep = np.arange(len(src)) != k
        matrix = _lstsq(src[keep], dst[keep], kind)
        others = np.linalg.norm(apply(matrix, src[keep]) - dst[keep], axis=1)
        own = float(np.linalg.norm(apply(matrix, src[k:k + 1]) - dst[k:k + 1]))
        errors.append((own, float(np.sqrt(np.mean(others**2)))))
    worst = int(np.argmin([rest for _, rest in errors]))  # the others agree best without it
    own, rest = errors[worst]
    floor = POOR_FRACTION * (side if side else np.ptp(dst, axis=0).max())
    if own > POOR_RATIO * rest and own > floor:
        return np.arange(len(src)) != worst
    return None


def index_matrix(matrix):
    """Homogeneous 3x3 map from output (row, col) index to input (row, col) coordinate, for
    a 2x3 input-to-output matrix in (x, y): the form mlkit.transform.geometry.sample takes."""
    forward = np.vstack([matrix, [0, 0, 1]])
    swap = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, 1]])
    return swap @ np.linalg.inv(forward) @ swap
