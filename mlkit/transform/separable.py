"""Axis-aligned resampling as one 1D pass per axis: resample, zoom and shift.

When output index i maps to input coordinate step * i + offset along each axis on its own,
scipy.ndimage.affine_transform's tensor-product B-spline splits by axis: its spline prefilter
is one 1D filter per axis (on a copy padded by 12, as scipy pads for modes nearest and
grid-constant) and its kernel one 1D interpolation per axis. So the same values come from one
pass per axis with order+1 taps each, instead of (order+1)^3 taps per voxel; the antialiasing
Gaussian splits the same way. The passes run in float32 (float64 for float64 data) on blocks
and slabs of the volume, in threads, so memory stays near input + output.
"""

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mlkit.dtypes import to_dtype

MODES = ("nearest", "grid-constant")
ORDERS = (0, 1, 3)
PAD = 12  # what scipy pads by before prefiltering in these modes
SLAB = 1 << 20  # voxels per block or slab: a few MiB of float32 per thread
POLE = np.sqrt(3.0) - 2.0  # the cubic B-spline prefilter's pole


def handles(matrix, order, mode, block, cval, sigma=None):
    """Whether resample() gives affine_transform's values for this mapping and input."""
    n = block.ndim
    linear = matrix[:n, :n]
    if n < 2 or order not in ORDERS or mode not in MODES or np.count_nonzero(linear - np.diag(np.diag(linear))):
        return False
    if order == 0 and sigma is not None:  # a blur before nearest neighbour: left to scipy
        return False
    if order > 0 or mode != "grid-constant" or block.dtype.kind == "f":
        return True
    # nearest neighbour copies values: the fill must be one the dtype holds exactly
    return float(cval).is_integer() and np.can_cast(np.min_scalar_type(int(cval)), block.dtype)


def resample(block, matrix, out_shape, order, mode, cval, out_dtype, sigma=None):
    """`block` sampled at matrix @ (output index), as scipy.ndimage.affine_transform(block,
    matrix, output_shape=out_shape, order=order, mode=mode, cval=cval) gives it (after a
    Gaussian of `sigma` input voxels, mode nearest, when given), cast to `out_dtype`."""
    n = block.ndim
    steps, offsets = np.diag(matrix)[:n], matrix[:n, n]
    flip = block.flags.f_contiguous and not block.flags.c_contiguous
    view = block.T if flip else np.ascontiguousarray(block)  # NIfTI order: work on the transpose
    axes = list(range(n))[::-1] if flip else list(range(n))
    coords = [steps[a] * np.arange(out_shape[a]) + offsets[a] for a in axes]
    if order == 0:  # sigma is None (see handles)
        out = _nearest(view, coords, mode, cval).astype(out_dtype, copy=False)
    else:
        work = np.float64 if np.float64 in (np.dtype(out_dtype), block.dtype) else np.float32
        sigmas = [None] * n if sigma is None else [float(np.broadcast_to(sigma, (n,))[a]) or None for a in axes]
        ops = [_AxisOp(c, view.shape[k], order, mode, sigmas[k], work) for k, c in enumerate(coords)]
        out = np.empty([len(c) for c in coords], out_dtype)
        _passes(view, ops, out, cval if mode == "grid-constant" else 0.0)
    return out.T if flip else out


class _AxisOp:
    """One axis's pass: Gaussian (if any), pad and spline prefilter, then order+1 taps per output."""

    def __init__(self, coords, size, order, mode, sigma, work):
        self.order, self.mode, self.sigma, self.work, self.size = order, mode, sigma, work, size
        self.pad = PAD if order > 1 else 0
        self.matrix = _tap_matrix(coords, size + 2 * self.pad, self.pad, order, mode, work)

    def run(self, values, axis):
        """This pass along `axis` of `values` (any dtype); the last axis is moved first and
        back, so that every filter and product runs over whole contiguous rows."""
        last = axis == values.ndim - 1 and values.ndim > 1
        if last:
            values, axis = np.moveaxis(values, axis, 0), 0
        coef = self._coefficients(values, axis)
        shape = coef.shape
        before, after = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1:]))
        lines = coef.reshape(before, shape[axis], after)
        if before == 1:
            out = self.matrix @ lines[0]
        else:
            out = np.empty((before, self.matrix.shape[0], after), self.work)
            for b in range(before):
                out[b] = self.matrix @ lines[b]
        out = out.reshape(shape[:axis] + (self.matrix.shape[0],) + shape[axis + 1:])
        return np.moveaxis(out, 0, -1) if last else out

    def _coefficients(self, values, axis):
        from scipy import ndimage

        if self.sigma is not None:
            values = ndimage.gaussian_filter1d(values.astype(self.work), self.sigma, axis=axis, mode="nearest")
        if not self.pad:
            return np.ascontiguousarray(values, dtype=self.work)
        shape = list(values.shape)
        shape[axis] += 2 * self.pad
        coef = np.empty(shape, self.work)  # padded and converted in one copy
        dst, src, pad = np.moveaxis(coef, axis, 0), np.moveaxis(values, axis, 0), self.pad
        dst[pad:-pad] = src
        dst[:pad], dst[-pad:] = (src[0], src[-1]) if self.mode == "nearest" else (0, 0)
        spline_filter(coef, axis, self.mode)
        return coef

    def ones(self):
        """This axis's response to ones (below 1 where taps reach the fill)."""
        return self.run(np.ones((self.size, 1), self.work), 0)[:, 0]


def spline_filter(coef, axis, mode):
    """In place: scipy.ndimage.spline_filter1d(coef, 3, axis, mode=mode) for modes nearest
    and grid-constant, as one recursion over whole planes (scipy filters line by line, slow
    across the slower axes). The initial values are scipy's: reflect-type for nearest,
    mirror-type for grid-constant."""
    v = np.moveaxis(coef, axis, 0)
    n, z = v.shape[0], coef.dtype.type(POLE)
    if n < 2:
        return
    v *= coef.dtype.type((1 - POLE) * (1 - 1 / POLE))
    first = _causal_start(v, n, mode)
    v[0] = first
    tmp = np.empty(v.shape[1:], coef.dtype)
    for i in range(1, n):
        np.multiply(v[i - 1], z, out=tmp)
        v[i] += tmp
    if mode == "nearest":
        v[n - 1] *= coef.dtype.type(POLE / (POLE - 1))
    else:
        np.multiply(v[n - 2], z, out=tmp)
        tmp += v[n - 1]
        np.multiply(tmp, coef.dtype.type(POLE / (POLE * POLE - 1)), out=v[n - 1])
    for i in range(n - 2, -1, -1):
        np.subtract(v[i + 1], v[i], out=v[i])
        v[i] *= z


def _causal_start(v, n, mode):
    """The causal recursion's first value: a weighted sum over the axis (the weights fall as
    POLE^k, so only the terms above 1e-15 of the largest are summed)."""
    j = np.arange(n, dtype=np.float64)
    if mode == "nearest":  # reflect: the signal continues as x[0], x[1], ... mirrored about -1/2
        weights = (POLE ** (j + 1) + POLE ** (2 * n - j)) / (1 - POLE ** (2 * n))
        weights[0] += 1
    else:  # mirror about 0
        weights = np.where((j == 0) | (j == n - 1), POLE**j, POLE**j + POLE ** (2 * n - 2 - j))
        weights /= 1 - POLE ** (2 * n - 2)
    total = np.zeros(v.shape[1:], v.dtype)
    for k in np.flatnonzero(np.abs(weights) > 1e-15):
        total += v.dtype.type(weights[k]) * v[k]
    return total


def _tap_matrix(coords, length, pad, order, mode, work):
    """Sparse (outputs x coefficients): the B-spline weights at `coords` (+ pad) as scipy applies
    them. Taps beyond the coefficients read the nearest one (nearest) or nothing (grid-constant:
    the fill is added afterwards)."""
    from scipy import sparse

    c = np.asarray(coords, np.float64) + pad
    base = np.floor(c)
    t = (c - base)[:, None]
    if order == 1:
        idx, w = base[:, None] + np.arange(2), np.hstack([1 - t, t])
    else:
        idx = base[:, None] + np.arange(-1, 3)
        w = np.hstack([(1 - t) ** 3, 3 * t**3 - 6 * t**2 + 4, -3 * t**3 + 3 * t**2 + 3 * t + 1, t**3]) / 6
    if mode == "grid-constant":
        w = np.where((idx >= 0) & (idx < length), w, 0.0)
    idx = np.clip(idx, 0, length - 1).astype(np.int64)
    k = idx.shape[1]
    return sparse.csr_matrix((w.ravel().astype(work), idx.ravel(), np.arange(0, idx.size + 1, k)), shape=(len(c), length))


def _passes(view, ops, out, cval):
    """The slowest axis over blocks of the next one into one intermediate, then the other axes
    slab by slab, each slab cast into `out`; blocks and slabs run in threads (scipy's sparse
    products and numpy's loops release the GIL)."""
    first = np.empty((ops[0].matrix.shape[0],) + view.shape[1:], ops[0].work)

    def block(lo, hi):
        first[:, lo:hi] = ops[0].run(view[:, lo:hi], 0)

    in_threads(block, view.shape[1], view.size // view.shape[1])
    ones = [op.ones() for op in ops] if cval else None

    def slab(lo, hi):
        values = first[lo:hi]
        for axis, op in enumerate(ops[1:], start=1):
            values = op.run(values, axis)
        if ones is not None:  # a fill of cval adds cval times (1 - the response to ones)
            values = values + cval * (1 - functools.reduce(np.multiply.outer, [ones[0][lo:hi], *ones[1:]]))
        _store(values, out[lo:hi])

    in_threads(slab, out.shape[0], out.size // out.shape[0])


def _store(values, out):
    """`values` (a private work array) into `out` as to_dtype would: integer outputs (from
    integer inputs, so always finite) are rounded and clipped in place, without temporaries."""
    if np.issubdtype(out.dtype, np.integer):
        info = np.iinfo(out.dtype)
        np.clip(np.rint(values, out=values), info.min, info.max, out=values)
        out[...] = values
    else:
        out[...] = to_dtype(values, out.dtype)


def in_threads(fn, length, per_index):
    """fn(lo, hi) over [0, length) in pieces of about SLAB voxels (`per_index` voxels per index),
    in threads: for work whose numpy and scipy kernels release the GIL."""
    step = max(1, SLAB // max(1, per_index))
    pieces = [(lo, min(lo + step, length)) for lo in range(0, length, step)]
    if len(pieces) <= 1 or (os.cpu_count() or 1) <= 1:
        for piece in pieces:
            fn(*piece)
        return
    list(_pool(os.getpid()).map(lambda piece: fn(*piece), pieces))


@functools.lru_cache(maxsize=None)
def _pool(pid):
    """One pool per process (a forked child makes its own): the same threads, and so the same
    malloc arenas, serve every pass, which keeps the peak memory down."""
    return ThreadPoolExecutor(os.cpu_count())


def _nearest(view, coords, mode, cval):
    """Order 0: each output voxel copies one input voxel (labels stay exact), rounded as scipy rounds."""
    out, missing = view, []
    for axis, c in enumerate(coords):
        size = view.shape[axis]
        idx = np.floor(np.asarray(c, np.float64) + 0.5)
        missing.append((idx < 0) | (idx >= size))
        out = np.take(out, np.clip(idx, 0, size - 1).astype(np.intp), axis=axis)
    if mode == "grid-constant" and any(m.any() for m in missing):
        out[functools.reduce(np.logical_or.outer, missing)] = cval
    return out

