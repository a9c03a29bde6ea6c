"""Resample an image once through a composed mapping: the engine behind `augment`.

A mapping takes output grid indices to input voxel coordinates. When it keeps the
slice axis apart from the in-plane axes (in-plane rotation, any scale, shift or
flip, per-slice in-plane motion) the tensor-product interpolation kernel splits:
a sparse in-plane matrix applied to every input slice at once, then a small
matrix along the slice axis. That is the same single interpolation as
scipy.ndimage.affine_transform (trilinear, or cubic B-spline on coefficients
prefiltered once per input), only much faster. Anything else (elastic fields,
out-of-plane rotations) goes through scipy.ndimage.map_coordinates.

Edges: coordinates are clamped to the grid ("nearest"); with fill="constant",
output voxels whose source lies outside the input field of view get `cval`.
"""

import numpy as np

from mlkit.errors import MlkitError

# Cubic B-splines are prefiltered on an edge-padded copy, as scipy does for mode="nearest".
SPLINE_PAD = 12
# Output pixels per sparse block: bounds memory for large 2D photos.
ROWS_PER_BLOCK = 1 << 17


class Coefficients:
    """An image's interpolation coefficients, computed once and reused for every copy.

    `values` is float32 with the spatial axes first and one trailing axis for
    everything else (4D volumes, colour channels).
    """

    def __init__(self, data, n_spatial, order):
        from scipy import ndimage

        spatial = data.shape[:n_spatial]
        values = np.asarray(data, np.float32).reshape(*spatial, -1)
        self.order, self.pad, self.shape = order, 0, spatial
        if order > 1:
            widths = [(SPLINE_PAD, SPLINE_PAD)] * n_spatial + [(0, 0)]
            values = np.pad(values, widths, mode="edge")
            for axis in range(n_spatial):
                values = ndimage.spline_filter1d(values, order, axis=axis, mode="mirror", output=np.float32)
            self.pad = SPLINE_PAD
        self.values = values


def taps(coords, size, order, pad=0):
    """1D interpolation along one axis: (indices, weights), each (len(coords), order+1).

    Indices address a coefficient array padded by `pad` and are clamped to it.
    """
    c = np.asarray(coords, np.float64) + pad
    length = size + 2 * pad
    if order == 0:
        idx = np.floor(c + 0.5)[:, None]
        w = np.ones_like(idx)
    elif order == 1:
        base = np.floor(c)
        t = (c - base)[:, None]
        idx = base[:, None] + np.arange(2)
        w = np.hstack([1 - t, t])
    elif order == 3:
        base = np.floor(c)
        t = c - base
        idx = base[:, None] + np.arange(-1, 3)
        w = np.stack([(1 - t) ** 3, 3 * t**3 - 6 * t**2 + 4, -3 * t**3 + 3 * t**2 + 3 * t + 1, t**3], axis=1) / 6
    else:
        raise MlkitError(f"interpolation order {order} is not supported (0, 1 or 3)")
    return np.clip(idx, 0, length - 1).astype(np.int64), w.astype(np.float32)


def in_plane_matrix(linear, offset, out_shape, coef):
    """Sparse (out pixels x in pixels) matrix for a 2D affine map of output (x, y) to input."""
    from scipy import sparse

    h_out, w_out = out_shape
    h_in, w_in = (s + 2 * coef.pad for s in coef.shape[:2])
    gx, gy = np.meshgrid(np.arange(h_out), np.arange(w_out), indexing="ij")
    gx, gy = gx.ravel().astype(np.float64), gy.ravel().astype(np.float64)
    src_x = linear[0, 0] * gx + linear[0, 1] * gy + offset[0]
    src_y = linear[1, 0] * gx + linear[1, 1] * gy + offset[1]
    ix, wx = taps(src_x, coef.shape[0], coef.order, coef.pad)
    iy, wy = taps(src_y, coef.shape[1], coef.order, coef.pad)
    cols = (ix[:, :, None] * w_in + iy[:, None, :]).reshape(len(gx), -1)
    data = (wx[:, :, None] * wy[:, None, :]).reshape(len(gx), -1)
    k = cols.shape[1]
    indptr = np.arange(0, len(gx) * k + 1, k)
    return sparse.csr_matrix((data.ravel(), cols.ravel(), indptr), shape=(len(gx), h_in * w_in))


def apply_in_plane(matrix, values2d):
    """matrix @ values2d in row blocks (bounded memory)."""
    out = np.empty((matrix.shape[0], values2d.shape[1]), np.float32)
    for start in range(0, matrix.shape[0], ROWS_PER_BLOCK):
        stop = min(start + ROWS_PER_BLOCK, matrix.shape[0])
        out[start:stop] = matrix[start:stop] @ values2d
    return out


def combine_slices(stacked, idx, w):
    """Interpolate along the slice axis: out[:, o] = sum_t w[o, t] * stacked[:, idx[o, t]]."""
    out = np.take(stacked, idx[:, 0], axis=1)
    if idx.shape[1] == 1:
        return out  # nearest neighbour: the weight is 1
    out *= w[None, :, 0, None]
    for t in range(1, idx.shape[1]):
        out += np.take(stacked, idx[:, t], axis=1) * w[None, :, t, None]
    return out


def is_separable(matrix, n_spatial, slice_axis):
    """True when the slice axis maps only onto itself."""
    if n_spatial == 2:
        return True
    others = [a for a in range(n_spatial) if a != slice_axis]
    return np.allclose(matrix[slice_axis, others], 0, atol=1e-12) and np.allclose(matrix[others, slice_axis], 0, atol=1e-12)


def resample(coef, matrix, out_shape, slice_axis=2, slice_offsets=None, field=None):
    """Values of `coef` at matrix @ (output index) (+ per-slice in-plane offsets, + field).

    matrix: (n+1) homogeneous, output index -> input coordinate.
    slice_offsets: {output slice: in-plane offset vector} (3D only).
    field: callable(out_shape) -> displacement (n, *out_shape) on the output grid, input voxels.
    Returns float32 (*out_shape, extra).
    """
    n = len(coef.shape)
    if field is None and is_separable(matrix, n, slice_axis):
        if n == 2:
            return _resample_2d(coef, matrix, out_shape)
        return _resample_slices(coef, matrix, out_shape, slice_axis, slice_offsets or {})
    return _resample_general(coef, matrix, out_shape, slice_axis, slice_offsets or {}, field)


def _resample_2d(coef, matrix, out_shape):
    extra = coef.values.shape[-1]
    flat = coef.values.reshape(-1, extra)
    plane = in_plane_matrix(matrix[:2, :2], matrix[:2, 2], out_shape, coef)
    return apply_in_plane(plane, flat).reshape(*out_shape, extra)


def _resample_slices(coef, matrix, out_shape, slice_axis, slice_offsets):
    plane_axes = [a for a in range(3) if a != slice_axis]
    values = np.moveaxis(coef.values, slice_axis, 2)  # (X, Y, Z, extra), slice axis third
    px, py, pz, extra = values.shape
    flat = np.ascontiguousarray(values).reshape(px * py, pz * extra)
    linear = matrix[np.ix_(plane_axes, plane_axes)]
    offset = matrix[plane_axes, 3]
    out_plane = [out_shape[a] for a in plane_axes]
    n_out_z = out_shape[slice_axis]
    z_src = matrix[slice_axis, slice_axis] * np.arange(n_out_z) + matrix[slice_axis, 3]
    iz, wz = taps(z_src, coef.shape[slice_axis], coef.order, coef.pad)
    plane = in_plane_matrix(linear, offset, out_plane, coef)
    out = combine_slices(apply_in_plane(plane, flat).reshape(-1, pz, extra), iz, wz)
    for z, shift in slice_offsets.items():
        moved = in_plane_matrix(linear, offset + np.asarray(shift), out_plane, coef)
        column = combine_slices(flat.reshape(-1, pz, extra), iz[z : z + 1], wz[z : z + 1])[:, 0]
        out[:, z, :] = apply_in_plane(moved, column)
    out = out.reshape(*out_plane, n_out_z, extra)
    return np.moveaxis(out, 2, slice_axis)


def _resample_general(coef, matrix, out_shape, slice_axis, slice_offsets, field):
    from scipy import ndimage

    n = len(coef.shape)
    grid = np.indices(out_shape, dtype=np.float64).reshape(n, -1)
    points = matrix[:n, :n] @ grid + matrix[:n, n:]
    if field is not None:
        points += field(tuple(out_shape)).reshape(n, -1)
    plane_axes = [a for a in range(n) if a != slice_axis]
    for z, shift in slice_offsets.items():
        rows = grid[slice_axis] == z
        points[np.ix_(plane_axes, rows)] += np.asarray(shift, float)[:, None]
    points += coef.pad
    out = np.empty((points.shape[1], coef.values.shape[-1]), np.float32)
    for e in range(coef.values.shape[-1]):
        out[:, e] = ndimage.map_coordinates(
            coef.values[..., e], points, order=coef.order, mode="nearest", prefilter=False, output=np.float32
        )
    return out.reshape(*out_shape, -1)


def outside_mask(matrix, out_shape, in_shape):
    """Output voxels whose (affine) source lies outside the input field of view."""
    n = len(out_shape)
    grid = np.indices(out_shape, dtype=np.float64).reshape(n, -1)
    points = matrix[:n, :n] @ grid + matrix[:n, n:]
    limits = np.asarray(in_shape, float)[:, None]
    outside = ((points < -0.5) | (points > limits - 0.5)).any(axis=0)
    return outside.reshape(out_shape)
