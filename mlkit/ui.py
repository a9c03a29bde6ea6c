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
    with progress_bar() as bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)


def progress_bar():
    """A transient rich Progress on stderr: label, bar, count (12/20), time left, then the
    task's `terms` (a list, most important first) as many as the console's width leaves, so
    at 80 columns the bar, the count and the time left always show and the terms give way."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.table import Column
    from rich.text import Text

    console = Console(stderr=True)

    class Bar(BarColumn):
        def render(self, task):
            self.bar_width = bar_width(console.width)
            return super().render(task)

    fixed = [TextColumn("{task.description}", table_column=Column(no_wrap=True)), Bar(),
             MofNCompleteColumn(), TimeRemainingColumn()]

    class Terms(ProgressColumn):
        def render(self, task):
            used = sum(console.measure(column.render(task)).maximum + 1 for column in fixed)
            return Text(fit_terms(task.fields.get("terms", ()), console.width - used), no_wrap=True)

    return Progress(*fixed, Terms(table_column=Column(no_wrap=True)), console=console, transient=True)


def bar_width(columns):
    """A fifth of the console, 10 to 40 cells: room for the count, the time left and some terms."""
    return max(10, min(40, columns // 5))


def fit_terms(terms, width):
    """The leading terms that fit in `width` cells, two spaces apart; the last give way first."""
    shown = ""
    for term in terms:
        joined = f"{shown}  {term}" if shown else term
        if len(joined) > width:
            break
        shown = joined
    return shown
