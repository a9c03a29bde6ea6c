"""Seg, foreground and center modes: a square in-plane window around the anatomy.

The window is cut exactly (voxels copied, zeros where it reaches past the image), through
every slice and volume; or, when --size asks for fewer voxels than the window holds, resampled
onto a coarser grid. Either way the output affine is A @ M (M: output index -> input index,
see mlkit/transform/grid.py), so every voxel keeps its world position.
"""

import dataclasses

import numpy as np

from mlkit.errors import MlkitError, UsageError
from mlkit.io import limits
from mlkit.transform.geometry import sample
from mlkit.transform.grid import embed, translation, zoom_grid
from mlkit.transform.point import otsu_threshold

MODES = ("seg", "foreground", "center")
RESAMPLE_BYTES = 8  # per output voxel and per axis: float64 sample coordinates, then the values


@dataclasses.dataclass
class RegionOptions:
    mode: str = "seg"
    size: int = None  # output side; None: the window's own
    margin: int = 0  # voxels around the segmentation or foreground
    axes: tuple = None  # the in-plane axes; None: (0, 1)
    threshold: float = None  # foreground: None is Otsu's
    crop: int = None  # center: the side of the central square; None: the largest
    order: int = 1
    cmdline: str = None

    def __post_init__(self):
        checks = [
            (self.mode in MODES, f"unknown mode {self.mode!r}: choose from {', '.join(MODES)}"),
            (self.size is None or self.size >= 1, f"--size must be at least 1, got {self.size}"),
            (self.crop is None or self.crop >= 1, f"--crop must be at least 1, got {self.crop}"),
            (self.margin >= 0, f"--margin must be 0 or more, got {self.margin}"),
            (self.order in (0, 1, 3), f"--order must be 0, 1 or 3, got {self.order}"),
            (self.axes is None or (len(self.axes) == 2 and self.axes[0] != self.axes[1]),
             "--axes takes two different axes, e.g. 0,1"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)

    def record(self):
        """What the history keeps: the options this mode uses."""
        keys = {"seg": ("margin",), "foreground": ("margin", "threshold"), "center": ("crop",)}[self.mode]
        return {k: getattr(self, k) for k in ("mode", "size", "order", *keys)}


def plane(img, axes):
    """The two in-plane spatial axes, checked against the image."""
    n = img.spatial_ndim
    axes = (0, 1) if axes is None else tuple(int(a) for a in axes)
    if any(not -n <= a < n for a in axes):
        raise MlkitError(f"--axes {','.join(map(str, axes))}: the image has {n} spatial axes (0..{n - 1})")
    return tuple(sorted(a % n for a in axes))


def window(img, seg, options):
    """(origin per spatial axis, side, what the record adds): the square to cut."""
    axes = plane(img, options.axes)
    shape = img.spatial_shape
    extra = {"axes": list(axes)}
    if options.mode == "center":
        side = options.crop or min(shape[a] for a in axes)
        origin = [0] * img.spatial_ndim
        for a in axes:
            origin[a] = (shape[a] - side) // 2
        return origin, side, extra
    if options.mode == "seg":
        mask = np.asarray(seg.data).reshape(seg.data.shape[: seg.spatial_ndim] + (-1,)).any(axis=-1)
        what = "the segmentation is empty"
    else:
        volume = _mean_volume(img)
        threshold = otsu_threshold(volume) if options.threshold is None else float(options.threshold)
        extra["threshold"] = threshold
        mask = volume > threshold
        what = f"no voxel is above the threshold {threshold:g}"
    low, high = _box(mask, axes, what)
    origin, side = square(low, high, shape, axes, options.margin, options.size)
    return origin, side, extra


def _mean_volume(img):
    """The anatomy: the mean over colour channels and the volumes of a series."""
    data = np.asarray(img.data, dtype=np.float64) if img.data.dtype != np.float64 else img.data
    n = img.spatial_ndim
    return data if data.ndim == n else data.reshape(data.shape[:n] + (-1,)).mean(axis=-1)


def _box(mask, axes, what):
    """The first and last in-plane index where `mask` holds, over all other axes."""
    low, high = {}, {}
    for a in axes:
        others = tuple(b for b in range(mask.ndim) if b != a)
        found = np.flatnonzero(mask.any(axis=others))
        if found.size == 0:
            raise MlkitError(f"{what}, so there is nothing to crop around", "check the input, or use --mode center")
        low[a], high[a] = int(found[0]), int(found[-1])
    return low, high


def square(low, high, shape, axes, margin, size=None):
    """(origin, side) of the square that holds the box plus `margin`: centred on the box and
    moved inside the image where it fits; larger than the image, it stays centred on the box
    (the cut pads). `size` at least the box's side sets the side; a smaller one is reached by
    resampling, so the side stays the box's."""
    needed = max(high[a] - low[a] + 1 for a in axes) + 2 * margin
    side = max(needed, size or 0)
    origin = [0] * len(shape)
    for a in axes:
        start = (low[a] + high[a] + 1 - side) // 2
        if side <= shape[a]:
            start = min(max(start, 0), shape[a] - side)
        origin[a] = int(start)
    return origin, int(side)


def cut(img, origin, side, axes, size=None, order=1, label=False):
    """The square window at `origin` (per spatial axis) of `side`, through all other axes;
    resampled to `size` when that differs. The affine follows exactly."""
    if size is not None and size != side:
        return _resampled(img, origin, side, axes, size, order, label)
    n = img.spatial_ndim
    out_shape = list(img.data.shape)
    for a in axes:
        out_shape[a] = side
    limits.check(int(np.prod(out_shape)) * img.data.dtype.itemsize, f"the {side} x {side} crop")
    out = np.zeros(out_shape, img.data.dtype)
    source, target = [slice(None)] * img.data.ndim, [slice(None)] * img.data.ndim
    for a in axes:
        first, last = max(origin[a], 0), min(origin[a] + side, img.data.shape[a])
        if last <= first:
            raise MlkitError("the crop window lies outside the image")
        source[a], target[a] = slice(first, last), slice(first - origin[a], last - origin[a])
    out[tuple(target)] = img.data[tuple(source)]
    affine = img.affine @ embed(translation(np.asarray(origin[:n], float)), n)
    return img.replace(data=out, affine=affine)


def _resampled(img, origin, side, axes, size, order, label):
    n = img.spatial_ndim
    step = np.ones(n)
    step[list(axes)] = side / size
    out_shape = list(img.spatial_shape)
    for a in axes:
        out_shape[a] = size
    voxels = int(np.prod(out_shape, dtype=np.float64) * np.prod(img.data.shape[n:], dtype=np.float64))
    limits.check(voxels * RESAMPLE_BYTES * (n + 2), f"the {size} x {size} crop")
    matrix = translation(np.asarray(origin[:n], float)) @ zoom_grid(step)
    sigma = np.maximum(0.0, (step - 1) / 2)
    return sample(img, matrix, out_shape, order=order, mode="constant", label=label,
                  prefilter_sigma=None if label else sigma)


def check_pair(img, seg):
    """A segmentation must lie on its image's voxel grid."""
    if tuple(seg.spatial_shape) != tuple(img.spatial_shape):
        raise MlkitError(f"segmentation shape {tuple(seg.spatial_shape)} does not match the image's "
                         f"{tuple(img.spatial_shape)}", "give each image its own segmentation, in the same order")
    if not np.allclose(seg.affine, img.affine, atol=1e-3):
        raise MlkitError("segmentation affine differs from the image's", "resample it onto the image grid first")
