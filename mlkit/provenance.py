"""History entries: what each command did to an image, enough to redo it."""

import math
import shlex
import sys

from mlkit import __version__


# How a run is executed, not what it computes: left out of the history, so the same seed
# gives byte-identical outputs with or without them. name -> takes a value.
EXECUTION_OPTIONS = {"-j": True, "--jobs": True, "--shard": True, "-q": False, "--quiet": False, "--debug": False}


def command_line(args=None):
    """'mlkit <args>' as a shell would take it back, without the execution options."""
    args = sys.argv[1:] if args is None else args
    return shlex.join(["mlkit", *without_execution_options(args)])


def without_execution_options(args):
    args = list(args)
    end = args.index("--") if "--" in args else len(args)  # after '--' everything is an argument
    kept, skip = [], False
    for arg in args[:end]:
        name = arg.split("=", 1)[0]
        if skip:
            skip = False
        elif name in EXECUTION_OPTIONS:
            skip = EXECUTION_OPTIONS[name] and "=" not in arg
        elif not _is_short_with_value(arg):
            kept.append(arg)
    return kept + args[end:]


def _is_short_with_value(arg):
    return arg.startswith("-j") and arg[2:].isdigit()  # -j2


def entry(command, params, seed=None, cmdline=None):
    """One history entry; `params` holds the options and what was drawn at random."""
    return {
        "command": command,
        "cmdline": cmdline or command_line(),
        "version": __version__,
        "seed": seed,
        "params": plain(params),
    }


def plain(value, finite=False):
    """JSON-ready copies of numpy scalars and arrays, tuples as lists; with `finite`, NaN and
    infinities become None (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): plain(v, finite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, finite) for v in value]
    if hasattr(value, "tolist"):
        return plain(value.tolist(), finite)
    if finite and isinstance(value, float) and not math.isfinite(value):
        return None
    return value
