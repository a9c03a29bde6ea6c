"""The scree plot of a face space (matplotlib, through mlkit.plots): each eigenface's share of
the training variance as a bar, the running total as a line, and the k the model keeps."""

import numpy as np


def scree(model):
    """A matplotlib figure of `model`'s explained variance ratios (eigenvalue / their sum)."""
    from matplotlib.ticker import PercentFormatter

    from mlkit import plots

    ratios = model.eigenvalues / model.eigenvalues.sum()
    share = np.cumsum(ratios)
    order = np.arange(1, len(ratios) + 1)
    fig, (ax,) = plots.figure(width=6.5, height=3.6)
    ax.bar(order, ratios, width=0.8, color="C0", linewidth=0, label="each eigenface")
    ax.plot(order, share, color="C1", linewidth=1.5, marker="." if len(order) <= 60 else None, label="cumulative")
    ax.axvline(model.k, color="C3", linewidth=1.0, linestyle="--", label=f"k = {model.k} kept: {share[model.k - 1]:.1%}")
    ax.set_xlim(0, len(order) + 1)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    plots.style(ax, xlabel="eigenface", ylabel="share of the variance", title="eigenfaces scree", integer_x=True)
    return fig


def write_scree(model, path):
    """scree as PNG, SVG or PDF, by `path`'s extension."""
    from mlkit import plots

    plots.save(scree(model), path)
