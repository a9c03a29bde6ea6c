"""Read images by content: NIfTI streams, rasters, .npy, and what nibabel knows."""

import gzip
import io
import math
import os
import stat
import sys
import zlib

import numpy as np

from mlkit.errors import ImageFormatError, MlkitError
from mlkit import ui
from mlkit.io import limits, nifti_light, raster
from mlkit.io.image import Image, UnreadableHistory, json_type
from mlkit.io.names import safe_stem
from mlkit.io.quiet import silenced

GZIP_MAGIC = b"\x1f\x8b"
NPY_MAGIC = b"\x93NUMPY"
SUFFIXES = (".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy")
CHUNK = 16 << 20  # pipes and gzip are read in pieces this size, never at a declared size
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
    """A forward-only reader with peek() and tell(), over any binary file object.

    `inflated` names what the bytes are when `raw` decompresses (a gzip stream): their
    running total is held to the memory limit, so a small file cannot inflate without end.
    """

    def __init__(self, raw, inflated=None):
        self._raw = raw
        self._buf = b""
        self._pos = 0
        self._left = _bytes_left(raw)
        self._inflated = inflated
        self._total = 0

    def peek(self, n):
        while len(self._buf) < n:
            chunk = self._take(n - len(self._buf))
            if not chunk:
                break
            self._buf += chunk
        return self._buf[:n]

    def read(self, n=-1):
        if n is None or n < 0:
            return bytes(self.read_all("the input"))
        data = self.peek(n)
        self._buf = self._buf[len(data):]
        self._pos += len(data)
        return data

    def read_all(self, what):
        """The rest of the input as a bytearray, refused once it passes the memory limit."""
        if self._left is not None:
            return self.read_exact(self.remaining(), what)
        out = bytearray(self._buf)
        self._buf = b""
        while chunk := self._take(CHUNK):
            out += chunk
            limits.check(len(out), what)
        self._pos += len(out)
        return out

    def read_exact(self, n, what):
        """n bytes as a writable bytearray; a short read is a truncated input.

        The size comes from a header, so it is checked against the memory limit and, for
        a regular file, against the bytes left before anything is allocated; from a pipe
        the buffer grows only as data arrives."""
        limits.check(n, what)
        left = self.remaining()
        if left is not None and left < n:
            raise ImageFormatError(f"truncated input: {what} needs {n} bytes, {left} remain")
        out = bytearray(self._buf[:n])
        self._buf = self._buf[len(out):]
        while len(out) < n:
            chunk = self._take(min(n - len(out), CHUNK))
            if not chunk:
                raise ImageFormatError(f"truncated input: {what} ends after {len(out)} of {n} bytes")
            out += chunk
        self._pos += n
        return out

    def remaining(self):
        """Bytes left when the input is a regular file or a buffer; None for pipes and gzip."""
        return None if self._left is None else self._left + len(self._buf)

    def _take(self, n):
        chunk = self._raw.read(n)
        if self._left is not None:
            self._left -= len(chunk)
        if self._inflated:
            self._total += len(chunk)
            limits.check(self._total, self._inflated)
        return chunk

    def tell(self):
        return self._pos

    def restart_count(self):
        """Count positions from here: each image in a stream has its own offsets."""
        self._pos = 0


def _bytes_left(raw):
    """What remains of a regular file or an in-memory buffer, else None (a pipe)."""
    try:
        if isinstance(raw, io.BytesIO):
            return raw.getbuffer().nbytes - raw.tell()
        info = os.fstat(raw.fileno())
        return info.st_size - raw.tell() if stat.S_ISREG(info.st_mode) else None
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        return None


def read_images(path, stdin=None, _light=False):
    """Yield every image in `path` ('-' for stdin): one for most files, many for streams.

    With `_light` (for mlkit info alone), a NIfTI image whose header is regular is read without
    nibabel (whose import is most of a short command's start-up); its `header` is then a
    nifti_light.Header, which describes the image but cannot be written. Other headers and
    formats read as always."""
    name = "stdin" if path == "-" else stem(path)
    warn = _warn_once("stdin" if path == "-" else path)
    try:
        if path == "-":
            yield from _read_source(stdin or sys.stdin.buffer, name, path, _light, warn)
            return
        if os.path.isdir(path):
            raise ImageFormatError("it is a folder", "give the files in it, or the folder as a batch input")
        with open(path, "rb") as raw:
            yield from _read_source(raw, name, path, _light, warn)
    except FileNotFoundError:
        raise ImageFormatError("no such file") from None
    except PermissionError:
        raise ImageFormatError("permission denied", "check the file's permissions") from None
    except EOFError:
        raise ImageFormatError("truncated gzip data: the compressed stream ends early") from None
    except (zlib.error, gzip.BadGzipFile) as exc:
        reason = str(exc).split("decompressing data: ")[-1]  # zlib's "Error -3 while ..." prefix
        raise ImageFormatError(f"corrupt gzip data ({reason})") from None


def read_image(path):
    """The one image in `path`; an error if it holds several."""
    images = list(read_images(path))
    if len(images) != 1:
        raise ImageFormatError(f"{path} holds {len(images)} images, expected one")
    return images[0]


def _warn_once(label):
    """A warn(message) for what is wrong but not fatal in one input (its mlkit metadata):
    said once, naming the input, however many images it holds."""
    said = []

    def warn(message):
        if not said:
            said.append(message)
            ui.warn(f"{label}: {message}")

    return warn


def _read_source(raw, name, path, light, warn):
    source = ByteSource(raw)
    if source.peek(2) != GZIP_MAGIC:
        yield from _read_content(source, name, path, light, warn)
        return
    inflated = ByteSource(gzip.GzipFile(fileobj=source, mode="rb"), inflated="the inflated gzip data")
    # gzip checks its CRC at the end: hold every image until then, so nothing is written
    # from data that fails it.
    images = list(_read_content(inflated, name, path, light, warn))
    yield from images


# The extension an output takes from a photo read from stdin, as mlkit names such files elsewhere.
FORMAT_SUFFIX = {"jpeg": ".jpg", "tiff": ".tif"}


def _read_content(source, name, path, light, warn):
    head = source.peek(540)
    if not head:
        raise ImageFormatError("empty input" if path == "-" else "empty file (0 bytes)")
    kind = nifti_light.kind(head)
    if kind is not None:
        yield from _read_nifti_stream(source, kind, name, path, light, warn)
        return
    short = _cut_short(head)
    if short is not None:
        raise short
    fmt = raster.sniff(head)
    if fmt is not None:
        img = raster.decode(source.read_all(f"the {fmt.upper()} file"), fmt, name, warn)
        if path != "-":
            img.name = name  # a file is named after itself, whatever its text chunk says
        yield _finish(img, path, FORMAT_SUFFIX.get(fmt, "." + fmt), name, warn)
    elif head.startswith(NPY_MAGIC):
        yield _read_npy(source, name)
    elif path != "-" and suffix(path) in NIBABEL_SUFFIXES:
        yield _read_with_nibabel(path, name)
    else:
        raise ImageFormatError(_unknown_format_message(head, path))


def _cut_short(head):
    """The error for a NIfTI header that the input ends inside, or None."""
    short = nifti_light.cut_short(head)
    if short is None:
        return None
    kind, size = short
    return ImageFormatError(f"truncated input: the {kind} header ends after {len(head)} of {size} bytes",
                            "the file or stream was cut short; write it again")


def _read_nifti_stream(source, kind, name, path, light, warn):
    count = 0
    while True:
        default = name if count == 0 else f"{name}_{count + 1}"
        source.restart_count()
        img = _read_nifti(source, kind, default, light)
        head = source.peek(540)
        count += 1
        following = nifti_light.kind(head) if head else None
        short = _cut_short(head) if head and following is None else None  # the next image's header, cut
        # Checked before the image is used: its header may be what broke.
        if head and following is None and short is None:
            raise ImageFormatError(f"after image {count} the input holds bytes that are not a NIfTI image")
        if count == 1 and not head and path != "-":
            img.name = name  # a one-image file is named after the file, which the user may have renamed
        yield _finish(img, path, ".nii.gz", default, warn)
        if short is not None:
            raise short
        if not head:
            return
        kind = following


def _read_nifti(source, kind, default_name, light):
    """One NIfTI image: without nibabel when `light` and the header is regular, else with it."""
    img = nifti_light.read_image(source, kind, default_name) if light else None
    if img is None:
        from mlkit.io import nifti  # imports nibabel: here, so the light path never pays for it

        img = nifti.read_image(source, kind, default_name)
    return img


def _finish(img, path, default_suffix, default_name, warn):
    """What came from the file's metadata made safe: the name a safe stem, the history a list
    of dicts or nothing (said once on stderr; the image is kept); outputs keep the input's file
    type, stream images the one they recorded (if it is one mlkit writes)."""
    img.name = safe_stem(img.name, default_name)
    if img.spatial_ndim == 2:
        # One memory layout for a 2D image, OpenCV's (C order), whichever format brought it:
        # NIfTI's is Fortran order, and a computation whose order of operations follows the
        # layout (the separable resampler's passes, in float32) would round differently.
        img.data = np.ascontiguousarray(img.data)
    problem = _history_problem(img.history)
    if problem:
        warn(f"its mlkit history is ignored: {problem} (the image is read without it)")
        img.history = []
    if path != "-" and suffix(path) in SUFFIXES:
        img.suffix = suffix(path)
    elif img.suffix not in SUFFIXES:
        img.suffix = default_suffix
    return img


def _history_problem(history):
    """Why `history` is not mlkit's list of entries (dicts), or None."""
    if isinstance(history, UnreadableHistory):
        return str(history)
    if not isinstance(history, list):
        return f"it is a JSON {json_type(history)}, not a list of entries"
    for entry in history:
        if not isinstance(entry, dict):
            return f"an entry is a JSON {json_type(entry)}, not an object"
    return None


def _read_npy(source, name):
    data = _npy_array(source, "the .npy array")
    if data.ndim < 2 or not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
        raise ImageFormatError(f".npy holds a {data.ndim}-D {data.dtype} array, not an image")
    return Image(data=data, name=name, format="npy", suffix=".npy")


def load_npy(raw, what="the .npy array"):
    """The array in the binary file object `raw` (a .npy file, or a member of an .npz opened
    with zipfile): its header is checked against the memory limit and the bytes present
    before the data are read; never a pickle."""
    return _npy_array(ByteSource(raw), what)


def _npy_array(source, what):
    shape, fortran, dtype = _npy_header(source)
    buf = source.read_exact(math.prod(shape) * dtype.itemsize, what)
    data = np.frombuffer(buf, dtype).reshape(shape, order="F" if fortran else "C")
    if not dtype.isnative:
        data = data.byteswap().view(dtype.newbyteorder("="))
    return data


def _npy_header(source):
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(source)
        reader = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, fortran, dtype = reader(source)
    except Exception:  # numpy raises ValueError, SyntaxError, TokenError... for a bad header
        raise ImageFormatError("corrupt .npy header", "the file is damaged or not written by numpy") from None
    if dtype.hasobject:
        raise ImageFormatError(".npy holds Python objects, which mlkit never loads (no pickle)")
    if dtype.itemsize == 0 or dtype.names or dtype.subdtype:
        raise ImageFormatError(f".npy holds {dtype.str} records, not numbers")
    if any(int(n) < 0 for n in shape):
        raise ImageFormatError(f".npy header declares a negative size: {tuple(int(n) for n in shape)}")
    return tuple(int(n) for n in shape), bool(fortran), dtype


def _read_with_nibabel(path, name):
    import nibabel as nib

    try:
        with silenced():
            img = nib.load(path)
            stored = img.get_data_dtype()
            limits.check(math.prod(int(n) for n in img.shape) * stored.itemsize, "the image data")
            data = np.asanyarray(img.dataobj)
            affine = _finite_affine(img.affine)
    except FileNotFoundError as exc:
        missing = os.path.basename(exc.filename or "")
        raise ImageFormatError(f"its data file {missing} is missing", "keep header and data files together") from None
    except MlkitError:
        raise
    except Exception as exc:  # nibabel raises many types for bad files
        reason = (str(exc).splitlines() or ["unreadable header"])[0]
        raise ImageFormatError(f"nibabel cannot read it: {reason}") from None
    header = img.header if isinstance(img.header, nib.Nifti1Header) else None  # others do not write as NIfTI
    fmt = type(img).__name__.replace("Image", "")
    on_disk = stored.newbyteorder("=").name
    return Image(
        data=data,
        affine=affine,
        name=name,
        header=header,
        format=fmt,
        suffix=".nii.gz",
        stored_dtype=on_disk if on_disk != data.dtype.name else "",
    )


def _finite_affine(affine):
    if affine is None:
        return np.eye(4)
    if not np.isfinite(affine).all():
        raise ImageFormatError("the voxel-to-world affine holds NaN or infinite values")
    return np.asarray(affine, dtype=np.float64)


def _unknown_format_message(head, path):
    start = head[:16].decode("ascii", "replace").translate({i: "." for i in range(32)})
    if suffix(path) in (".nii", ".nii.gz"):
        return f"not a NIfTI-1/2 single-file image (it starts with {start!r})"
    return f"not an image mlkit reads (NIfTI-1/2, PNG, JPEG, TIFF, BMP, .npy); it starts with {start!r}"
