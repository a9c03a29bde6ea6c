"""History entries: what each command did to an image, enough to redo it."""

import shlex
import sys

from mlkit import __version__


def command_line(args=None):
    """'mlkit <args>' as a shell would take it back."""
    args = sys.argv[1:] if args is None else args
    return shlex.join(["mlkit", *args])


def entry(command, params, seed=None, cmdline=None):
    """One history entry; `params` holds the options and what was drawn at random."""
    return {
        "command": command,
        "cmdline": cmdline or command_line(),
        "version": __version__,
        "seed": seed,
        "params": _plain(params),
    }


def _plain(value):
    """JSON-ready copies of numpy scalars and arrays, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    return value
