"""The one memory limit every reader honours before it allocates: MLKIT_MAX_IMAGE_BYTES.

A header can declare any size; a few hundred bytes of gzip can inflate to gigabytes. Every
reader (NIfTI, gzip, rasters, .npy, model files) compares what it is about to allocate with
this limit first, so a hostile file costs a message, not the machine.
"""

import math
import os

from mlkit.errors import ImageFormatError, MlkitError

ENV = "MLKIT_MAX_IMAGE_BYTES"
DEFAULT = 1 << 30  # 1 GiB: a 4D fMRI run of 64x64x40x1200 float32 (786 MiB) fits
_MAX = 1 << 63  # what a file offset can address
_VALID = "give bytes or a size such as 4G, 512M or 2000000000"
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
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise MlkitError(f"{ENV}={text!r} is not a size", _VALID) from None
    if not math.isfinite(value) or value > _MAX:  # inf, nan, 1e400: no limit at all is not a limit
        raise MlkitError(f"{ENV}={text!r} is not a finite size under 8 EiB", _VALID)
    if value < 1:
        raise MlkitError(f"{ENV}={text!r} must be positive", _VALID)
    return int(value)


def check(nbytes, what):
    """Refuse to allocate `nbytes` for `what` when that is over the limit."""
    limit = max_bytes()
    if not nbytes <= _MAX:  # nan too: sizes no machine holds come from a damaged header
        raise ImageFormatError(f"{what} would take more than 8 EiB", "the sizes it declares are not plausible: check the file")
    if nbytes > limit:
        raise ImageFormatError(
            f"{what} would take {human(nbytes)}, over the {human(limit)} limit",
            f"if the file is genuine, raise the limit: {ENV}={_suggest(nbytes)}",
        )


def human(nbytes):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


def _suggest(nbytes):
    gib = -(-int(nbytes) // (1 << 30))
    return f"{gib}G"
