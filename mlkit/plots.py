"""Plots as people expect them: matplotlib on the Agg backend (imported only when plotting),
round ticks, labelled axes, the legend beside the data rather than on it, and PNG, SVG or PDF
chosen by the output's extension, written atomically."""

import io
import os

from mlkit.errors import UsageError

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
ROUND_STEPS = [1, 2, 2.5, 5, 10]  # tick spacings: 1, 2, 2.5 or 5 times a power of ten
UNDATED = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}  # same data, same bytes


def plot_format(path):
    """'png', 'svg' or 'pdf' from the file name; anything else is a usage error."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in FORMATS:
        raise UsageError(f"{path}: plots are written as PNG, SVG or PDF", "name it .png, .svg or .pdf")
    return FORMATS[ext]


def pyplot():
    """matplotlib.pyplot on the Agg backend: no display, no GUI toolkit."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    matplotlib.rcParams["svg.hashsalt"] = "mlkit"  # SVG ids from a fixed salt, not a random one
    import matplotlib.pyplot as plt

    return plt


def figure(rows=1, width=7.0, height=3.0, sharex=True):
    """(figure, list of `rows` axes stacked vertically), each `height` inches tall."""
    plt = pyplot()
    fig, axes = plt.subplots(rows, 1, figsize=(width, height * rows), sharex=sharex, squeeze=False)
    return fig, list(axes[:, 0])


def style(ax, xlabel=None, ylabel=None, title=None, integer_x=False, integer_y=False, grid=True):
    """Round ticks on both axes, axis labels, a light grid (not over a picture: grid=False),
    and the legend outside the plot on the right (when something is labelled)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=ROUND_STEPS, integer=integer_x))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=ROUND_STEPS, integer=integer_y))
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, loc="left", fontsize="medium")
    if grid:
        ax.grid(True, color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)


def save(fig, path, dpi=120):
    """Write the figure to `path` in the format its extension names, atomically; close it."""
    from mlkit.io.write import atomic_write

    fmt = plot_format(path)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight", metadata=UNDATED[fmt])
    finally:
        pyplot().close(fig)
    with atomic_write(path) as out:
        out.write(buffer.getvalue())
