"""Messages and progress on stderr; stdout carries data only."""

import contextlib
import os
import sys

state = {"quiet": False, "debug": os.environ.get("MLKIT_DEBUG", "") not in ("", "0"), "command": ""}


def prefix():
    return f"mlkit {state['command']}".rstrip()


def one_line(text):
    return " ".join(str(text).split())


def error(message):
    """Errors are printed even with --quiet."""
    print(f"{prefix()}: error: {one_line(message)}", file=sys.stderr, flush=True)


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
