"""Generated pictures as mlkit images, with their history, and where they are written:
the only place mlkit/gan writes history."""

from mlkit import provenance
from mlkit.io.batch import write_images as write
from mlkit.io.image import picture

__all__ = ["entry", "picture", "write"]


def entry(command, params, seed=None):
    return provenance.entry(command, params, seed=seed)
