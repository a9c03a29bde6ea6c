"""Voxel-grid matrices shared by transform, augment and crop.

Every geometric operation is one homogeneous (n+1)-square matrix M mapping an output voxel
index to the input voxel coordinate it samples. The output affine is A @ embed(M), so each
output voxel keeps the scanner position of the point it was sampled from.
"""

import math

import numpy as np


def embed(matrix, n):
    """An (n+1)-square homogeneous matrix on the first n axes, as a 4x4 voxel matrix."""
    out = np.eye(4)
    out[:n, :n] = matrix[:n, :n]
    out[:n, 3] = matrix[:n, n]
    return out


def homogeneous(linear, offset):
    n = len(offset)
    matrix = np.eye(n + 1)
    matrix[:n, :n] = linear
    matrix[:n, n] = offset
    return matrix


def about_centre(linear, in_shape, out_shape):
    """`linear` applied about the grid centres: the output centre samples the input centre."""
    c_in = (np.asarray(in_shape, float) - 1) / 2
    c_out = (np.asarray(out_shape, float) - 1) / 2
    return homogeneous(linear, c_in - linear @ c_out)


def zoom_grid(step):
    """Output index -> input coordinate for voxels `step` times larger, centres aligned as
    scipy.ndimage.zoom(grid_mode=True) aligns them."""
    step = np.asarray(step, float)
    return homogeneous(np.diag(step), (step - 1) / 2)


def rotation(n, plane, degrees):
    """Rotation by `degrees` in the plane of axes (a, b), turning a towards b."""
    a, b = plane
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    rot = np.eye(n)
    rot[a, a], rot[a, b], rot[b, a], rot[b, b] = c, -s, s, c
    return rot


def in_millimetres(linear, voxel_sizes):
    """`linear` (defined in millimetres) as a map of voxel indices: anisotropic voxels stay undistorted."""
    sizes = np.asarray(voxel_sizes, float)
    return np.diag(1 / sizes) @ linear @ np.diag(sizes)


def translation(offsets):
    offsets = np.asarray(offsets, float)
    return homogeneous(np.eye(len(offsets)), offsets)
