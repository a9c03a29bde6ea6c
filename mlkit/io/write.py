"""Write images by the output's extension, atomically; write the mlkit stream."""

import contextlib
import errno
import os
import re
import signal
import sys
import tempfile
import threading

import numpy as np

from mlkit.dtypes import to_dtype
from mlkit.errors import ImageFormatError, MlkitError
from mlkit.io import gz, nifti, raster

WRITE_SUFFIXES = (".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy")
GZIP_CHUNK = 4 << 20


def output_suffix(path):
    lower = path.lower()
    for s in WRITE_SUFFIXES:
        if lower.endswith(s):
            return s
    raise MlkitError(
        f"cannot tell the output format from the name {path!r}",
        "end it in .nii.gz, .nii, .png, .jpg, .tif, .bmp or .npy",
    )


def write_image(img, path):
    """Write `img` to `path`; the file appears complete or not at all."""
    fmt = output_suffix(path)
    with atomic_write(path) as out:
        write_to(out, img, fmt)


def write_to(out, img, suffix):
    if suffix == ".nii":
        _write_nifti(out, img)
    elif suffix == ".nii.gz":
        head, voxels = nifti.encode(img, version=2 if img.format == "nifti2" else 1)
        _write_gzip_members(out, head, voxels)
    elif suffix == ".npy":
        np.save(out, img.data, allow_pickle=False)
    else:
        out.write(raster.encode(img, raster.EXTENSIONS[suffix]))


def _write_gzip_members(out, head, voxels):
    """gzip as independent members compressed in parallel (as pigz does): any gzip
    reader sees one stream. Fixed chunks and no name or time in the headers, so
    the same image always gives the same bytes."""
    from concurrent.futures import ThreadPoolExecutor

    view = memoryview(voxels).cast("B") if len(voxels) else memoryview(b"")
    chunks = [head] + [view[i : i + GZIP_CHUNK] for i in range(0, len(view), GZIP_CHUNK)]
    if len(chunks) <= 2:
        for chunk in chunks:
            out.write(gz.compress(chunk))
        return
    with ThreadPoolExecutor(min(len(chunks), os.cpu_count() or 1)) as pool:
        for member in pool.map(gz.compress, chunks):  # ISA-L and zlib release the GIL while they compress
            out.write(member)


def _write_nifti(out, img):
    head, voxels = nifti.encode(img, version=2 if img.format == "nifti2" else 1)
    out.write(head)
    out.write(voxels)


@contextlib.contextmanager
def atomic_write(path):
    """A binary file object whose contents replace `path` only on success.

    The data goes to a hidden temporary file in the target folder (same file
    system, so the final rename is atomic); any failure removes it and leaves
    an existing `path` untouched. The temporary file's name carries this
    process's id, and it is listed in PENDING while it exists, so a signal
    handler (see remove_pending) or the parent of a killed worker (see
    remove_orphans) can remove it.
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        with signals_held():  # a signal between creating and listing the file would leak it
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=_temp_prefix(path), suffix=".part")
            PENDING.add(tmp)
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, new_file_mode())
        with signals_held():
            os.replace(tmp, path)
            PENDING.discard(tmp)
    except OSError as exc:
        _remove(tmp)
        if isinstance(exc, BrokenPipeError) or exc.errno is None:
            raise
        raise write_error(path, exc) from None
    except BaseException:
        _remove(tmp)
        raise


def write_side_file(path, data):
    """A side file (--log, --landmarks-out...): written atomically, and only when there is
    something in it, so a run that produced nothing leaves an existing file as it was."""
    if not data:
        return False
    with atomic_write(path) as out:
        out.write(data)
    return True


# Temporary files this process is writing: removed on the way out by a signal handler.
PENDING = set()
HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held():
    """SIGINT and SIGTERM that arrive during the block take effect right after it.

    The handlers are swapped, not the signal mask: with other threads running (TensorFlow's,
    a thread pool's) a process-wide signal lands in any thread, yet its Python handler runs
    in the main thread wherever that is."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers run in the main thread only
        return
    caught = []
    old = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in HELD_SIGNALS}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if caught:
            signal.raise_signal(caught[0])  # now the usual handler acts on it


def remove_pending():
    """Remove every temporary file this process is writing (from a signal handler)."""
    for tmp in list(PENDING):
        _remove(tmp)


def _temp_prefix(path, pid=None):
    return f".{os.path.basename(path)}.{os.getpid() if pid is None else pid}."


def remove_orphans(folder, pids):
    """Remove the temporary files that the (killed) processes `pids` left in `folder`."""
    pids = {str(pid) for pid in pids}
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            found = _TEMP_NAME.fullmatch(name)
            if found and found.group(1) in pids:
                _remove(os.path.join(folder, name))


_TEMP_NAME = re.compile(r"\..+\.(\d+)\.[A-Za-z0-9_]+\.part")


def _remove(tmp):
    if tmp is not None:
        PENDING.discard(tmp)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


_WRITE_HINTS = {
    errno.ENOSPC: ("no space left on the device", "free some space or write to another disk"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write to another disk"),
    errno.EFBIG: ("the file is too large for this file system or limit", "write to another disk, or raise the limit"),
    errno.EACCES: ("permission denied", "write to a folder you own, or fix its permissions"),
    errno.EPERM: ("permission denied", "write to a folder you own, or fix its permissions"),
    errno.EROFS: ("the file system is read-only", "write to another folder"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the -o path"),
    errno.EEXIST: ("a part of the path is a file, not a folder", "check the -o path"),
    errno.EISDIR: ("it is a folder", "name a file, or end -o with / to write into the folder"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter -o"),
}


def write_error(path, exc):
    """The one line for an OSError met while writing `path`."""
    what, hint = _WRITE_HINTS.get(exc.errno, (os.strerror(exc.errno).lower(), "check the -o path"))
    return MlkitError(f"cannot write {path}: {what}", hint)


def new_file_mode():
    """What a plain open() would give a new file: 0666 less the umask (mkstemp makes them 0600)."""
    return 0o666 & ~_umask()


def _umask():
    """The process's umask, read without setting it where Linux shows it: os.umask(0) and back
    leaves a moment in which a file another thread creates (a TensorBoard log, say) gets 0666."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


class StreamWriter:
    """Writes images as the mlkit stream: uncompressed NIfTI-1, one after another."""

    def __init__(self, out=None):
        self.out = out if out is not None else sys.stdout.buffer

    def write(self, img):
        head, voxels = nifti.encode(img, version=1)
        self.out.write(head)
        self.out.write(voxels)
        self.out.flush()


def refuse_terminal(stream=None):
    stream = stream if stream is not None else sys.stdout
    if stream.isatty():
        raise ImageFormatError(
            "refusing to write image data to a terminal",
            "give -o FILE or -o FOLDER/, or pipe into another command",
        )


def cast(data, dtype):
    """`data` as `dtype`; floats going to integers are rounded and clipped to the range."""
    dtype = np.dtype(dtype)
    return data if data.dtype == dtype else to_dtype(data, dtype)
