"""Read images by content: NIfTI streams, rasters, .npy, and what nibabel knows."""

import gzip
import io
import os
import sys
import warnings
import zlib

import numpy as np

from mlkit.errors import ImageFormatError
from mlkit.io import nifti, raster
from mlkit.io.image import Image

GZIP_MAGIC = b"\x1f\x8b"
NPY_MAGIC = b"\x93NUMPY"
SUFFIXES = (".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy")
# Formats nibabel reads that the mlkit stream does not carry; read from files only.
NIBABEL_SUFFIXES = (".mgz", ".mgh", ".hdr", ".img", ".mnc", ".par", ".head", ".brik", ".brik.gz", ".v")


def stem(path):
    """The file name without its image suffix: 'scan' for 'dir/scan.nii.gz'."""
    base = os.path.basename(path)
    lower = base.lower()
    for suffix in SUFFIXES + NIBABEL_SUFFIXES:
        if lower.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return os.path.splitext(base)[0] or base


def suffix(path):
    lower = path.lower()
    return next((s for s in SUFFIXES + NIBABEL_SUFFIXES if lower.endswith(s)), "")


class ByteSource:
    """A forward-only reader with peek() and tell(), over any binary file object."""

    def __init__(self, raw):
        self._raw = raw
        self._buf = b""
        self._pos = 0

    def peek(self, n):
        while len(self._buf) < n:
            chunk = self._raw.read(n - len(self._buf))
            if not chunk:
                break
            self._buf += chunk
        return self._buf[:n]

    def read(self, n=-1):
        if n is None or n < 0:
            data = self._buf + self._raw.read()
            self._buf = b""
        else:
            data = self.peek(n)
            self._buf = self._buf[len(data):]
        self._pos += len(data)
        return data

    def read_exact(self, n, what):
        """n bytes as a writable bytearray; a short read is a truncated input."""
        out = bytearray(n)
        view = memoryview(out)
        got = min(n, len(self._buf))
        view[:got] = self._buf[:got]
        self._buf = self._buf[got:]
        while got < n:
            count = self._raw.readinto(view[got:])
            if not count:
                raise ImageFormatError(f"truncated input: {what} ends after {got} of {n} bytes")
            got += count
        self._pos += n
        return out

    def tell(self):
        return self._pos

    def restart_count(self):
        """Count positions from here: each image in a stream has its own offsets."""
        self._pos = 0


def read_images(path, stdin=None):
    """Yield every image in `path` ('-' for stdin): one for most files, many for streams."""
    name = "stdin" if path == "-" else stem(path)
    try:
        if path == "-":
            yield from _read_source(stdin or sys.stdin.buffer, name, path)
            return
        if os.path.isdir(path):
            raise ImageFormatError(f"{path} is a folder", "give the files in it, or the folder as a batch input")
        with open(path, "rb") as raw:
            yield from _read_source(raw, name, path)
    except FileNotFoundError:
        raise ImageFormatError(f"no such file: {path}") from None
    except PermissionError:
        raise ImageFormatError(f"permission denied: {path}") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ImageFormatError(f"truncated or corrupt gzip data ({exc})") from None


def read_image(path):
    """The one image in `path`; an error if it holds several."""
    images = list(read_images(path))
    if len(images) != 1:
        raise ImageFormatError(f"{path} holds {len(images)} images, expected one")
    return images[0]


def _read_source(raw, name, path):
    source = ByteSource(raw)
    if source.peek(2) == GZIP_MAGIC:
        source = ByteSource(gzip.GzipFile(fileobj=source, mode="rb"))
    head = source.peek(540)
    if not head:
        raise ImageFormatError("empty input" if path == "-" else "empty file (0 bytes)")
    klass = nifti.nifti_class(head)
    if klass is not None:
        yield from _read_nifti_stream(source, klass, name, path)
        return
    fmt = raster.sniff(head)
    if fmt is not None:
        yield _with_suffix(raster.decode(source.read(), fmt, name), path, "." + fmt)
    elif head.startswith(NPY_MAGIC):
        yield _read_npy(source.read(), name, path)
    elif path != "-" and suffix(path) in NIBABEL_SUFFIXES:
        yield _read_with_nibabel(path, name)
    else:
        raise ImageFormatError(_unknown_format_message(head, path))


def _read_nifti_stream(source, klass, name, path):
    count = 0
    while True:
        default = name if count == 0 else f"{name}_{count + 1}"
        source.restart_count()
        img = nifti.read_image(source, klass, default)
        head = source.peek(540)
        if count == 0 and not head and path != "-":
            img.name = name  # a one-image file is named after the file, which the user may have renamed
        yield _with_suffix(img, path, ".nii.gz")
        count += 1
        if not head:
            return
        klass = nifti.nifti_class(head)
        if klass is None:
            raise ImageFormatError(f"after image {count} the input holds bytes that are not a NIfTI image")


def _with_suffix(img, path, default):
    """Outputs keep the input's file type; stream images keep the one they recorded."""
    if path != "-" and suffix(path) in SUFFIXES:
        img.suffix = suffix(path)
    elif not img.suffix:
        img.suffix = default
    return img


def _read_npy(raw, name, path):
    try:
        data = np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as exc:
        raise ImageFormatError(f"cannot read .npy: {exc}") from None
    if data.ndim < 2 or not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
        raise ImageFormatError(f".npy holds a {data.ndim}-D {data.dtype} array, not an image")
    return Image(data=data, name=name, format="npy", suffix=".npy")


def _read_with_nibabel(path, name):
    import nibabel as nib

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = nib.load(path)
            data = np.asanyarray(img.dataobj)
    except FileNotFoundError as exc:
        missing = os.path.basename(exc.filename or "")
        raise ImageFormatError(f"its data file {missing} is missing", "keep header and data files together") from None
    except Exception as exc:  # nibabel raises many types for bad files
        raise ImageFormatError(f"nibabel cannot read it: {str(exc).splitlines()[0]}") from None
    header = img.header if isinstance(img.header, nib.Nifti1Header) else None
    fmt = type(img).__name__.replace("Image", "")
    return Image(data=data, affine=img.affine, name=name, header=header, format=fmt, suffix=".nii.gz")


def _unknown_format_message(head, path):
    start = head[:16].decode("ascii", "replace").translate({i: "." for i in range(32)})
    if suffix(path) in (".nii", ".nii.gz"):
        return f"not a NIfTI-1/2 single-file image (it starts with {start!r})"
    return f"not an image mlkit reads (NIfTI-1/2, PNG, JPEG, TIFF, BMP, .npy); it starts with {start!r}"
