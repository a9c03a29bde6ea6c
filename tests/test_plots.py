"""mlkit.plots: the format by extension, written atomically and the same bytes each time."""

import subprocess
import sys

import numpy as np
import pytest

from mlkit import plots
from mlkit.errors import UsageError

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}


def _figure():
    fig, (ax,) = plots.figure()
    x = np.linspace(0, 5.8, 30)
    ax.plot(x, np.sin(x), label="sin")
    plots.style(ax, xlabel="bits per pixel", ylabel="value")
    return fig


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_the_extension_chooses_the_format_and_the_bytes_repeat(ext, tmp_path):
    plots.save(_figure(), tmp_path / f"a.{ext.upper()}")
    plots.save(_figure(), tmp_path / f"b.{ext}")
    data = (tmp_path / f"a.{ext.upper()}").read_bytes()
    if ext == "svg":
        assert data.startswith(b"<?xml") and b"<svg" in data[:600]
    else:
        assert data.startswith(MAGIC[ext])
    assert data == (tmp_path / f"b.{ext}").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"a.{ext.upper()}", f"b.{ext}"]  # no temporary left


def test_round_ticks_and_the_legend_beside_the_axes():
    fig = _figure()
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert ticks == [0, 2, 4, 6]  # data to 5.8: not 1.93, 3.87, 5.80
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1
    plots.pyplot().close(fig)


def test_another_extension_is_a_usage_error_and_writes_nothing(tmp_path):
    with pytest.raises(UsageError, match="PNG, SVG or PDF"):
        plots.save(_figure(), tmp_path / "plot.jpg")
    assert list(tmp_path.iterdir()) == []


def test_importing_the_module_imports_no_matplotlib():
    code = "import sys, mlkit.plots; assert 'matplotlib' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
