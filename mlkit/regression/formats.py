"""The files of `regress`: numeric tables from CSV/TSV files or stdin (read in chunks, errors
that name the cell), and saved models: plain JSON, or for the MLP a .keras file with the input
standardisation and output scaling inside it. Every model is checked field by field."""

import csv
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np

from mlkit.errors import MlkitError

CHUNK_ROWS = 65536
HEADER_BYTES = 16 << 20
MISSING = {"", "na", "nan", "null", "none", "n/a"}


class Table:
    """A header and a way to iterate the numeric rows in chunks (the file is read again
    for every pass, so memory stays bounded whatever the row count)."""

    def __init__(self, path, x_cols=None, y_col=None, dropna=False, target=True, needed_by=None, jobs=None):
        self.name = "stdin" if path == "-" else path
        self.jobs = jobs  # parse processes for a big file (the exact fit); None: one per core
        self.path = _spool(path)
        with open(self.path, "rb") as f:
            raw = f.readline(HEADER_BYTES)
        if len(raw) == HEADER_BYTES and not raw.endswith(b"\n"):
            raise MlkitError(f"{self.name}: line 1: a header line over {HEADER_BYTES >> 20} MiB", "give a CSV or TSV table")
        first = _text_lines(self.name, [raw], 0)[0]
        self.header_bytes = len(raw)
        if not first.strip():
            raise MlkitError(f"{self.name}: empty input, expected a header line")
        self.delimiter = "\t" if "\t" in first else ","
        self.header = [h.strip() for h in _csv_rows(self.name, [first], self.delimiter, 0)[0]]
        self.dropna = dropna
        self.target = target
        self.y_col = (y_col or self.header[-1]) if target else None
        self.x_cols = x_cols or [c for c in self.header if c != self.y_col]
        index = {name: i for i, name in reversed(list(enumerate(self.header)))}  # the first of a repeated name
        for col in self.columns:
            if col not in index:
                wanted = f", which {needed_by} needs" if needed_by else ""
                raise MlkitError(f"{self.name}: no column {col!r}{wanted}", f"columns are {', '.join(self.header)}")
        if self.y_col in self.x_cols:
            raise MlkitError(f"{self.name}: column {self.y_col!r} is both a feature and the target", "leave it out of --x")
        if not self.x_cols:
            raise MlkitError(f"{self.name}: no feature columns", "give --x")
        self.use = [index[c] for c in self.columns]
        self.dropped = 0

    @property
    def columns(self):
        return [*self.x_cols, self.y_col] if self.target else list(self.x_cols)

    def chunks(self, rows=None, on_bytes=None, start=None, limit=None, line_no=1):
        """Yield (X, y) float64 chunks of `rows` rows (CHUNK_ROWS); bad cells raise an error
        naming line and column. on_bytes(n) is told how much of the file each chunk used (for
        progress). A worker's share: from the offset `start` (a chunk's first line, whose line
        number is line_no + 1), at most `limit` chunks."""
        for data in self.row_blocks(rows, on_bytes, start, limit, line_no):
            yield (data[:, :-1], data[:, -1]) if self.target else (data, None)

    def row_blocks(self, rows=None, on_bytes=None, start=None, limit=None, line_no=1):
        """As chunks(), but each chunk as one C-contiguous array of the used columns, in the
        order of self.columns ([X y])."""
        rows = rows or CHUNK_ROWS  # read here, not as a default, so tests can make chunks small
        self.dropped = 0
        with open(self.path, "rb") as f:  # binary: tell() and seek() stay exact between numpy's reads
            f.readline()
            if start is not None:
                f.seek(start)
            done, count = f.tell(), 0
            while limit is None or count < limit:
                count += 1
                data = self._read_chunk(f, rows, line_no)
                if data is None:
                    return
                line_no += rows
                if on_bytes:
                    on_bytes(f.tell() - done)
                    done = f.tell()
                if len(data):
                    yield data

    def _read_chunk(self, f, rows, line_no):
        """Up to `rows` rows, parsed by numpy straight from the file; a chunk with a bad
        cell is read again cell by cell. None at the end of the file."""
        start = f.tell()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = np.loadtxt(
                    f, delimiter=self.delimiter, usecols=self.use, ndmin=2, comments=None, max_rows=rows, encoding="latin1"
                )
            if data.size == 0:
                return None
            if not self._regular(f, start, len(data)):
                raise ValueError("irregular rows")
        except ValueError:
            f.seek(start)
            lines = _text_lines(self.name, itertools.islice(f, rows), line_no)
            if not lines:
                return None
            data, _ = self._parse_slowly(lines, line_no)
        keep = self._finite_rows(data, line_no)
        return data if keep.all() else data[keep]  # no copy when every row is kept

    def _regular(self, f, start, count):
        """Whether the `count` rows numpy just read from `start` are plain: UTF-8, and a cell
        per header column in every one (numpy reads only the used columns, so it cannot tell;
        a quoted cell or a blank line also counts as irregular: the cell by cell parse reads
        those exactly)."""
        end = f.tell()
        f.seek(start)
        raw = f.read(end - start)
        if raw.count(self.delimiter.encode()) != count * (len(self.header) - 1) or b'"' in raw:
            return False
        try:
            if not raw.isascii():
                raw.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def text_chunks(self, rows=CHUNK_ROWS):
        """Yield (cells, X): the used columns' text as the file has it, and their values,
        for output that passes the input through unchanged."""
        self.dropped = 0
        with open(self.path, "rb") as f:
            f.readline()
            line_no = 1
            while lines := _text_lines(self.name, itertools.islice(f, rows), line_no):
                data, cells = self._parse_slowly(lines, line_no)
                keep = self._finite_rows(data, line_no)
                line_no += len(lines)
                yield [c for c, k in zip(cells, keep) if k], data[keep]

    def load(self):
        """All rows at once (for the iterative methods)."""
        parts = list(self.chunks())
        if not parts:
            raise MlkitError(f"{self.name}: no data rows")
        y = np.concatenate([p[1] for p in parts]) if self.target else None
        return np.vstack([p[0] for p in parts]), y

    def _parse_slowly(self, lines, first_line):
        """Cell by cell, to say which one is wrong (or to drop rows with gaps).
        Returns the values and, per row kept, the text of its used cells."""
        rows, texts = [], []
        for offset, row in enumerate(_csv_rows(self.name, lines, self.delimiter, first_line)):
            if not row:
                continue
            line = first_line + offset + 1
            if len(row) != len(self.header):
                raise MlkitError(f"{self.name}: line {line}: {len(row)} cells, the header has {len(self.header)}")
            values, text = [], []
            for index in self.use:
                cell = row[index].strip()
                if cell.lower() in MISSING:
                    if self.dropna:
                        values = None
                        break
                    raise MlkitError(f"{self.name}: line {line}, column {self.header[index]!r}: missing value", "use --dropna to skip such rows")
                text.append(cell)
                try:
                    values.append(float(cell))
                except ValueError:
                    raise MlkitError(f"{self.name}: line {line}, column {self.header[index]!r}: {cell!r} is not a number") from None
            if values is None:
                self.dropped += 1
            else:
                rows.append(values)
                texts.append(text)
        return np.array(rows, float).reshape(-1, len(self.use)), texts

    def _finite_rows(self, data, first_line):
        """The rows to keep: all when every value is finite, else an error (or, with
        --dropna, the finite rows)."""
        bad = ~np.isfinite(data)
        if not bad.any():
            return np.ones(len(data), bool)
        if self.dropna:
            keep = ~bad.any(axis=1)
            self.dropped += int((~keep).sum())
            return keep
        row, col = np.argwhere(bad)[0]
        line = first_line + 1 + row  # blank lines, which numpy skips, would shift this
        name = self.columns[col]
        raise MlkitError(f"{self.name}: line {line}, column {name!r}: {float(data[row, col])} (NaN or infinite)", "use --dropna to skip such rows")


def _text_lines(name, raw_lines, line_no):
    """Lines of bytes as text; an error naming the line (line_no + 1 is the first) when one
    is not UTF-8 (a lone surrogate, binary data)."""
    out = []
    for offset, raw in enumerate(raw_lines, line_no + 1):
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise MlkitError(f"{name}: line {offset}: not UTF-8 text", "save the table as UTF-8 CSV") from None
    return out


def _csv_rows(name, lines, delimiter, line_no):
    """csv.reader's rows of `lines`; its errors (a NUL byte, a cell over its size limit) as
    one line naming the line."""
    rows = []
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        for row in reader:
            rows.append(row)
    except csv.Error as exc:
        raise MlkitError(f"{name}: line {line_no + reader.line_num}: {exc}", "give a plain CSV or TSV table") from None
    return rows


class Spool:
    """Parsed rows kept in anonymous temporary files, float64 as parsed, so that a later pass
    reads them back without parsing the text again: on disk (TMPDIR), 8 bytes a value of the
    used columns, never in memory. One file (segment) per writer: this process, or each parse
    worker, which writes into a segment opened here; read back segment after segment. The
    files have no name, so they are gone when the spool closes or the process dies."""

    def __init__(self):
        self._segments = []  # (file, rows of each block written to it)
        self._width = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.clear()

    def segment(self):
        """A new segment for the blocks that follow (a worker writes them); its file."""
        try:
            file = tempfile.TemporaryFile()
        except OSError as exc:
            raise _spool_error(exc) from None
        self._segments.append((file, []))
        return file

    def write(self, block):
        """Keep one chunk, a C-contiguous float64 array; returns it."""
        if not self._segments:
            self.segment()
        file, sizes = self._segments[-1]
        try:
            file.write(block.data)
        except OSError as exc:
            raise _spool_error(exc) from None
        sizes.append(len(block))
        self._width = block.shape[1]
        return block

    def written(self, segment, rows, width):
        """A worker wrote a block of rows x width values to segment number `segment`."""
        self._segments[segment][1].append(rows)
        self._width = width

    def empty(self):
        return not self._segments

    def clear(self):
        """Close and forget every segment."""
        for file, _ in self._segments:
            file.close()
        self._segments = []

    def blocks(self):
        """The chunks in the order they were written."""
        for file, sizes in self._segments:
            file.seek(0)
            for rows in sizes:
                yield np.frombuffer(file.read(rows * self._width * 8), float).reshape(rows, -1)


def _spool_error(exc):
    return MlkitError(f"cannot keep the parsed rows in a temporary file ({exc.strerror or exc})",
                      "set TMPDIR to a folder with room for 8 bytes per value")


def _spool(path):
    """stdin goes to a temporary file first, so it can be read more than once."""
    if path != "-":
        if not os.path.isfile(path):
            raise MlkitError(f"{path}: no such file")
        return path
    spool = tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False)
    with spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
    import atexit

    atexit.register(lambda: os.path.exists(spool.name) and os.unlink(spool.name))
    return spool.name


# --- saved models -----------------------------------------------------------------------------------


MODEL_FORMAT = "mlkit-regress-1"
KERAS_NAME = "mlkit_regress_"  # + the hex of {"x_cols": ..., "y_col": ...}: Keras names allow no "/"
SAVE_HINT = "save a model with mlkit regress DATA --save MODEL.json"
METHODS = ("exact", "gd", "sgd", "lasso", "ridge", "elastic-net", "mlp")


def save_model(fit, path):
    """MODEL.json for every method; MODEL.keras for the MLP (the Keras network itself)."""
    if is_keras(path):
        return _save_keras(fit, path)
    from mlkit.io.write import atomic_write

    payload = {
        "format": MODEL_FORMAT,
        "method": fit.method,
        "x_cols": list(fit.x_cols),
        "y_col": fit.y_col,
        "coef": [float(v) for v in fit.coef],
        "intercept": fit.intercept,
        "network": fit.details.get("network"),
    }
    with atomic_write(path) as out:
        out.write(json.dumps(payload, indent=1).encode())


def load_model(path):
    """A saved model, checked field by field; an error names the file and the field."""
    try:
        return _load_keras(path) if is_keras(path) else _model_from(_read_json(path))
    except MlkitError as exc:
        raise type(exc)(exc.message if exc.message.startswith(f"{path}: ") else f"{path}: {exc.message}",
                        exc.hint or SAVE_HINT) from None


def keras_name(x_cols, y_col):
    """The Keras model's name, which carries its column names."""
    return KERAS_NAME + json.dumps({"x_cols": list(x_cols), "y_col": y_col}).encode().hex()


def _save_keras(fit, path):
    from mlkit.deep.models import save_model as save_keras

    if getattr(fit, "model", None) is None:
        raise MlkitError(f"{path}: a .keras model is for --method mlp", "save other methods as MODEL.json")
    save_keras(fit.model, path)


def _load_keras(path):
    from mlkit.deep.models import check_archive, load_model as load_keras

    check_archive(path)  # a damaged or oversized file is refused before TensorFlow loads
    from mlkit.deep.runtime import import_tf
    from mlkit.regression.mlp import MlpFit, network_of

    model = load_keras(path, import_tf()[1])
    if not model.name.startswith(KERAS_NAME):
        raise MlkitError("not an mlkit regress model (saved with --save MODEL.keras)")
    try:
        columns = json.loads(bytes.fromhex(model.name[len(KERAS_NAME):]))
    except ValueError:
        raise MlkitError("the model's name does not hold its column names") from None
    x_cols, y_col = _columns(columns)
    network = network_of(model)
    _check_network(network, len(x_cols))
    return MlpFit("mlp", x_cols, y_col, np.zeros(0), 0.0, 0, {"network": network}, model=model)


def _read_json(path):
    from mlkit.io import limits

    from mlkit.io.jsonfile import check_regular

    try:
        check_regular(path)  # a link to /dev/zero has size 0, and no end
        limits.check(os.path.getsize(path), "the model file")
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except MlkitError as exc:
        raise MlkitError(f"cannot read the model: {exc.message.split(': ', 1)[-1]}", exc.hint) from None
    except OSError as exc:
        raise MlkitError(f"cannot read the model: {exc.strerror or exc}") from None
    except RecursionError:
        raise MlkitError("not a model: its JSON is nested too deeply") from None
    except ValueError as exc:
        raise MlkitError(f"not a model: not valid JSON ({str(exc).splitlines()[0]})") from None


def _model_from(payload):
    from mlkit.regression.linear import Fit
    from mlkit.regression.mlp import MlpFit

    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise MlkitError("not an mlkit regress model (saved with --save)")
    method = _field(payload, "method", str)
    if method not in METHODS:
        raise MlkitError(f"method is {method!r}, not one of {', '.join(METHODS)}")
    x_cols, y_col = _columns(payload)
    if method == "mlp":
        network = _field(payload, "network", dict)
        _check_network(network, len(x_cols))
        return MlpFit("mlp", x_cols, y_col, np.zeros(0), 0.0, 0, {"network": network})
    coef = _vector(_field(payload, "coef", list), len(x_cols), "coef")
    return Fit(method, x_cols, y_col, coef, _number(payload.get("intercept"), "intercept"), 0)


def _columns(payload):
    if not isinstance(payload, dict):
        raise MlkitError("the column names are not a JSON object")
    x_cols = _field(payload, "x_cols", list)
    if not x_cols or not all(isinstance(c, str) for c in x_cols) or len(set(x_cols)) != len(x_cols):
        raise MlkitError("x_cols must be a list of distinct column names")
    y_col = payload.get("y_col")
    if y_col is not None and not isinstance(y_col, str):
        raise MlkitError("y_col must be a column name")
    return x_cols, y_col


def _field(payload, key, kind):
    if key not in payload:
        raise MlkitError(f"{key!r} is missing")
    if not isinstance(payload[key], kind):
        raise MlkitError(f"{key} must be a {'text' if kind is str else kind.__name__}")
    return payload[key]


def _number(value, what, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MlkitError(f"{what} is {json.dumps(value)[:40]}, not a finite number")
    if positive and value <= 0:
        raise MlkitError(f"{what} is {value}: it must be positive")
    return float(value)


def _vector(values, n, what, positive=False):
    if not isinstance(values, list) or len(values) != n:
        raise MlkitError(f"{what} must be a list of {n} number{'s' if n != 1 else ''}")
    return np.array([_number(v, f"{what}[{i}]", positive) for i, v in enumerate(values)], float)


def _check_network(net, n_inputs):
    """Standardisation of the right lengths (std > 0) and layers that chain from the
    inputs to one output, all numbers finite."""
    from mlkit.regression.mlp import ACTIVATIONS

    _vector(net.get("x_mean"), n_inputs, "network x_mean")
    _vector(net.get("x_std"), n_inputs, "network x_std", positive=True)
    _number(net.get("y_mean"), "network y_mean")
    _number(net.get("y_std"), "network y_std", positive=True)
    layers = net.get("layers")
    if not isinstance(layers, list) or not layers or not all(isinstance(layer, dict) for layer in layers):
        raise MlkitError("network layers must be a non-empty list")
    width = n_inputs
    for i, layer in enumerate(layers):
        what = f"network layer {i + 1}"
        rows = layer.get("W")
        if not isinstance(rows, list) or len(rows) != width or not rows or not isinstance(rows[0], list) or not rows[0]:
            raise MlkitError(f"{what}: W must be a {width} x N list of lists")
        out = len(rows[0])
        for r, row in enumerate(rows):
            _vector(row, out, f"{what} W[{r}]")
        _vector(layer.get("b"), out, f"{what} b")
        kind = layer.get("activation")
        fits = kind is None if i == len(layers) - 1 else kind in ACTIVATIONS
        if not fits:
            raise MlkitError(f"{what}: activation {kind!r}", f"hidden layers use one of {', '.join(ACTIVATIONS)}, the last none")
        if kind == "prelu":
            _vector(layer.get("slopes"), out, f"{what} slopes")
        width = out
    if width != 1:
        raise MlkitError(f"the network ends in {width} outputs, not 1")


def is_model_file(path):
    """Models are JSON or .keras; data are CSV or TSV. So a .json or .keras argument is read
    as a model (and a broken one is reported as a broken model)."""
    return path != "-" and path.lower().endswith((".json", ".keras"))


def is_keras(path):
    return str(path).lower().endswith(".keras")
