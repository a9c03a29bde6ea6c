"""The rate-distortion plot: bits per pixel against PSNR, the mean of per-image PSNRs on the
left and the pooled PSNR on the right; matplotlib (Agg), PNG, SVG or PDF by extension."""

import math
import os

COLOURS = {"mlkit": "#d62728", "jpeg": "#1f77b4", "webp": "#2ca02c", "avif": "#9467bd", "jxl": "#ff7f0e"}
LABELS = {"mlkit": "mlkit", "jpeg": "JPEG", "webp": "WebP", "avif": "AVIF", "jxl": "JPEG XL"}
FORMATS = (".png", ".svg", ".pdf")


def draw(path, ours, curves, title=None):
    """ours: [(bpp, mean psnr, pooled psnr)]; curves: codec -> [(quality, bpp, mean, pooled)]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlkit.errors import UsageError
    from mlkit.io.write import atomic_write

    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise UsageError(f"--plot {path}: give a .png, .svg or .pdf file")
    series = {"mlkit": ours, **{n: [p[1:] for p in pts] for n, pts in curves.items()}}
    top = max(p[0] for p in ours) * 1.6
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True, constrained_layout=True)
    for ax, col, label in ((axes[0], 1, "mean of per-image PSNR (dB)"), (axes[1], 2, "pooled PSNR (dB)")):
        for name, pts in series.items():
            pts = sorted(p for p in pts if math.isfinite(p[col]) and p[0] <= top)
            ax.plot([p[0] for p in pts], [p[col] for p in pts], marker="o", ms=5 if name == "mlkit" else 3,
                    lw=2.2 if name == "mlkit" else 1.2, color=COLOURS.get(name, "k"), label=LABELS.get(name, name))
        ax.set_xlabel("bits per pixel (headers once per set)")
        ax.set_ylabel(label)
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    axes[1].yaxis.set_tick_params(labelleft=True)
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    if title:
        fig.suptitle(title)
    with atomic_write(path) as out:
        fig.savefig(out, format=ext[1:], dpi=100)
    plt.close(fig)
