"""Putting computed values back into an image's dtype."""

import numpy as np


def to_dtype(values, dtype):
    """`values` as `dtype`: integers rounded and clipped to the type's range, booleans
    thresholded at 0.5, floats cast."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    if dtype == bool:
        return np.asarray(values) > 0.5
    return np.asarray(values).astype(dtype, copy=False)
