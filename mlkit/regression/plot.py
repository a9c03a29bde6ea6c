"""regress's pictures (matplotlib, through mlkit.plots): the data with the fit, and an MLP's
weight matrices as heat maps with one colour bar."""

import numpy as np

MAX_POINTS = 5000  # points drawn, evenly spaced through the rows: a million dots hide nothing more


def fit_figure(fit, X, y):
    """One feature: y against x, the fitted curve over x's range. More: observed against
    predicted y, with the line where they are equal."""
    from mlkit import plots

    fig, (ax,) = plots.figure(width=6.0, height=4.0)
    rows = np.linspace(0, len(y) - 1, min(len(y), MAX_POINTS)).round().astype(int)
    y_name = fit.y_col or "y"
    if X.shape[1] == 1:
        xs = X[:, 0]
        grid = np.linspace(xs.min(), xs.max(), 200)
        ax.scatter(xs[rows], y[rows], s=8, color="C0", alpha=0.6, linewidths=0, label="data")
        ax.plot(grid, fit.predict(grid[:, None]), color="C3", linewidth=1.5, label="fit")
        labels = (fit.x_cols[0], y_name)
    else:
        predicted = fit.predict(X)
        ends = [min(predicted.min(), y.min()), max(predicted.max(), y.max())]
        ax.scatter(predicted[rows], y[rows], s=8, color="C0", alpha=0.6, linewidths=0, label="data")
        ax.plot(ends, ends, color="C3", linewidth=1.5, label="observed = predicted")
        labels = (f"predicted {y_name}", f"observed {y_name}")
    title = f"regress --method {fit.method}, n = {fit.n}"
    if "r2" in fit.details:
        title += f", R\N{SUPERSCRIPT TWO} = {fit.details['r2']:.4g}"
    plots.style(ax, xlabel=labels[0], ylabel=labels[1], title=title)
    return fig


def weights_figure(layers, features=None):
    """Each layer's weight matrix (rows: its inputs, columns: its neurons) side by side, on one
    colour scale symmetric about zero: red positive, blue negative, white zero. `features`
    names the first layer's rows."""
    from mlkit import plots

    mats = [np.asarray(layer["W"], float) for layer in layers]
    scale = max(float(np.abs(m).max()) for m in mats) or 1.0
    widths = [m.shape[1] for m in mats]
    fig, axes = plots.pyplot().subplots(1, len(mats), figsize=(min(2.5 + 0.4 * sum(widths), 14.0), 3.6), squeeze=False,
                                        layout="constrained", gridspec_kw={"width_ratios": widths})
    axes = list(axes[0])
    for i, (ax, m) in enumerate(zip(axes, mats)):
        image = ax.imshow(m, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest", aspect="auto")
        plots.style(ax, xlabel="neuron", ylabel="feature" if i == 0 else f"from layer {i}", grid=False,
                    title=f"layer {i + 1}: {m.shape[0]}\N{RIGHTWARDS ARROW}{m.shape[1]}")
        ax.set_xticks(_index_ticks(m.shape[1]))
        ax.set_yticks(_index_ticks(m.shape[0]))
        if i == 0 and features is not None and len(features) == m.shape[0] <= 20:  # more would overlap
            ax.set_yticks(range(m.shape[0]), labels=list(features))
        ax.spines[["top", "right"]].set_visible(True)
    fig.colorbar(image, ax=axes, label="weight", fraction=0.05, pad=0.02)
    return fig


def _index_ticks(count, most=6):
    """0, step, 2 step ... below `count`: a round step (1, 2 or 5 times a power of ten) giving
    at most `most` ticks."""
    step = next(s * 10**e for e in range(12) for s in (1, 2, 5) if count <= most * s * 10**e)
    return list(range(0, count, step))


def write_fit(fit, X, y, path):
    """fit_figure as PNG, SVG or PDF, by `path`'s extension."""
    from mlkit import plots

    plots.save(fit_figure(fit, X, y), path)


def write_weights(layers, path, features=None):
    """weights_figure as PNG, SVG or PDF, by `path`'s extension."""
    from mlkit import plots

    plots.save(weights_figure(layers, features), path)
