"""The curves of a run from metrics.jsonl: both losses, and D's mean outputs on real and fake
images, each step faint and a running mean solid (matplotlib, through mlkit.plots)."""

import json

import numpy as np

PANELS = (("loss", ("d_loss", "g_loss")), ("D's mean output", ("d_real", "d_fake")))
COLOURS = {"d_loss": "C3", "g_loss": "C0", "d_real": "C2", "d_fake": "C1"}
LABELS = {"d_loss": "D loss", "g_loss": "G loss", "d_real": "D(real)", "d_fake": "D(G(z))"}


def read_losses(path):
    """{"step": [...], "d_loss": [...], "g_loss": [...], "d_real": [...], "d_fake": [...]}
    from a metrics.jsonl file."""
    from mlkit.deep.checkpoint import read_metrics

    columns = {"step": [], **{key: [] for _, keys in PANELS for key in keys}}
    for _, line in read_metrics(path):
        record = json.loads(line)  # checked by read_metrics: an object of finite numbers
        if all(key in record for key in columns):
            for key in columns:
                columns[key].append(float(record[key]))
    return {k: np.asarray(v) for k, v in columns.items()}


def smooth(values, window):
    """Running mean over `window` steps (shorter at the start)."""
    sums = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (sums[idx] - sums[lo]) / (idx - lo)


def window_for(count):
    """Steps in the running mean: a fiftieth of the run, at least 1."""
    return max(1, count // 50)


def draw(losses):
    """A matplotlib figure: the losses above, D's outputs below (0.5 marked: where D cannot
    tell real from fake), over the step."""
    from mlkit import plots

    fig, axes = plots.figure(rows=2, width=7.0, height=2.6)
    steps, window = losses["step"], window_for(len(losses["step"]))
    for ax, (ylabel, keys) in zip(axes, PANELS):
        for key in keys:
            ax.plot(steps, losses[key], color=COLOURS[key], linewidth=0.6, alpha=0.3)
            ax.plot(steps, smooth(losses[key], window), color=COLOURS[key], linewidth=1.5, label=LABELS[key])
    axes[1].axhline(0.5, color="0.6", linewidth=0.8, linestyle=":")
    axes[1].set_ylim(0, 1)
    note = f"faint: each step; solid: mean of {window} steps" if window > 1 else "each step"
    plots.style(axes[0], ylabel="loss", title=f"train-gan ({note})", integer_x=True)
    plots.style(axes[1], xlabel="step", ylabel="D's mean output", integer_x=True)
    return fig


def write(metrics_path, path):
    """The curves of the run whose metrics.jsonl is `metrics_path`, as PNG, SVG or PDF."""
    from mlkit import plots

    plots.save(draw(read_losses(metrics_path)), path)
