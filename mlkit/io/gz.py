"""gzip members for .nii.gz output: ISA-L (the `isal` package) where it is installed, zlib
otherwise. Both write the same format at level 1; ISA-L is several times faster at about the
same size. No name and no time in the header, so the same bytes always give the same member."""

import gzip

try:
    from isal import igzip as _isal
except ImportError:  # a platform without isal wheels: zlib, slower, same format
    _isal = None

LEVEL = 1  # most of the size gain at a fraction of the time, as nibabel


def compress(data):
    """One complete gzip member holding `data` (bytes or a buffer); releases the GIL."""
    if _isal is not None:
        return _isal.compress(data, LEVEL, mtime=0)
    return gzip.compress(data, compresslevel=LEVEL, mtime=0)
