"""The homography file formats: point-pair CSVs and 'x,y' lists, matrix files (.json, .txt,
.npy; loaded without pickles, size-checked, validated), and --size's WxH."""

import csv
import io
import json
import os
import sys
import tokenize
import warnings

import numpy as np

from mlkit.errors import MlkitError, UsageError

HEADER = ["src_x", "src_y", "dst_x", "dst_y"]


def pairs_from_text(src, dst):
    """'x,y x,y ...' strings -> (src, dst) arrays."""
    return _points(src, "--src"), _points(dst, "--dst")


def _points(text, option):
    try:
        return np.array([[float(v) for v in p.split(",")] for p in text.split()], float).reshape(-1, 2)
    except ValueError:
        raise MlkitError(f"{option} takes points as \"x,y x,y ...\", got {text!r}") from None


def pairs_from_csv(path):
    """A CSV with the header src_x,src_y,dst_x,dst_y ('-': stdin)."""
    text = sys.stdin.read() if path == "-" else _read_text(path)
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise MlkitError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    if header != HEADER:
        raise MlkitError(f"{path}: the header must be {','.join(HEADER)}, got {','.join(header)}")
    values = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 4:
            raise MlkitError(f"{path}, line {number}: expected 4 values, got {len(row)}")
        try:
            values.append([float(cell) for cell in row])
        except ValueError:
            raise MlkitError(f"{path}, line {number}: not a number in {','.join(row)}") from None
    data = np.array(values, float).reshape(-1, 4)
    return data[:, :2], data[:, 2:]


def _read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        raise MlkitError(f"cannot read {path}: {exc.strerror}") from None


MATRIX_FILE_BYTES = 1 << 20  # a 3x3 matrix takes a few hundred bytes in any of its formats


def read_matrix(path):
    """H from .json ({"H": ...} or a bare 3x3 list), .npy (no pickles) or text."""
    try:
        H = np.asarray(_matrix_values(path), float)
    except (ValueError, TypeError, OSError, RecursionError, SyntaxError, tokenize.TokenError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        hint = 'give {"H": [[...], [...], [...]]}, .npy or 3 lines of 3 numbers'
        raise MlkitError(f"{path}: cannot read a 3x3 matrix ({reason})", hint) from None
    if H.shape != (3, 3) or not np.isfinite(H).all():
        raise MlkitError(f"{path}: does not hold a finite 3x3 matrix (its shape is {'x'.join(map(str, H.shape)) or 'a scalar'})")
    if abs(np.linalg.det(H)) < 1e-12:
        raise MlkitError(f"{path}: the matrix is singular: it has no inverse to warp with")
    return H


def _matrix_values(path):
    if not os.path.isfile(path):  # a link to /dev/zero has size 0, and no end
        raise ValueError("not a regular file")
    if os.path.getsize(path) > MATRIX_FILE_BYTES:  # read nothing of a file that cannot be a 3x3 matrix
        raise ValueError(f"{os.path.getsize(path)} bytes is far too big for a 3x3 matrix")
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if path.endswith(".json"):
        with open(path) as f:
            payload = json.load(f)
        if isinstance(payload, dict) and "H" not in payload:
            raise ValueError('no "H" in the JSON object')
        return payload["H"] if isinstance(payload, dict) else payload
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns about an empty file; the shape check says it
        return np.loadtxt(path, dtype=float, ndmin=2)


def write_result(result, fmt=None, output=None, extra=None):
    """H as a matrix file: JSON (one object: H, inliers, rmse_px, seed and `extra`; what
    read_matrix reads back), text (3 lines of 3 numbers) or .npy; to `output`, or stdout."""
    fmt = fmt or _format_of(output)
    payload = {**result.as_dict(), **(extra or {})}
    if fmt == "json":
        data = (json.dumps(payload, allow_nan=False) + "\n").encode()
    elif fmt == "txt":
        data = "".join(" ".join(f"{v:.17g}" for v in row) + "\n" for row in result.H).encode()
    else:
        buf = io.BytesIO()
        np.save(buf, result.H, allow_pickle=False)
        data = buf.getvalue()
    if output in (None, "-"):
        if fmt == "npy":
            from mlkit.io.write import refuse_terminal

            refuse_terminal()
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        from mlkit.io.write import atomic_write

        with atomic_write(output) as out:
            out.write(data)


def _format_of(output):
    if output and output.endswith(".npy"):
        return "npy"
    if output and output.endswith(".txt"):
        return "txt"
    return "json"


def parse_size(text):
    """'300x200' -> (300, 200); None stays None. A wrong value is a usage error."""
    if text is None:
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size takes WxH, e.g. 300x200, got {text!r}") from None
    if width < 1 or height < 1:
        raise UsageError(f"--size {text}: both sides must be positive")
    return width, height
