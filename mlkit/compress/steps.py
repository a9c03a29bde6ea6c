"""The work behind encode, decode and eval: reading image sets and containers, writing the
reconstructions (the only place that writes history) and the container."""

import os
import sys

from mlkit.errors import ImageFormatError, MlkitError
from mlkit.io import limits


def read_set(specs, stdin=None):
    """Every image in files, folders, globs and '-' (the mlkit stream on stdin), in order.
    A file that cannot be read stops the whole set: a container is all or nothing."""
    from mlkit.deep.data import find_images
    from mlkit.io.read import read_images

    images = []
    for spec in specs:
        for path in ["-"] if spec == "-" else find_images([spec]):
            try:
                images.extend(read_images(path, stdin=stdin))
            except MlkitError as exc:
                raise type(exc)(f"{'stdin' if path == '-' else path}: {exc.message}", exc.hint) from None
    if not images:
        raise MlkitError(f"no images in {' '.join(specs)}")
    return images


def read_container(path, stdin=None):
    """The bytes of an .mlz file or of stdin ('-'), never more than the memory limit."""
    try:
        if path == "-":
            raw = (stdin or sys.stdin.buffer).read(limits.max_bytes() + 1)
        else:
            limits.check(os.path.getsize(path), f"{path}")
            with open(path, "rb") as f:
                raw = f.read()
    except FileNotFoundError:
        raise MlkitError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MlkitError(f"{path}: it is a folder, not an .mlz container") from None
    limits.check(len(raw), "the .mlz container")
    return raw


def write_container(raw, output, stdout=None):
    """`raw` to a file (atomically) or to stdout ('-'), never to a terminal."""
    from mlkit.io.write import atomic_write, refuse_terminal

    if output == "-":
        stream = stdout or sys.stdout
        refuse_terminal(stream)
        stream = getattr(stream, "buffer", stream)
        stream.write(raw)
        stream.flush()
        return
    with atomic_write(output) as out:
        out.write(raw)


def reconstructions(decoded, cmdline=None):
    """Image objects from decode's (meta, voxels), with a history entry each."""
    import numpy as np

    from mlkit import provenance
    from mlkit.compress.planes import nifti_header
    from mlkit.io import Image

    entry = provenance.entry("compress decode", {}, cmdline=cmdline)
    out = []
    for meta, data in decoded:
        affine = np.eye(4) if meta.affine is None else np.asarray(meta.affine, np.float64).reshape(4, 4)
        header = nifti_header(meta, data) if meta.nifti else None
        out.append(Image(data=data, affine=affine, name=meta.name, history=[entry], header=header,
                         channels=not meta.volume and data.ndim == 3,
                         format=meta.format or ("nifti1" if meta.volume else "png"), suffix=_suffix(meta)))
    return out


def _suffix(meta):
    from mlkit.io.write import WRITE_SUFFIXES

    if meta.suffix in WRITE_SUFFIXES:
        return meta.suffix
    return ".nii.gz" if meta.volume or meta.dtype not in ("uint8", "uint16", "bool") else ".png"


def write_images(images, output, stdout=None):
    """To a folder (each under its own name and type), one file, or the mlkit stream ('-')."""
    from mlkit.io import StreamWriter, write_image
    from mlkit.io.names import safe_stem
    from mlkit.io.write import output_suffix, refuse_terminal

    if output == "-":
        stream = stdout or sys.stdout
        refuse_terminal(stream)
        writer = StreamWriter(getattr(stream, "buffer", stream))
        for img in images:
            writer.write(img)
        return [output]
    if not output.endswith(("/", os.sep)) and not os.path.isdir(output):
        if len(images) != 1:
            raise ImageFormatError(f"-o {output}: the container holds {len(images)} images", "give a folder: -o out/")
        output_suffix(output)
        write_image(images[0], output)
        return [output]
    paths = [os.path.join(output, safe_stem(img.name) + img.suffix) for img in images]
    if len(set(paths)) != len(paths):
        raise ImageFormatError("two images in the container have the same name", "decode into a file each")
    for img, path in zip(images, paths):
        write_image(img, path)
    return paths
