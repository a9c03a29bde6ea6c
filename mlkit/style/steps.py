"""Stylised pictures as mlkit images, with their history, and where they are written: the only
place mlkit/style writes history."""

import numpy as np

from mlkit import provenance
from mlkit.io.batch import write_images as write
from mlkit.io.image import picture

__all__ = ["entry", "picture", "result", "write"]


def entry(params, seed):
    return provenance.entry("stylize", params, seed=seed)


def result(pixels, content, entry):
    """The output image: the content's name and history plus `entry`; a NIfTI content's
    affine, with the voxel size scaled to the new pixel grid."""
    affine = np.array(content.affine, np.float64)
    in_shape, out_shape = content.data.shape[:2], pixels.shape[:2]
    affine[:, :2] = affine[:, :2] * (np.array(in_shape, np.float64) / np.array(out_shape))
    img = picture(pixels if pixels.ndim == 3 else pixels[..., None], content.name, entry)
    return img.replace(affine=affine, history=[*content.history, entry])
