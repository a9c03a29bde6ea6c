"""Geometric operations: an image onto a new voxel grid.

Every op is one matrix M (see grid.py) mapping an output voxel index to the input voxel
index it samples, plus an output shape. The new affine is A @ M, so each output voxel keeps
the scanner position of the point it was sampled from: the anatomy stays where it was, only
the grid moves. `keep_affine=True` keeps A instead (the content moves in scanner space).
"""

import numpy as np

from mlkit.dtypes import DTYPE_HINT, result_dtype, to_dtype
from mlkit.errors import MlkitError
from mlkit.io.image import map_volumes
from mlkit.transform import separable
from mlkit.transform.grid import about_centre, embed, in_millimetres, rotation, translation

MODES = {"constant": "grid-constant", "nearest": "nearest", "reflect": "reflect", "mirror": "mirror", "wrap": "grid-wrap"}


def sample(img, matrix, out_shape, order=1, mode="constant", cval=0.0, label=False, keep_affine=False, prefilter_sigma=None,
             dtype=None):
    """`img` sampled at matrix @ (output index): one interpolation, per volume and channel.
    A float `dtype` keeps the interpolated values unrounded (integer input included)."""
    from scipy import ndimage

    if label:
        order = 0
    n = img.spatial_ndim
    out_shape = tuple(int(s) for s in out_shape)
    if min(out_shape) < 1:
        raise MlkitError(f"output shape {out_shape} has an empty axis")
    out_dtype = result_dtype(img.data.dtype, dtype)

    def plane(block):
        sigma = None if label else prefilter_sigma
        if separable.handles(matrix, order, MODES[mode], block, cval, sigma):  # axis-aligned: one 1D pass per axis
            return separable.resample(block, matrix, out_shape, order, MODES[mode], cval, out_dtype, sigma)
        exact = order == 0 and block.dtype != bool  # labels: no trip through float
        work = block if exact or block.dtype in (np.float32, np.float64) else block.astype(np.float32)
        if out_dtype == np.float64:
            work = work.astype(np.float64, copy=False)
        if prefilter_sigma is not None and not label:
            work = ndimage.gaussian_filter(work, prefilter_sigma, mode="nearest")
        out = ndimage.affine_transform(
            work, matrix, output_shape=out_shape, output=work.dtype, order=order, mode=MODES[mode], cval=cval
        )
        return to_dtype(out, out_dtype, DTYPE_HINT)

    def volume(block):
        if not img.channels:
            return plane(block)
        return np.stack([plane(block[..., c]) for c in range(block.shape[-1])], axis=-1)

    data = map_volumes(img, volume)
    affine = img.affine if keep_affine else img.affine @ embed(matrix, n)
    return img.replace(data=data, affine=affine)


def flip(img, axis, keep_affine=False):
    """Mirror along a spatial axis; exact (no interpolation)."""
    axis = _check_axis(img, axis)
    size = img.spatial_shape[axis]
    matrix = np.eye(img.spatial_ndim + 1)
    matrix[axis, axis] = -1
    matrix[axis, -1] = size - 1
    affine = img.affine if keep_affine else img.affine @ embed(matrix, img.spatial_ndim)
    return img.replace(data=np.flip(img.data, axis=axis).copy(), affine=affine)


def rotate(img, angle, axes=(0, 1), **kw):
    """Rotate by `angle` degrees in the plane of two spatial axes, about the grid
    centre, in millimetres (anisotropic voxels stay undistorted). For isotropic
    voxels this equals scipy.ndimage.rotate(..., axes, reshape=False)."""
    a, b = sorted(_check_axis(img, ax) for ax in axes)
    if a == b:
        raise MlkitError("rotate needs two different axes")
    linear = in_millimetres(rotation(img.spatial_ndim, (b, a), angle), img.voxel_sizes)
    return sample(img, about_centre(linear, img.spatial_shape, img.spatial_shape), img.spatial_shape, **kw)


def shift(img, offsets, **kw):
    """Move the content by `offsets` voxels along each spatial axis."""
    offsets = _per_axis(img, offsets, "shift")
    return sample(img, translation(-np.asarray(offsets, float)), img.spatial_shape, **kw)


def zoom(img, factors, **kw):
    """Magnify by `factors` (>1 zooms in) about the grid centre; the shape is kept."""
    factors = np.asarray(_per_axis(img, factors, "zoom"), float)
    matrix = about_centre(np.diag(1 / factors), img.spatial_shape, img.spatial_shape)
    return sample(img, matrix, img.spatial_shape, **kw)


def resample(img, shape=None, voxel_size=None, antialias=True, mode="nearest", **kw):
    """Resample the same field of view onto `shape`, or onto voxels of `voxel_size` mm.

    Voxel centres follow scipy.ndimage.zoom(grid_mode=True). When shrinking, a
    Gaussian of sigma (k-1)/2 input voxels (k = shrink factor) first removes what
    the coarser grid cannot hold, as skimage.transform.resize does.
    """
    in_shape = np.array(img.spatial_shape)
    if shape is not None:
        out_shape = np.array(_per_axis(img, shape, "shape"), int)
        step = in_shape / out_shape
    else:
        step = np.array(_per_axis(img, voxel_size, "voxel size"), float) / np.array(img.voxel_sizes)
        out_shape = np.maximum(1, np.round(in_shape / step)).astype(int)
    matrix = about_centre(np.diag(step), in_shape, out_shape)
    sigma = np.maximum(0, (step - 1) / 2) if antialias and (step > 1).any() else None
    return sample(img, matrix, out_shape, prefilter_sigma=sigma, mode=mode, **kw)


def crop(img, shape, origin=None, keep_affine=False):
    """Cut a window of `shape` voxels, centred unless `origin` (its first voxel) is given."""
    shape = np.array(_per_axis(img, shape, "shape"), int)
    in_shape = np.array(img.spatial_shape)
    start = (in_shape - shape) // 2 if origin is None else np.array(_per_axis(img, origin, "origin"), int)
    if (shape > in_shape).any() or (start < 0).any() or (start + shape > in_shape).any():
        raise MlkitError(f"crop window {_ints(shape)} at {_ints(start)} does not fit in {_ints(in_shape)}", "use pad to grow")
    index = tuple(slice(s, s + n) for s, n in zip(start, shape))
    return _window(img, img.data[index].copy(), start, keep_affine)


def pad(img, shape, mode="constant", cval=0.0, keep_affine=False, dtype=None):
    """Grow to `shape` voxels, the image centred; new voxels are `cval` or the edge value
    (rounded for integer images unless `dtype` asks for floats)."""
    shape = np.array(_per_axis(img, shape, "shape"), int)
    in_shape = np.array(img.spatial_shape)
    if (shape < in_shape).any():
        raise MlkitError(f"pad shape {_ints(shape)} is smaller than {_ints(in_shape)}", "use crop to shrink")
    before = (shape - in_shape) // 2
    widths = [(int(b), int(s - i - b)) for b, s, i in zip(before, shape, in_shape)]
    widths += [(0, 0)] * (img.data.ndim - len(widths))
    data = img.data.astype(result_dtype(img.data.dtype, dtype), copy=False)
    if mode == "constant":
        data = np.pad(data, widths, mode="constant", constant_values=to_dtype(cval, data.dtype, DTYPE_HINT))
    else:
        data = np.pad(data, widths, mode="edge")
    return _window(img, data, -before, keep_affine)


def slice_plane(img, axis, index=None, raw=False, radiological=False):
    """The 2D plane at `index` (default: the middle) along array axis `axis` of a 3D volume.

    By default the plane is turned as a viewer shows it (see `display_plane`); `raw` keeps
    the array's own row and column order. The affine follows either way.
    """
    if img.spatial_ndim != 3 or img.data.ndim != 3:
        raise MlkitError(f"slice takes a 3D volume, the image is {img.data.ndim}D")
    axis = _check_axis(img, axis)
    size = img.spatial_shape[axis]
    index = size // 2 if index is None else index
    if not 0 <= index < size:
        raise MlkitError(f"slice index {index} is outside 0..{size - 1}")
    if not raw:
        ras, ras_axis, ras_index = _to_ras_plane(img, axis, index)
        return display_plane(ras, ras_axis, ras_index, radiological)
    keep = [ax for ax in range(3) if ax != axis]
    perm = np.zeros((4, 4))
    perm[keep[0], 0] = perm[keep[1], 1] = perm[axis, 2] = perm[3, 3] = 1
    perm[axis, 3] = index
    data = np.take(img.data, index, axis=axis).copy()
    return img.replace(data=data, affine=img.affine @ perm)


def to_ras(img):
    """The same volume with its voxel axes running towards Right, Anterior, Superior (the
    nearest axes of an oblique affine); the affine changes so every voxel keeps its place."""
    import nibabel.orientations as nio

    ornt = nio.io_orientation(img.affine)
    if (ornt == [[0, 1], [1, 1], [2, 1]]).all():
        return img
    data = nio.apply_orientation(img.data, ornt)
    affine = img.affine @ nio.inv_ornt_aff(ornt, img.data.shape[:3])
    return img.replace(data=np.ascontiguousarray(data), affine=affine)


def _to_ras_plane(img, axis, index):
    """(the RAS volume, the RAS axis that array axis `axis` became, the index along it)."""
    import nibabel.orientations as nio

    ras_axis, sign = (int(v) for v in nio.io_orientation(img.affine)[axis])
    return to_ras(img), ras_axis, index if sign > 0 else img.spatial_shape[axis] - 1 - index


# The display orientation of each plane of a RAS volume: (row axis, sign), (column axis, sign).
# Axial (through S): anterior at the top, patient left on the left (neurological). Coronal
# (through A): superior at the top. Sagittal (through R): superior at the top, anterior left.
DISPLAY = {2: ((1, -1), (0, 1)), 1: ((2, -1), (0, 1)), 0: ((2, -1), (1, -1))}
PLANE_NAMES = {0: "sagittal", 1: "coronal", 2: "axial"}


def display_plane(ras, normal, index, radiological=False):
    """Plane `index` across RAS axis `normal`, turned for display (DISPLAY); `radiological`
    puts the patient's right on the left of axial and coronal planes. Affine exact."""
    (row, row_sign), (col, col_sign) = DISPLAY[normal]
    if radiological and col == 0:
        col_sign = -col_sign
    plane = np.take(ras.data, index, axis=normal)
    if row > col:
        plane = np.swapaxes(plane, 0, 1)
    plane = plane[:: row_sign, :: col_sign]
    shape = ras.data.shape
    matrix = np.eye(4)
    matrix[:3, :3] = 0
    matrix[row, 0], matrix[col, 1], matrix[normal, 2] = row_sign, col_sign, 1
    matrix[row, 3] = shape[row] - 1 if row_sign < 0 else 0
    matrix[col, 3] = shape[col] - 1 if col_sign < 0 else 0
    matrix[normal, 3] = index
    return ras.replace(data=np.ascontiguousarray(plane), affine=ras.affine @ matrix)


def _window(img, data, start, keep_affine):
    n = img.spatial_ndim
    affine = img.affine if keep_affine else img.affine @ embed(translation(start), n)
    return img.replace(data=data, affine=affine)


def _ints(values):
    """(1, 2, 3) for messages: plain ints, never numpy reprs."""
    return tuple(int(v) for v in values)


def _check_axis(img, axis):
    n = img.spatial_ndim
    if not -n <= axis < n:
        raise MlkitError(f"axis {axis} does not exist: the image has {n} spatial axes (0..{n - 1})")
    return axis % n


def _per_axis(img, values, what):
    """One value for every spatial axis, or one per axis."""
    values = list(np.atleast_1d(values))
    n = img.spatial_ndim
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise MlkitError(f"{what} needs 1 or {n} values for this image, got {len(values)}")
    return values
