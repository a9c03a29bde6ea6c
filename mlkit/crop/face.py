"""Face mode: which faces to keep, and one warp per face onto the template.

The detector is passed in (mlkit.crop.model), so this module never imports TensorFlow.
"""

import dataclasses

import numpy as np

from mlkit.crop import align
from mlkit.errors import MlkitError, UsageError
from mlkit.transform.geometry import sample
from mlkit.transform.grid import embed, translation


@dataclasses.dataclass
class FaceOptions:
    template: str = "openface-inner"
    landmarks: str = None  # None: the template's own set
    transform: str = "similarity"
    size: int = None  # None: the template's native side
    padding: float = 0.0
    all_faces: bool = False
    min_confidence: float = 0.9
    min_face_size: int = 20
    skip_missing: bool = False
    order: int = 1
    device: str = "auto"
    cmdline: str = None

    def __post_init__(self):
        if self.template not in align.TEMPLATES:
            raise UsageError(f"unknown template {self.template!r}", f"choose from {', '.join(align.TEMPLATES)}")
        self.landmarks = self.landmarks or align.TEMPLATES[self.template][2]
        self.size = int(self.size or align.TEMPLATES[self.template][1])
        checks = [
            (self.landmarks in align.LANDMARK_SETS, f"--landmarks must be one of {', '.join(align.LANDMARK_SETS)}"),
            (self.transform in align.TRANSFORMS, f"--transform must be one of {', '.join(align.TRANSFORMS)}"),
            (self.size >= 8, f"--size must be at least 8 pixels, got {self.size}"),
            (0 <= self.padding <= 2, f"--padding must be between 0 and 2, got {self.padding}"),
            (0 <= self.min_confidence <= 1, f"--min-confidence must be between 0 and 1, got {self.min_confidence}"),
            (self.min_face_size >= 12, f"--min-face-size must be at least 12 pixels, got {self.min_face_size}"),
            (self.order in (0, 1, 3), f"--order must be 0, 1 or 3, got {self.order}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
        if len(align.select(np.zeros((5, 2)), self.landmarks)) < align.TRANSFORMS[self.transform]:
            raise UsageError(f"--transform {self.transform} needs more points than --landmarks {self.landmarks} has")

    def record(self):
        """What the history keeps of these options."""
        keys = ("template", "landmarks", "transform", "size", "padding", "all_faces", "min_confidence",
                "min_face_size", "order")
        return {"mode": "face", **{k: getattr(self, k) for k in keys}}


def detector_input(img):
    """The photo as MTCNN takes it: RGB, float32, 0..255, whatever its bit depth or layout."""
    if img.spatial_ndim != 2:
        dims = img.data.ndim - (1 if img.channels else 0)  # a 4D series has 3 spatial axes, but is 4D
        raise MlkitError(f"face mode takes 2D photos, this image is {dims}D ({'x'.join(map(str, img.data.shape))})",
                         "use --mode seg, foreground or center for volumes")
    data = np.asarray(img.data)
    if data.ndim == 2:
        data = data[..., None]
    data = data[..., :3] if data.shape[-1] >= 3 else np.repeat(data[..., :1], 3, axis=-1)
    return _to_255(data).astype(np.float32)


def _to_255(data):
    if data.dtype == np.uint8:
        return data
    if np.issubdtype(data.dtype, np.integer):
        return data.astype(np.float64) * (255.0 / max(1, np.iinfo(data.dtype).max))
    data = np.nan_to_num(data.astype(np.float64))
    high = float(data.max()) if data.size else 0.0
    return np.clip(data * 255.0 if high <= 1.0 else data, 0, 255)


def chosen(faces, options):
    """The faces to write, most confident first: all that pass the thresholds with
    --all-faces, else the most confident one."""
    kept = [f for f in faces if f["confidence"] >= options.min_confidence
            and min(f["box"][2], f["box"][3]) >= options.min_face_size]
    return kept if options.all_faces else kept[:1]


def aligned(img, face, options):
    """(the crop, its record): `face` warped so its landmarks sit on the template."""
    size = options.size
    target = align.template_points(options.template, size, options.padding)
    matrix = align.fit(align.select(face["points"], options.landmarks), align.select(target, options.landmarks),
                       options.transform, side=size)
    crop = _warp(img, align.index_matrix(matrix), size, options.order)
    record = {
        "box": face["box"],
        "confidence": face["confidence"],
        "points_in": face["points"],
        "points_out": align.apply(matrix, face["points"]).tolist(),
        "matrix": matrix.tolist(),
    }
    return crop, record


def _warp(img, matrix, size, order):
    """One interpolation of the part of `img` the crop sees, smoothed first when it shrinks
    (sigma (k-1)/2 for a k-fold reduction, as resample does): exact affine bookkeeping."""
    step = float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))
    sigma = max(0.0, (step - 1) / 2)
    corners = np.array([[0, 0, 1], [0, size - 1, 1], [size - 1, 0, 1], [size - 1, size - 1, 1]], float)
    seen = (matrix @ corners.T)[:2].T
    reach = 3 * sigma + order + 2
    shape = np.array(img.spatial_shape)
    low = np.clip(np.floor(seen.min(axis=0) - reach), 0, shape).astype(int)
    high = np.clip(np.ceil(seen.max(axis=0) + reach) + 1, 0, shape).astype(int)
    if (high <= low).any():  # the crop lies wholly outside the photo
        low, high = np.zeros(2, int), np.minimum(shape, 1)
    part = img.replace(data=img.data[low[0]:high[0], low[1]:high[1]])
    moved = translation(-low.astype(float)) @ matrix
    out = sample(part, moved, (size, size), order=order, mode="constant", prefilter_sigma=sigma if sigma > 0 else None,
                 keep_affine=True)
    return out.replace(affine=img.affine @ embed(matrix, 2))
