"""Image I/O: the Image type, readers and writers by content, the pipe stream, batches.

    from mlkit.io import Image, read_image, read_images, write_image

The names load on first use (PEP 562), so importing one light submodule (`mlkit info`'s
reader) does not load the writers, tempfile or nibabel.
"""

_EXPORTS = {
    "Image": "mlkit.io.image",
    "map_volumes": "mlkit.io.image",
    "read_image": "mlkit.io.read",
    "read_images": "mlkit.io.read",
    "write_image": "mlkit.io.write",
    "StreamWriter": "mlkit.io.write",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mlkit.io' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
