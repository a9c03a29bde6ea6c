"""Stylised pictures as mlkit images, with their history, and where they are written: the only
place mlkit/style writes history; and `apply`'s batch work function."""

import numpy as np

from mlkit import provenance
from mlkit.io.batch import write_images as write
from mlkit.io.image import picture

__all__ = ["apply_step", "entry", "picture", "prepare", "result", "write"]


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


def prepare(source, device="auto"):
    """TensorFlow on `device`, and the network of `source` loaded (once per process)."""
    key = (source, device)
    if key not in _NETWORKS:
        from mlkit.deep.runtime import Runtime
        from mlkit.style.fast import load_network

        Runtime(device=device, mixed_precision=False)
        _NETWORKS.clear()
        _NETWORKS[key] = load_network(source)
    return _NETWORKS[key]


def apply_step(source, device, preserve_colors, img, seedseq=None):
    """The batch runner's work function (picklable as a partial: --jobs loads the network
    once in each worker)."""
    from mlkit.style.fast import paint

    return [paint(prepare(source, device), img, preserve_colors)]


_NETWORKS = {}
