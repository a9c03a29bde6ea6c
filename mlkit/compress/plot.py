"""The rate-distortion plot: bits per pixel against PSNR, the mean of per-image PSNRs on the
left and the pooled PSNR on the right (mlkit.plots: PNG, SVG or PDF by extension)."""

import math

COLOURS = {"mlkit": "#d62728", "jpeg": "#1f77b4", "webp": "#2ca02c", "avif": "#9467bd", "jxl": "#ff7f0e"}
LABELS = {"mlkit": "mlkit", "jpeg": "JPEG", "webp": "WebP", "avif": "AVIF", "jxl": "JPEG XL"}


def draw(path, ours, curves, title=None):
    """ours: [(bpp, mean psnr, pooled psnr)]; curves: codec -> [(quality, bpp, mean, pooled)]."""
    from mlkit import plots

    plots.plot_format(path)
    series = {"mlkit": ours, **{n: [p[1:] for p in pts] for n, pts in curves.items()}}
    top = max(p[0] for p in ours) * 1.6
    fig, axes = plots.pyplot().subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, col, label in ((axes[0], 1, "mean of per-image PSNR (dB)"), (axes[1], 2, "pooled PSNR (dB)")):
        for name, pts in series.items():
            pts = sorted(p for p in pts if math.isfinite(p[col]) and p[0] <= top)
            ax.plot([p[0] for p in pts], [p[col] for p in pts], marker="o", ms=5 if name == "mlkit" else 3,
                    lw=2.2 if name == "mlkit" else 1.2, color=COLOURS.get(name, "k"), label=LABELS.get(name, name))
        ax.set_xlim(left=0)
        plots.style(ax, xlabel="bits per pixel (headers once per set)", ylabel=label)
    axes[0].get_legend().remove()  # one legend, beside the right panel
    axes[1].yaxis.set_tick_params(labelleft=True)
    if title:
        fig.suptitle(title)
    plots.save(fig, path)
