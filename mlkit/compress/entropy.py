"""Range coding of integer symbols with constriction, from integer probability tables.

Every table is a row of positive integers; constriction sees them as float64 ratios (exact:
the integers are below 2**53) and quantises them itself, the same way on both sides. Symbols
are coded table by table (all the symbols that use table 0, then table 1, ...), so a set is
one stream of 32-bit words. Decoding is given the same tables and counts and gives back the
same symbols, bit for bit.
"""

import math

import numpy as np

from mlkit.errors import ImageFormatError


def _model(row):
    import constriction

    row = np.asarray(row, np.float64)
    return constriction.stream.model.Categorical(row / row.sum(), perfect=False)


def encode(groups, tables):
    """groups: per table, the 1-D array of its symbols (0 <= s < len(table)) -> uint32 words."""
    import constriction

    coder = constriction.stream.queue.RangeEncoder()
    for symbols, row in zip(groups, tables):
        if len(symbols):
            coder.encode(np.ascontiguousarray(symbols, np.int32), _model(row))
    return np.asarray(coder.get_compressed(), np.uint32)


def decode(words, counts, tables):
    """The groups of symbols back: `counts[i]` symbols with table i."""
    import constriction

    try:
        coder = constriction.stream.queue.RangeDecoder(np.ascontiguousarray(words, np.uint32))
        groups = [coder.decode(_model(row), int(n)) if n else np.zeros(0, np.int32) for n, row in zip(counts, tables)]
    except Exception as exc:  # constriction raises on words that cannot be decoded
        raise ImageFormatError(f"damaged .mlz container: the coded codes do not decode ({exc})") from None
    # constriction reads zeros past the end and ignores words left over, so a cut, padded or
    # wrongly split stream decodes to something; only encode's own words for these symbols are
    # a container (range coding is deterministic: coding them again gives those words back)
    if not np.array_equal(encode(groups, tables), np.asarray(words, np.uint32)):
        raise ImageFormatError("damaged .mlz container: the coded words do not end where the codes do")
    return groups


def bits(groups, tables):
    """The ideal code length of the symbols under their tables, in bits."""
    total = 0.0
    for symbols, row in zip(groups, tables):
        row = np.asarray(row, np.float64)
        total -= float(np.sum(np.log2(row[np.asarray(symbols, np.int64)] / row.sum())))
    return total


def gaussian_table(mean, std, levels, precision=16):
    """Integer table of a Gaussian discretised to the levels 0..levels-1 (Python's libm erf:
    the same integers on every run)."""
    std = max(float(std), 0.5)
    edges = [(k - 0.5 - mean) / (std * math.sqrt(2)) for k in range(levels + 1)]
    cdf = [0.5 * math.erfc(-e) for e in edges]
    p = np.maximum(np.diff(np.asarray(cdf, np.float64)), 0.0)
    total = 1 << precision
    counts = np.maximum(1, np.floor(p / max(p.sum(), 1e-300) * (total - levels)).astype(np.int64))
    counts[np.argmax(counts)] += total - counts.sum()
    return counts
