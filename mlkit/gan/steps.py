"""Generated pictures as mlkit images, with their history, and where they are written:
the only place mlkit/gan writes history."""

import os

from mlkit import provenance
from mlkit.io.image import Image


def picture(pixels, name, entry):
    """An H x W (x 3) uint8 picture from an H x W x C array, carrying `entry` in its history."""
    colour = pixels.shape[2] == 3
    data = pixels if colour else pixels[..., 0]
    return Image(data=data, name=name, history=[entry], channels=colour, format="png", suffix=".png")


def entry(command, params, seed=None):
    return provenance.entry(command, params, seed=seed)


def write(images, output):
    """Write `images` to a file, a folder (one file each) or the mlkit stream; the paths."""
    from mlkit.io.batch import make_sink
    from mlkit.io.write import StreamWriter, write_image

    sink = make_sink(output, len(images))
    if sink.kind == "stream":
        writer = StreamWriter()
        for img in images:
            writer.write(img)
        return ["-"] * len(images)
    if sink.kind == "file":
        write_image(images[0], sink.path)
        return [sink.path]
    os.makedirs(sink.path, exist_ok=True)
    paths = [sink.folder_path(img) for img in images]
    for img, path in zip(images, paths):
        write_image(img, path)
    return paths
