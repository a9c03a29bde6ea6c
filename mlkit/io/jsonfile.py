"""JSON from untrusted files (run.json, config.json, metrics lines, container headers), read
within bounds: a size cap, regular files only, a nesting limit, finite numbers only.

A link to /dev/zero would be read forever, `[[[[...` a hundred thousand deep overflows the
parser's stack, and `NaN` or `1e999` slip past checks that compare numbers. Every side file
goes through here, so each of those costs one line naming the file.
"""

import json
import os
import re
import stat

from mlkit.errors import MlkitError

MAX_BYTES = 64 << 20  # the largest side file mlkit writes is a few MiB of metrics
MAX_DEPTH = 100  # mlkit's own files nest a few levels; Keras configs about twenty
_BRACKETS = re.compile(r"[\[\]{}]")


def read(path, max_bytes=MAX_BYTES):
    """The parsed JSON of the file at `path` (see loads)."""
    return loads(read_bytes(path, max_bytes), path)


def read_bytes(path, max_bytes=MAX_BYTES):
    """The bytes of a regular file, refused when over `max_bytes` (a device or a FIFO too)."""
    check_regular(path)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise MlkitError(f"{path}: cannot be read ({exc.strerror})", "check that it exists and is readable") from None
    if len(data) > max_bytes:
        raise MlkitError(f"{path}: over {max_bytes >> 20} MiB, too large for its kind", "give the file mlkit wrote")
    return data


def check_regular(path):
    """Refuse what is not a regular file (followed through links) before opening it: a FIFO
    would block the open, a device (/dev/zero) never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise MlkitError(f"{path}: cannot be read ({exc.strerror})", "check that it exists and is readable") from None
    if not stat.S_ISREG(mode):
        raise MlkitError(f"{path}: not a regular file", "give the file itself, not a device, a folder or a pipe")


def loads(data, where, max_depth=MAX_DEPTH):
    """Parse JSON text or UTF-8 bytes; MlkitError naming `where` when it is not strict JSON,
    nests deeper than `max_depth`, or holds NaN, Infinity or a number that overflows."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        _check_depth(text, where, max_depth)
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        problem = "not UTF-8 text"
    except RecursionError:
        problem = "nested too deeply"
    except ValueError as exc:
        problem = f"not valid JSON ({exc})"
    raise MlkitError(f"{where}: {problem}", "give the file mlkit wrote, or remove the damaged file")


def _check_depth(text, where, max_depth):
    """Refuse nesting past max_depth before the parser recurses into it (brackets inside
    strings are counted too: a real file is far from the limit either way)."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth = 0
    for match in _BRACKETS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth > max_depth:
            raise MlkitError(f"{where}: JSON nested over {max_depth} levels deep", "give the file mlkit wrote")


def _no_constant(name):
    raise ValueError(f"{name} is not a finite number")


def _finite_float(text):
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} overflows")
    return value
