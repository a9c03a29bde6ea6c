"""Checks on an op's parameters that need no image: wrong values are usage errors.

The CLI runs them once before reading any input (exit 2); `apply` runs them too,
so a library call is refused the same way.
"""

import math

import numpy as np

from mlkit.dtypes import holds
from mlkit.errors import UsageError

GEOMETRIC_MODES = ("constant", "nearest", "reflect", "mirror", "wrap")
# Values that may be NaN or infinite on purpose (a NaN fill marks what came from outside).
NON_FINITE_OK = ("cval",)
# Parameters whose CLI option has another name.
OPTION_NAMES = {"out_range": "--range", "low": "--min", "high": "--max", "percentiles": "--percentile",
                "factors": "--factor", "offsets": "--by"}


def check(op, params):
    """Raise UsageError when `params` cannot work for `op` on any image."""
    for name, value in params.items():
        if name not in NON_FINITE_OK and not _finite(value):
            raise UsageError(f"{op} {_option(name)} must be a finite number, got {value}")
    CHECKS.get(op, _none)(params)
    if "order" in params and params["order"] is not None and not 0 <= params["order"] <= 5:
        raise UsageError(f"{op} --order must be 0..5, got {params['order']}")
    if params.get("mode") is not None and op in ("rotate", "shift", "zoom", "resample") and params["mode"] not in GEOMETRIC_MODES:
        raise UsageError(f"{op} --mode must be one of {', '.join(GEOMETRIC_MODES)}, got {params['mode']!r}")


def _gamma(p):
    if p["gamma"] <= 0:
        raise UsageError(f"gamma --gamma must be positive, got {p['gamma']:g}")


def _rescale(p):
    out_range, to = p.get("out_range"), p.get("to")
    if out_range is None:
        return
    lo, hi = (float(v) for v in out_range)
    if hi <= lo:
        raise UsageError(f"rescale --range {lo:g} {hi:g} is empty", "give LO below HI")
    if to and not holds(to, lo, hi):
        raise UsageError(f"rescale --range {lo:g} {hi:g} does not fit in {to}", "use --to float32")


def _clip(p):
    low, high, percentiles = p.get("low"), p.get("high"), p.get("percentiles")
    if percentiles is not None:
        lo, hi = (float(v) for v in percentiles)
        if not 0 <= lo <= hi <= 100:
            raise UsageError(f"clip --percentile {lo:g} {hi:g}: need 0 <= LO <= HI <= 100")
    elif low is None and high is None:
        raise UsageError("clip needs --min and/or --max, or --percentile")
    elif low is not None and high is not None and low > high:
        raise UsageError(f"clip --min {low:g} is above --max {high:g}")


def _threshold(p):
    if (p.get("value") is None) == (not p.get("otsu")):
        raise UsageError("threshold needs exactly one of --value and --otsu")
    if p.get("mode", "binary") not in ("binary", "zero"):
        raise UsageError(f"threshold mode must be binary or zero, got {p['mode']!r}")


def _rotate(p):
    axes = [int(a) for a in p.get("axes", (0, 1))]
    if len(axes) != 2 or axes[0] == axes[1]:
        raise UsageError(f"rotate --axes takes two different axes, got {','.join(map(str, axes))}", "e.g. --axes 0,1")


def _zoom(p):
    if any(f <= 0 for f in np.atleast_1d(p["factors"])):
        raise UsageError(f"zoom --factor must be positive, got {_listed(p['factors'])}")


def _resample(p):
    shape, voxel_size = p.get("shape"), p.get("voxel_size")
    if (shape is None) == (voxel_size is None):
        raise UsageError("resample needs exactly one of --shape and --voxel-size")
    if shape is not None:
        _sizes("resample --shape", shape)
    elif any(v <= 0 for v in np.atleast_1d(voxel_size)):
        raise UsageError(f"resample --voxel-size must be positive, got {_listed(voxel_size)}")


def _crop(p):
    _sizes("crop --shape", p["shape"])
    if p.get("origin") is not None and any(o < 0 for o in np.atleast_1d(p["origin"])):
        raise UsageError(f"crop --origin must not be negative, got {_listed(p['origin'])}")


def _pad(p):
    _sizes("pad --shape", p["shape"])
    if p.get("mode", "constant") not in ("constant", "edge"):
        raise UsageError(f"pad --mode must be constant or edge, got {p['mode']!r}")


def _slice(p):
    if p.get("index") is not None and p["index"] < 0:
        raise UsageError(f"slice --index must not be negative, got {p['index']}")


def _none(p):
    pass


CHECKS = {
    "gamma": _gamma,
    "rescale": _rescale,
    "clip": _clip,
    "threshold": _threshold,
    "rotate": _rotate,
    "zoom": _zoom,
    "resample": _resample,
    "crop": _crop,
    "pad": _pad,
    "slice": _slice,
}


def _sizes(what, values):
    if any(v < 1 for v in np.atleast_1d(values)):
        raise UsageError(f"{what} needs sizes of at least 1, got {_listed(values)}")


def _finite(value):
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    if isinstance(value, (float, np.floating)):
        return math.isfinite(value)
    return True


def _listed(values):
    return ",".join(f"{float(v):g}" for v in np.atleast_1d(values))


def _option(name):
    return OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
