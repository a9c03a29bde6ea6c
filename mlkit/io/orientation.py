"""Axis codes ('RAS', 'LPS'...) of a voxel-to-world affine, with numpy alone.

The same math and tolerances as nibabel's aff2axcodes (io_orientation, ornt2axcodes), so
`mlkit info` names the same axes whether or not nibabel read the file.
"""

import numpy as np

LABELS = list(zip("LPI", "RAS"))  # (negative end, positive end) of world x, y, z


def axcodes(affine):
    """One code per voxel axis: the world direction its positive end points to most, or None
    for an axis the affine drops."""
    codes = []
    for axis, direction in _io_orientation(np.asarray(affine)):
        if np.isnan(axis):
            codes.append(None)
        else:
            codes.append(LABELS[int(axis)][1 if direction == 1 else 0])
    return tuple(codes)


def _io_orientation(affine):
    """(input axis -> [output axis, +1/-1]) rows: the closest shearless matrix to the affine's
    rotation-and-zoom part (polar decomposition by SVD, singular values under
    S.max() * size * eps counted as 0), its axes matched strongest first."""
    q, p = affine.shape[0] - 1, affine.shape[1] - 1
    rzs = affine[:q, :p]
    zooms = np.sqrt(np.sum(rzs * rzs, axis=0))
    zooms[zooms == 0] = 1  # an all-zero column stays as it is
    rs = rzs / zooms
    P, S, Qs = np.linalg.svd(rs, full_matrices=False)
    tol = S.max() * max(rs.shape) * np.finfo(S.dtype).eps
    keep = S > tol
    R = np.dot(P[:, keep], Qs[keep])
    ornt = np.ones((p, 2), dtype=np.int8) * np.nan
    # Strongest input axes first (stable on ties), so an axis is named the same in any order.
    for in_ax in np.argsort(np.min(-(R**2), axis=0), kind="stable"):
        col = R[:, in_ax]
        if not np.allclose(col, 0):
            out_ax = np.argmax(np.abs(col))
            ornt[in_ax] = out_ax, -1 if col[out_ax] < 0 else 1
            R[out_ax, :] = 0  # each output axis is used once
    return ornt


# Where a 2D raster (PNG, JPEG, TIFF, BMP, a 2D .npy) sits in world space: an axial plane as
# mlkit view, FSLeyes and ITK-SNAP show one (and as `transform slice` cuts it), columns running
# to the right (+x) and rows down the screen (-y). Written as NIfTI a photo opens upright in those
# viewers, and it has the same axes whether it came from a file, from stdin or from the mlkit
# stream. Every command asks this module which axis is which, never the file format.
PHOTO_AFFINE = np.array([[0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def default_affine(spatial_ndim):
    """The affine of an image that brings none: a photo's for 2D, the identity otherwise."""
    return PHOTO_AFFINE.copy() if spatial_ndim == 2 else np.eye(4)


def left_right_axis(img):
    """The voxel axis nearest world x (left-right): columns for a photo; for a 2D plane without
    an x direction (sagittal), columns, the horizontal axis it is shown with."""
    n = img.spatial_ndim
    weights = np.abs(np.asarray(img.affine, float)[0, :n])
    if n == 2 and not weights.max() > 1e-6 * np.abs(img.affine[:3, :n]).max():
        return 1
    return int(np.argmax(weights))
