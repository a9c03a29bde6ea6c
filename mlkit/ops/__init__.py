"""Deterministic image operations, usable without the CLI.

    from mlkit.ops import apply
    out = apply(img, "rotate", {"angle": 15})
    out = apply(img, "rotate", {"angle": 15}, dtype="float32")   # as `--dtype float32`: unrounded
"""

import functools

from mlkit.io.image import map_volumes
from mlkit.ops import geometry, params as checks, point

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
    "resample": geometry.resize,
    "crop": geometry.crop,
    "pad": geometry.pad,
    "slice": geometry.slice_plane,
}
OPS = sorted(POINT) + sorted(GEOMETRIC)
# Ops that compute new values: told the output dtype, they keep floats for a float one.
TAKE_DTYPE = {"log", "gamma", "normalize", "rescale", "clip", "pad", "rotate", "shift", "zoom", "resample"}


def apply(img, op, params, dtype=None):
    """`img` with operation `op` applied; point ops run per volume of a 4D series.

    `dtype` is the output dtype the caller will cast to (the CLI's --dtype):
    a float one keeps interpolated and computed values unrounded.
    """
    if op not in POINT and op not in GEOMETRIC:
        raise KeyError(op)
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


def transform_step(img, seedseq, op, params, cmdline=None, dtype=None):
    """Batch work function for `mlkit transform`: apply `op`, record it in the history."""
    from mlkit import provenance

    resolved = dict(params)
    if isinstance(resolved.get("mask"), str):
        resolved["mask"] = _read_mask(resolved["mask"])
    out = apply(img, op, resolved, dtype=dtype)
    recorded = dict(params)
    if op == "threshold" and params.get("otsu"):
        recorded["value"] = otsu_thresholds(img)  # the threshold used, not the null asked for
    return [out.with_entry(provenance.entry(f"transform {op}", recorded, cmdline=cmdline))]


def _read_mask(path):
    """The mask's voxels; its own errors name the mask, not the image being processed."""
    from mlkit.errors import MlkitError
    from mlkit.io.read import read_image

    try:
        return read_image(path).data
    except MlkitError as exc:
        raise MlkitError(f"mask {path}: {exc.message}", exc.hint) from None
