"""Putting computed values back into an image's dtype."""

import numpy as np

from mlkit.errors import MlkitError

NAN_HINT = "clip or threshold them first"
# For the ops that honour the caller's output dtype (transform's and augment's --dtype): a float
# one keeps the values. Other callers have no such option, or apply it only after the op.
DTYPE_HINT = NAN_HINT + ", or use --dtype float32"


def to_dtype(values, dtype, hint=NAN_HINT):
    """`values` as `dtype`: integers rounded and clipped to the type's range, booleans
    thresholded at 0.5, floats cast. NaN or infinity has no integer: an error with `hint`."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        values = np.asarray(values)
        if not np.issubdtype(values.dtype, np.integer) and not np.isfinite(values).all():
            raise MlkitError(f"cannot store NaN or infinite values as {dtype}", hint)
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    if dtype == bool:
        return np.asarray(values) > 0.5
    return np.asarray(values).astype(dtype, copy=False)


def result_dtype(input_dtype, requested=None):
    """The dtype an op returns: a requested float dtype (so computed values are
    never rounded on the way), otherwise the input's."""
    if requested is not None and np.issubdtype(np.dtype(requested), np.floating):
        return np.dtype(requested)
    return np.dtype(input_dtype)


def holds(dtype, low, high):
    """Whether integer `dtype` represents `low` and `high` exactly (floats hold anything)."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.integer):
        return True
    info = np.iinfo(dtype)
    return all(float(v).is_integer() and info.min <= v <= info.max for v in (low, high))


def beyond_range(values, dtype):
    """Where `values` lie beyond what integer `dtype` holds (so to_dtype clips them);
    None for float dtypes, which clip nothing."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.integer):
        return None
    info = np.iinfo(dtype)
    return (values < info.min - 0.5) | (values >= info.max + 0.5)
