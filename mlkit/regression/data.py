"""Numeric tables from CSV/TSV files or stdin, read in chunks, with errors that name the cell."""

import csv
import itertools
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np

from mlkit.errors import MlkitError

CHUNK_ROWS = 65536
MISSING = {"", "na", "nan", "null", "none", "n/a"}


class Table:
    """A header and a way to iterate the numeric rows in chunks (the file is read again
    for every pass, so memory stays bounded whatever the row count)."""

    def __init__(self, path, x_cols=None, y_col=None, dropna=False, target=True, needed_by=None):
        self.name = "stdin" if path == "-" else path
        self.path = _spool(path)
        with open(self.path, newline="", encoding="utf-8", errors="replace") as f:
            first = f.readline()
        if not first.strip():
            raise MlkitError(f"{self.name}: empty input, expected a header line")
        self.delimiter = "\t" if "\t" in first else ","
        self.header = [h.strip() for h in next(csv.reader([first], delimiter=self.delimiter))]
        self.dropna = dropna
        self.target = target
        self.y_col = (y_col or self.header[-1]) if target else None
        self.x_cols = x_cols or [c for c in self.header if c != self.y_col]
        for col in self.columns:
            if col not in self.header:
                wanted = f", which {needed_by} needs" if needed_by else ""
                raise MlkitError(f"{self.name}: no column {col!r}{wanted}", f"columns are {', '.join(self.header)}")
        if self.y_col in self.x_cols:
            raise MlkitError(f"{self.name}: column {self.y_col!r} is both a feature and the target", "leave it out of --x")
        if not self.x_cols:
            raise MlkitError(f"{self.name}: no feature columns", "give --x")
        self.use = [self.header.index(c) for c in self.columns]
        self.dropped = 0

    @property
    def columns(self):
        return [*self.x_cols, self.y_col] if self.target else list(self.x_cols)

    def chunks(self, rows=CHUNK_ROWS, on_bytes=None):
        """Yield (X, y) float64 chunks; bad cells raise an error naming line and column.
        on_bytes(n) is told how much of the file each chunk used (for progress)."""
        self.dropped = 0
        with open(self.path, "rb") as f:  # binary: tell() and seek() stay exact between numpy's reads
            f.readline()
            line_no, done = 1, f.tell()
            while True:
                data = self._read_chunk(f, rows, line_no)
                if data is None:
                    return
                line_no += rows
                if on_bytes:
                    on_bytes(f.tell() - done)
                    done = f.tell()
                if len(data):
                    yield (data[:, :-1], data[:, -1]) if self.target else (data, None)

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
        except ValueError:
            f.seek(start)
            lines = [line.decode("utf-8", "replace") for line in itertools.islice(f, rows)]
            if not lines:
                return None
            data, _ = self._parse_slowly(lines, line_no)
        return data[self._finite_rows(data, line_no)]

    def text_chunks(self, rows=CHUNK_ROWS):
        """Yield (cells, X): the used columns' text as the file has it, and their values,
        for output that passes the input through unchanged."""
        self.dropped = 0
        with open(self.path, newline="", encoding="utf-8", errors="replace") as f:
            f.readline()
            line_no = 1
            while lines := list(itertools.islice(f, rows)):
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
        for offset, row in enumerate(csv.reader(lines, delimiter=self.delimiter)):
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
