"""Resample an image once through a composed mapping: the engine behind `augment`.

A mapping takes output grid indices to input voxel coordinates. When it keeps the
slice axis apart from the in-plane axes (in-plane rotation, any scale, shift or
flip, per-slice in-plane motion) the tensor-product interpolation kernel splits:
a small matrix along the slice axis that combines whole slices, then a sparse
in-plane matrix applied to each output slice. That is the same single interpolation as
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

    `values` has the spatial axes first and one trailing axis for everything else (4D
    volumes, colour channels): float32, or the image's own integers for nearest neighbour
    (labels are copied, never sent through float). Volumes keep NIfTI's layout (the first
    axis fastest), so each slice is one contiguous block (see `slabs`).
    """

    def __init__(self, data, n_spatial, order):
        from scipy import ndimage

        spatial = data.shape[:n_spatial]
        exact = order == 0 and data.dtype.kind in "iu"
        values = np.asarray(data, None if exact else np.float32)
        values = values.reshape(*spatial, -1)
        self.order, self.pad, self.shape = order, 0, spatial
        if order > 1:
            widths = [(SPLINE_PAD, SPLINE_PAD)] * n_spatial + [(0, 0)]
            values = np.asfortranarray(np.pad(values, widths, mode="edge"))
            for axis in range(n_spatial):  # in place: one padded copy in all
                ndimage.spline_filter1d(values, order, axis=axis, mode="mirror", output=values)
            self.pad = SPLINE_PAD
        self.values = values
        self._slabs = {}

    def slabs(self, slice_axis):
        """The volume as (extra, slices, rows, columns), C-contiguous: slice k of volume e is
        one block, its first in-plane axis fastest. A view of NIfTI-ordered data when the slice
        axis is the last; otherwise copied once and kept."""
        if slice_axis not in self._slabs:
            a, b = (axis for axis in range(3) if axis != slice_axis)
            self._slabs[slice_axis] = np.ascontiguousarray(self.values.transpose(3, slice_axis, b, a))
        return self._slabs[slice_axis]


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


def in_plane_taps(linear, offset, out_shape, in_shape, coef, layout="C"):
    """The taps of a 2D affine map of output (x, y) to input: (cols, weights), one row per output
    pixel. Pixels and columns are numbered in `layout` order: "C" (y fastest, as a photo) or
    "F" (x fastest, as a NIfTI slice)."""
    h_in, w_in = (s + 2 * coef.pad for s in in_shape)
    axes = [np.arange(n, dtype=np.float64) for n in out_shape]
    gx, gy = (g.ravel(order=layout) for g in np.meshgrid(*axes, indexing="ij"))
    ix, wx = taps(linear[0, 0] * gx + linear[0, 1] * gy + offset[0], in_shape[0], coef.order, coef.pad)
    iy, wy = taps(linear[1, 0] * gx + linear[1, 1] * gy + offset[1], in_shape[1], coef.order, coef.pad)
    cols = ix[:, :, None] * w_in + iy[:, None, :] if layout == "C" else ix[:, :, None] + h_in * iy[:, None, :]
    weights = wx[:, :, None] * wy[:, None, :]
    return cols.reshape(len(gx), -1), weights.reshape(len(gx), -1)


def in_plane_matrix(cols, weights, n_in):
    """The taps as a sparse (output pixels x input pixels) matrix."""
    from scipy import sparse

    k = cols.shape[1]
    indptr = np.arange(0, cols.size + 1, k)
    return sparse.csr_matrix((weights.ravel(), cols.ravel(), indptr), shape=(len(cols), n_in))


def apply_in_plane(matrix, values2d):
    """matrix @ values2d in row blocks (bounded memory)."""
    out = np.empty((matrix.shape[0], values2d.shape[1]), np.float32)
    for start in range(0, matrix.shape[0], ROWS_PER_BLOCK):
        stop = min(start + ROWS_PER_BLOCK, matrix.shape[0])
        out[start:stop] = matrix[start:stop] @ values2d
    return out


def along_slices(slices, idx, w):
    """out[o] = sum_t w[o, t] * slices[idx[o, t]]: whole contiguous slices combined at once."""
    from scipy import sparse

    if idx.shape[1] == 1:
        return slices[idx[:, 0]]  # nearest neighbour: the chosen slices, copied exactly
    n_out, k = idx.shape
    combine = sparse.csr_matrix((w.ravel(), idx.ravel(), np.arange(0, n_out * k + 1, k)), shape=(n_out, len(slices)))
    return combine @ slices


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
    Returns (*out_shape, extra): float32, or the coefficients' own integers for nearest neighbour.
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
    cols, weights = in_plane_taps(matrix[:2, :2], matrix[:2, 2], out_shape, coef.shape, coef)
    if coef.order == 0:
        return flat[cols[:, 0]].reshape(*out_shape, extra)
    plane = in_plane_matrix(cols, weights, len(flat))
    return apply_in_plane(plane, flat).reshape(*out_shape, extra)


def _resample_slices(coef, matrix, out_shape, slice_axis, slice_offsets):
    """Along the slice axis first (whole slices combined), then in-plane, slice by slice, in
    threads over groups of output slices. With the slice axis last, input and output both keep
    NIfTI's layout: nothing is transposed."""
    from mlkit.transform.separable import in_threads

    a, b = (axis for axis in range(3) if axis != slice_axis)
    slabs = coef.slabs(slice_axis)
    extra, depth, n_in = slabs.shape[0], slabs.shape[1], slabs.shape[2] * slabs.shape[3]
    out_plane, n_out = (out_shape[a], out_shape[b]), out_shape[slice_axis]
    linear, offset = matrix[np.ix_((a, b), (a, b))], matrix[[a, b], 3]
    z_src = matrix[slice_axis, slice_axis] * np.arange(n_out) + matrix[slice_axis, 3]
    iz, wz = taps(z_src, coef.shape[slice_axis], coef.order, coef.pad)
    in_plane = (coef.shape[a], coef.shape[b])

    def operator(shift):
        cols, weights = in_plane_taps(linear, offset + shift, out_plane, in_plane, coef, "F")
        return cols[:, 0] if coef.order == 0 else in_plane_matrix(cols, weights, n_in)

    plane = operator(0)
    moved = {z: operator(np.asarray(shift)) for z, shift in slice_offsets.items()}
    out = np.empty((extra, n_out, out_plane[0] * out_plane[1]), slabs.dtype)

    def group(lo, hi):
        for e in range(extra):
            stack = along_slices(slabs[e].reshape(depth, n_in), iz[lo:hi], wz[lo:hi])
            if coef.order == 0:
                np.take(stack, plane, axis=1, out=out[e, lo:hi])
            else:  # one product over the group's slices (pixels by slices), as fast per tap as it gets
                out[e, lo:hi] = (plane @ np.ascontiguousarray(stack.T)).T
            for z in set(moved) & set(range(lo, hi)):
                _apply(moved[z], stack[z - lo], out[e, z])

    in_threads(group, n_out, out.shape[2])
    where = {slice_axis: 1, b: 2, a: 3}  # the axes of `out`, reshaped: extra, slice, b, a
    return out.reshape(extra, n_out, out_plane[1], out_plane[0]).transpose(where[0], where[1], where[2], 0)


def _apply(operator, values, out):
    """One slice through the in-plane taps: a gather for nearest neighbour (exact for labels),
    else the sparse matrix."""
    if isinstance(operator, np.ndarray):
        np.take(values, operator, out=out)
    else:
        out[...] = operator @ values


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
    dtype = coef.values.dtype if coef.order == 0 else np.float32
    out = np.empty((points.shape[1], coef.values.shape[-1]), dtype)
    for e in range(coef.values.shape[-1]):
        out[:, e] = ndimage.map_coordinates(
            coef.values[..., e], points, order=coef.order, mode="nearest", prefilter=False, output=dtype
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
