"""The exceptions every command raises, and the exit codes they map to."""

import enum
import errno


class Exit(enum.IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    INTERRUPTED = 130


class MlkitError(Exception):
    """A data or runtime error: reported as one line, exit 1.

    `hint` says how to fix it; it is printed in parentheses after the message.
    """

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self):
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(MlkitError):
    """Options that do not fit together, or a value no input could satisfy: exit 2."""


class Interrupted(MlkitError):
    """Ctrl-C, after the command saved what it could: the message says what was kept (exit 130)."""


class ImageFormatError(MlkitError):
    """The bytes are not an image mlkit can read, or not one it can write."""


def bug_message(exc):
    """One line for an exception mlkit did not expect: a bug, never the user's fault.

    A full, read-only or forbidden disk met by a writer that did not name its file is no bug:
    it gets the writers' own line."""
    if isinstance(exc, OSError) and exc.errno in DISK_ERRORS:
        from mlkit.io.write import write_error

        error = write_error(exc.filename or "a file", exc)
        return f"{error.message.replace('cannot write ', '', 1)} ({error.hint})"
    return f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback, and report it)"


DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM)


def stop_quietly_on_signals():
    """Until the command's own handlers are in place (mlkit.cli does that first thing), Ctrl-C
    or SIGTERM while Python imports mlkit ends it with the usual line and exit 130: nothing
    has been written yet, so there is nothing to clean up."""
    import os
    import signal
    import sys

    def stop(signum, frame):
        words = [a for a in sys.argv[1:] if not a.startswith("-")][:1]
        os.write(2, f"{' '.join(['mlkit', *words])}: error: interrupted\n".encode())
        os._exit(Exit.INTERRUPTED)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
