"""Deterministic image operations, usable without the CLI.

    from mlkit.ops import apply
    out = apply(img, "rotate", {"angle": 15})
"""

import functools

from mlkit.io.image import map_volumes
from mlkit.ops import geometry, point

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


def apply(img, op, params):
    """`img` with operation `op` applied; point ops run per volume of a 4D series."""
    if op in POINT:
        return img.replace(data=map_volumes(img, functools.partial(POINT[op], **params)))
    if op in GEOMETRIC:
        return GEOMETRIC[op](img, **params)
    raise KeyError(op)


def transform_step(img, seedseq, op, params, cmdline=None):
    """Batch work function for `mlkit transform`: apply `op`, record it in the history."""
    from mlkit import provenance
    from mlkit.io.read import read_image

    resolved = dict(params)
    if isinstance(resolved.get("mask"), str):
        resolved["mask"] = read_image(resolved["mask"]).data
    out = apply(img, op, resolved)
    return [out.with_entry(provenance.entry(f"transform {op}", params, cmdline=cmdline))]
