"""The exceptions every command raises, and the exit codes they map to."""

import enum


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
    """One line for an exception mlkit did not expect: a bug, never the user's fault."""
    return f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback, and report it)"
