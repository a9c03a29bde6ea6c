"""Point operations: each output voxel depends on its input voxel (and block statistics).

Every function takes one spatial block (a 2D image with its colour channels, or
one 3D volume of a 4D series) and returns the transformed block. Statistics
such as the maximum are taken per block.
"""

import numpy as np

from mlkit import ui
from mlkit.dtypes import DTYPE_HINT, holds, result_dtype, to_dtype
from mlkit.errors import MlkitError


def negative(block):
    """Integers: dtype_max + dtype_min - r, which is bitwise NOT (no overflow);
    floats: data_max + data_min - r."""
    if block.dtype == bool:
        return ~block
    if np.issubdtype(block.dtype, np.integer):
        return np.invert(block)
    lo, hi = _finite_range(block)
    return (hi + lo) - block


def log(block, dtype=None):
    """s = c * log(1 + r), c mapping the block maximum to the dtype maximum (floats: to 1).
    A float `dtype` keeps the computed values unrounded."""
    _require_nonnegative(block, "log")
    work = _work_dtype(block)
    top = np.log1p(work.type(_finite_range(block)[1]))
    logged = np.log1p(block.astype(work))
    scale = _target_max(block.dtype) / top if top > 0 else 0.0
    return to_dtype(logged * work.type(scale), result_dtype(block.dtype, dtype), DTYPE_HINT)


def gamma(block, gamma, c=None, dtype=None):
    """s = c * r^gamma. Without c, r is taken relative to a reference M (the dtype
    maximum for integers, the block maximum for floats): s = M (r/M)^gamma."""
    _require_nonnegative(block, "gamma")
    work = _work_dtype(block)
    out_dtype = result_dtype(block.dtype, dtype)
    r = block.astype(work)
    if c is not None:
        return to_dtype(work.type(c) * r ** work.type(gamma), out_dtype, DTYPE_HINT)
    ref = _reference_max(block)
    if ref <= 0:
        return block.astype(out_dtype)
    return to_dtype(work.type(ref) * (r / work.type(ref)) ** work.type(gamma), out_dtype, DTYPE_HINT)


def normalize(block, zscore=False, mask=None, dtype=None):
    """Min-max to [0, 1], or z-score; statistics from the voxels inside `mask` when given.
    float32 output, float64 for float64 input or a float64 `dtype`."""
    work = np.float64 if np.float64 in (block.dtype, result_dtype(block.dtype, dtype)) else np.float32
    values = _masked(block, mask).astype(np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise MlkitError("no finite voxels to normalise (inside the mask)")
    if zscore:
        shift, scale = values.mean(), values.std()
    else:
        shift, scale = values.min(), values.max() - values.min()
    if scale == 0:
        ui.warn("the image is constant; normalised to zeros")
        return np.zeros(block.shape, work)
    return ((block.astype(np.float64) - shift) / scale).astype(work)


def rescale(block, to=None, out_range=None, dtype=None):
    """Map the block's [min, max] linearly onto `out_range`, or onto the full range
    of dtype `to` ([0, 1] for floats); the output has dtype `to` (default: the
    input's, or float32 when the input's dtype cannot hold `out_range`)."""
    target = np.dtype(to) if to else block.dtype
    if out_range is None:
        out_range = (0.0, 1.0) if not np.issubdtype(target, np.integer) else _int_range(target)
    elif not holds(target, *out_range):
        target = np.dtype(np.float32)  # an explicit integer --to that cannot hold it is refused earlier
    lo, hi = out_range
    vmin, vmax = _finite_range(block)
    r = block.astype(np.float64)
    if vmax == vmin:
        scaled = np.full(block.shape, lo, np.float64)
    else:
        scaled = lo + (r - vmin) * ((hi - lo) / (vmax - vmin))
    return to_dtype(scaled, result_dtype(target, dtype), DTYPE_HINT)


def clip(block, low=None, high=None, percentiles=None, dtype=None):
    """Limit values to [low, high], or to the given percentiles of the block."""
    if percentiles is not None:
        low, high = (float(p) for p in np.percentile(_finite_values(block), percentiles))
    out = np.clip(block, low, high)
    return to_dtype(out, result_dtype(block.dtype, dtype), DTYPE_HINT)


def threshold(block, value=None, otsu=False, mode="binary"):
    """Voxels above the threshold: a 0/1 uint8 mask (binary), or the input with the
    rest set to 0 (zero). Otsu's method picks the threshold when asked."""
    t = otsu_threshold(block) if otsu else value
    if t is None:
        raise MlkitError("threshold needs a value or --otsu")
    above = block > t
    if mode == "binary":
        return above.astype(np.uint8)
    return np.where(above, block, np.zeros((), block.dtype))


def otsu_threshold(block, bins=256):
    """The threshold maximising the between-class variance of a 256-bin histogram."""
    values = _finite_values(block)
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return lo
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = np.cumsum(counts[::-1])[::-1]
    mean_low = np.cumsum(counts * centres) / np.maximum(weight_low, 1)
    mean_high = (np.cumsum((counts * centres)[::-1]) / np.maximum(weight_high[::-1], 1))[::-1]
    between = weight_low[:-1] * weight_high[1:] * (mean_low[:-1] - mean_high[1:]) ** 2
    return float(centres[np.argmax(between)])


def _masked(block, mask):
    if mask is None:
        return block.ravel()
    mask = np.asarray(mask) > 0
    if mask.shape != block.shape[: mask.ndim]:
        raise MlkitError(f"mask shape {mask.shape} does not match image shape {block.shape}")
    if not mask.any():
        raise MlkitError("the mask is empty: no voxel above 0", "check the --mask file")
    return block[mask]


def _finite_values(block):
    """The block's values without NaN and infinities, flat; an error when none is left."""
    if np.issubdtype(block.dtype, np.integer) or block.dtype == bool:
        return block.ravel()
    finite = block[np.isfinite(block)]
    if finite.size == 0:
        raise MlkitError("the image has no finite values")
    return finite


def _finite_range(block):
    finite = _finite_values(block)
    return finite.min(), finite.max()


def _require_nonnegative(block, name):
    low = _finite_range(block)[0]
    if low < 0:
        raise MlkitError(f"{name} needs values >= 0, the image goes down to {float(low):g}", "clip or rescale it first")


def _work_dtype(block):
    """float64 for integers and float64 input, float32 otherwise."""
    if block.dtype in (np.float32, np.float16):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _target_max(dtype):
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0


def _reference_max(block):
    if np.issubdtype(block.dtype, np.integer):
        return float(np.iinfo(block.dtype).max)
    return float(_finite_range(block)[1])


def _int_range(dtype):
    info = np.iinfo(dtype)
    return float(info.min), float(info.max)
