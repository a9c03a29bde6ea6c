"""Progress bars read in an 80 x 24 terminal: the bar, the count and the time left always show;
the loss terms give way. Run under a real pseudo-terminal of 80 columns."""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios

import pytest

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
BAR = re.compile(r"[━╸╺]{8,}")  # rich's bar: at least 8 cells of it
COUNT = re.compile(r"\b(\d+)/(\d+)\b")
TIME_LEFT = re.compile(r"\b\d+:\d\d:\d\d\b")


def under_pty(argv, columns=80, rows=24, timeout=300, env=None):
    """Run argv with stderr on a pseudo-terminal of columns x rows; the lines drawn there
    (escape sequences removed) and the exit status."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = dict(os.environ, **(env or {}), COLUMNS=str(columns), LINES=str(rows), TERM="xterm-256color")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child, env=env)
    os.close(child)
    shown = b""
    while select.select([main], [], [], timeout)[0]:
        try:
            chunk = os.read(main, 1 << 16)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    code = proc.wait(timeout)
    return [line for line in re.split(r"[\r\n]+", ANSI.sub("", shown.decode(errors="replace"))) if line.strip()], code


def bar_lines(lines):
    """The drawn lines that hold the bar, a count and the time left."""
    return [line for line in lines if BAR.search(line) and COUNT.search(line) and TIME_LEFT.search(line)]


def _assert_readable(lines, label, total, columns=80):
    """Lines starting with `label` fit `columns`, and some show the bar, `total` (None: any)
    in the count, and a time left that is known."""
    drawn = [line for line in lines if line.lstrip().startswith(label)]
    assert drawn, lines[-5:]
    assert all(len(line.rstrip()) <= columns for line in drawn)
    full = bar_lines(drawn)
    assert full, drawn[-3:]
    assert all(int(COUNT.search(line)[2]) == (total or int(COUNT.search(full[0])[2])) for line in full)
    assert any(TIME_LEFT.search(line)[0] != "-:--:--" for line in full)


# The labels and loss terms of the three training commands, as their loops report them.
COMMANDS = {
    "train-gan": {"d_loss": 1.3312, "g_loss": 0.81234, "d_real": 0.51234, "d_fake": 0.48765},
    "stylize": {"loss": 1234567.8, "content": 123456.7, "style": 1111111.1, "tv": 1234.5},
    "compress train (conv)": {"loss": 0.012345, "mse": 0.0123, "psnr": 19.087},
}

SCRIPT = """
import sys, time
from mlkit.deep.loop import progress
label, total, record = sys.argv[1], int(sys.argv[2]), eval(sys.argv[3])
with progress(total, 0, label) as show:
    for done in range(1, total + 1):
        time.sleep(0.05)
        show(done, record, 12.3, done / 7)
"""


@pytest.mark.parametrize("label", COMMANDS)
def test_the_training_bar_fits_80_columns(label):
    lines, code = under_pty([sys.executable, "-c", SCRIPT, label, "40", repr(COMMANDS[label])])
    assert code == 0
    _assert_readable(lines, label, 40)
    assert any("d_loss 1.33" in line or "loss " in line for line in bar_lines(lines))  # the first term fits


def test_at_120_columns_every_term_shows():
    record = COMMANDS["train-gan"]
    lines, code = under_pty([sys.executable, "-c", SCRIPT, "train-gan", "30", repr(record)], columns=120)
    assert code == 0
    assert any(all(k in line for k in record) for line in bar_lines(lines))


def test_terms_give_way_from_the_end():
    from mlkit.deep.loop import terms
    from mlkit.ui import fit_terms

    shown = terms({"d_loss": 1.3312, "g_loss": 0.8}, 12.34, 4.5)
    assert shown == ["d_loss 1.33", "g_loss 0.8", "epoch 4.50", "12.3 steps/s"]
    assert fit_terms(shown, 100) == "d_loss 1.33  g_loss 0.8  epoch 4.50  12.3 steps/s"
    assert fit_terms(shown, 30) == "d_loss 1.33  g_loss 0.8"
    assert fit_terms(shown, 5) == ""


def test_the_batch_bar_fits_80_columns():
    script = ("import time\nfrom mlkit import ui\nwith ui.progress(25, 'transform') as advance:\n"
              "    for _ in range(25):\n        time.sleep(0.05); advance()\n")
    lines, code = under_pty([sys.executable, "-c", script])
    assert code == 0
    _assert_readable(lines, "transform", 25)


@pytest.mark.deep
def test_train_gan_in_an_80_column_terminal(tmp_path):
    """The real command, tiny: 40 steps of a 16 px DCGAN on 16 of scikit-image's LFW faces."""
    import cv2
    import numpy as np
    import skimage.data

    faces = tmp_path / "faces"
    faces.mkdir()
    for i, face in enumerate(skimage.data.lfw_subset()[:16]):
        cv2.imwrite(str(faces / f"f{i:02d}.png"), np.rint(face * 255).astype(np.uint8))
    argv = [sys.executable, "-m", "mlkit", "train-gan", str(faces), "-c", str(tmp_path / "run"), "--image-size", "16",
            "--gf-dim", "8", "--df-dim", "8", "--z-dim", "16", "--batch-size", "8", "--steps", "40",
            "--sample-every", "1000", "--device", "cpu", "--seed", "1"]
    lines, code = under_pty(argv)
    assert code == 0, lines[-3:]
    _assert_readable(lines, "train-gan", 40)


@pytest.mark.deep
def test_stylize_in_an_80_column_terminal(tmp_path):
    """The real command: 30 iterations at 32 px with a random-weight VGG19 file (no download)."""
    from mlkit.samples import path
    from mlkit.style import weights

    weights.write(str(tmp_path / weights.FILE), weights.random(0))
    argv = [sys.executable, "-m", "mlkit", "stylize", path("face"), "--style", path("document"), "--size", "32",
            "--iterations", "30", "--stop-delta", "0", "--scales", "1", "--weights", str(tmp_path / weights.FILE),
            "--device", "cpu", "--seed", "1", "-o", str(tmp_path / "out.png")]
    lines, code = under_pty(argv)
    assert code == 0, lines[-3:]
    _assert_readable(lines, "stylize", 30)


@pytest.mark.deep
def test_compress_train_in_an_80_column_terminal(tmp_path):
    """The real command: 6 epochs of 6 steps, a dense autoencoder on 96 of scikit-learn's digits."""
    import cv2
    import numpy as np
    from sklearn.datasets import load_digits

    digits = tmp_path / "digits"
    digits.mkdir()
    for i, image in enumerate(load_digits().images[:96]):
        cv2.imwrite(str(digits / f"d{i:03d}.png"), np.rint(image / 16 * 255).astype(np.uint8))
    argv = [sys.executable, "-m", "mlkit", "compress", "train", str(digits), "-o", str(tmp_path / "m.keras"),
            "--kind", "conv", "--latent", "8", "--size", "16x16", "--epochs", "6", "--batch-size", "16",
            "--seed", "1", "--device", "cpu"]
    lines, code = under_pty(argv)
    assert code == 0, lines[-3:]
    _assert_readable(lines, "compress train (conv)", None)  # steps: epochs x batches of the training share
