"""Keep library chatter off stderr while a reader parses untrusted bytes.

libpng and libjpeg print from C straight to file descriptor 2, OpenCV logs there too, nibabel
logs header fixes and numpy warns; none of it is mlkit's one line. --debug shows it all.
"""

import contextlib
import logging
import os
import sys
import warnings

from mlkit import ui

_NIBABEL_LOGGER = logging.getLogger("nibabel.global")


@contextlib.contextmanager
def silenced():
    """Silence fd 2, Python warnings and nibabel's logger for the block (not with --debug).

    Redirecting a file descriptor is process-wide: fine here, since batches run jobs in
    processes, not threads.
    """
    if ui.state["debug"]:
        yield
        return
    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (2>&-): nothing can reach it
        yield
        return
    was_disabled = _NIBABEL_LOGGER.disabled
    try:
        with open(os.devnull, "wb") as null, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            os.dup2(null.fileno(), 2)
            _NIBABEL_LOGGER.disabled = True
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        _NIBABEL_LOGGER.disabled = was_disabled
