"""The op registry: name -> function, and apply(), the one entry point for a library caller."""

import functools

from mlkit.io.image import map_volumes
from mlkit.transform import geometry, params as checks, point

POINT = {
    "negative": point.negative,
    "log": point.log,
    "gamma": point.gamma,
    "normalize": point.normalize,
    "rescale": point.rescale,
    "clip": point.clip,
    "threshold": point.threshold,
}
GEOMETRIC = {
    "flip": geometry.flip,
    "rotate": geometry.rotate,
    "shift": geometry.shift,
    "zoom": geometry.zoom,
    "resample": geometry.resample,
    "crop": geometry.crop,
    "pad": geometry.pad,
    "slice": geometry.slice_plane,
}
# Ops that compute new values: told the output dtype, they keep floats for a float one.
TAKE_DTYPE = {"log", "gamma", "normalize", "rescale", "clip", "pad", "rotate", "shift", "zoom", "resample"}


def apply(img, op, params, dtype=None):
    """`img` with operation `op` applied; point ops run per volume of a 4D series.

    `dtype` is the output dtype the caller will cast to (the CLI's --dtype):
    a float one keeps interpolated and computed values unrounded.
    """
    if op not in POINT and op not in GEOMETRIC:
        from mlkit.errors import UsageError

        raise UsageError(f"unknown operation {op!r}", f"choose from {', '.join(sorted(POINT) + sorted(GEOMETRIC))}")
    checks.check(op, params)
    if dtype is not None and op in TAKE_DTYPE:
        params = {**params, "dtype": dtype}
    if op in POINT:
        return img.replace(data=map_volumes(img, functools.partial(POINT[op], **params)))
    return GEOMETRIC[op](img, **params)


def otsu_thresholds(img):
    """The threshold Otsu's method picks for each volume: one number, or a list for a series."""
    values = [point.otsu_threshold(block) for _, block in img.volumes()]
    return values[0] if len(values) == 1 else values
