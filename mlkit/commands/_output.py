"""The one writer for non-image output: tables, JSON and CSV, the same way in every command.

JSON is always a list with one object per result, whatever their number, with NaN and
infinities as null; CSV has a header and one line per result, nested values as JSON; a table
is aligned columns, or the command's own text block.
"""

import io
import json

import click

from mlkit.provenance import plain

FORMATS = ("table", "json", "csv")


def format_option(default="table", formats=FORMATS):
    return click.option(
        "--format", "fmt", type=click.Choice(formats), default=default, show_default=True,
        help="table for people; json (a list, one object per result) or csv for programs.",
    )


def emit(rows, fmt, text=None):
    """Print `rows` (dicts) as `fmt`; `text(row)` renders one row for the table format."""
    click.echo(render(rows, fmt, text), nl=False)


def render(rows, fmt, text=None):
    rows = plain(rows, finite=True)
    if fmt == "json":
        return json.dumps(rows, indent=2, allow_nan=False) + "\n"
    if fmt == "csv":
        return _csv(rows)
    if text is not None:
        return "".join(text(row) + "\n" for row in rows)
    return _table(rows)


def _columns(rows):
    names = []
    for row in rows:
        names += [k for k in row if k not in names]
    return names


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _csv(rows):
    import csv  # only for --format csv

    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    names = _columns(rows)
    writer.writerow(names)
    for row in rows:
        writer.writerow([_cell(row.get(k)) for k in names])
    return buf.getvalue()


def _table(rows):
    names = _columns(rows)
    cells = [[_short(row.get(k)) for k in names] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines) + "\n" if rows else ""


def _short(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return _cell(value) or "-"
