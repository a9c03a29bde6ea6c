"""Messages and progress on stderr; stdout carries data only."""

import contextlib
import os
import sys
import warnings

state = {"quiet": False, "debug": os.environ.get("MLKIT_DEBUG", "") not in ("", "0"), "command": ""}


# Library log switches, read when the library is first imported; --debug leaves them alone.
QUIET_ENV = {"OPENCV_LOG_LEVEL": "SILENT", "TF_CPP_MIN_LOG_LEVEL": "3"}
_set_env = {}


def quiet_libraries():
    """Keep library chatter (Python warnings, OpenCV and TensorFlow logs) off stderr unless --debug."""
    if state["debug"]:
        for key, value in _set_env.items():
            if os.environ.get(key) == value:
                del os.environ[key]
        _set_env.clear()
        warnings.resetwarnings()
        return
    for key, value in QUIET_ENV.items():
        if key not in os.environ:
            os.environ[key] = _set_env[key] = value
    warnings.simplefilter("ignore")


def prefix():
    return f"mlkit {state['command']}".rstrip()


def one_line(text):
    return " ".join(str(text).split())


def error(message):
    """Errors are printed even with --quiet."""
    print(f"{prefix()}: error: {one_line(message)}", file=sys.stderr, flush=True)


def traceback_if_debug():
    """With --debug, the traceback of the exception being handled, before its one line."""
    if state["debug"]:
        import traceback

        traceback.print_exc(file=sys.stderr)


def warn(message):
    if not state["quiet"]:
        print(f"{prefix()}: warning: {one_line(message)}", file=sys.stderr, flush=True)


def info(message):
    if not state["quiet"]:
        print(f"{prefix()}: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def progress(total, label):
    """Yield an advance() callable; a rich bar only when a person can watch it."""
    if state["quiet"] or total < 2 or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)
