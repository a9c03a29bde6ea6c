"""The one memory limit every reader honours before it allocates: MLKIT_MAX_IMAGE_BYTES.

A header can declare any size; a few hundred bytes of gzip can inflate to gigabytes. Every
reader (NIfTI, gzip, rasters, .npy, model files) compares what it is about to allocate with
this limit first, so a hostile file costs a message, not the machine.
"""

import os

from mlkit.errors import ImageFormatError, MlkitError

ENV = "MLKIT_MAX_IMAGE_BYTES"
DEFAULT = 1 << 30  # 1 GiB: a 4D fMRI run of 64x64x40x1200 float32 (786 MiB) fits
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def max_bytes():
    """The limit in bytes: MLKIT_MAX_IMAGE_BYTES (1G, 512M, 2000000000...) or 1 GiB."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return DEFAULT
    number, unit = text.upper().rstrip("IB"), ""
    if number and number[-1] in _UNITS:
        number, unit = number[:-1], number[-1]
    try:
        value = int(float(number) * _UNITS[unit])
    except ValueError:
        raise MlkitError(f"{ENV}={text!r} is not a size", "give bytes or a size such as 4G or 512M") from None
    if value <= 0:
        raise MlkitError(f"{ENV}={text!r} must be positive", "give bytes or a size such as 4G or 512M")
    return value


def check(nbytes, what):
    """Refuse to allocate `nbytes` for `what` when that is over the limit."""
    limit = max_bytes()
    if nbytes > limit:
        raise ImageFormatError(
            f"{what} would take {human(nbytes)}, over the {human(limit)} limit",
            f"if the file is genuine, raise the limit: {ENV}={_suggest(nbytes)}",
        )


def human(nbytes):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


def _suggest(nbytes):
    gib = -(-int(nbytes) // (1 << 30))
    return f"{gib}G"
