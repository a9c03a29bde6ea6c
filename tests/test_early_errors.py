"""An error that needs no network is said before TensorFlow loads: options, paths and a run's
saved settings are checked first, the network last.

Each command runs in its own process, which reports at exit whether TensorFlow was imported;
no timings (the figures are in the issue's closing note). The run folders are written by hand:
what is checked here is read before any weights are."""

import json
import os
import subprocess
import sys

import pytest

from mlkit import samples

pytestmark = pytest.mark.deep  # with TensorFlow installed, to show it is not loaded

PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("tensorflow imported\\n" if "tensorflow" in sys.modules else ""))
from mlkit.cli import main
sys.argv[0] = "mlkit"
main()
"""
RUN = {"kind": "gan", "config": {"image_size": 16, "channels": 1, "z_dim": 16, "gf_dim": 8, "df_dim": 8,
                                  "batch_size": 8, "seed": 4, "images": 40, "slice_axis": 2, "lr": 0.0002,
                                  "d_lr": None, "beta1": 0.5, "g_steps": 2, "label_smoothing": 0.1}}
MLP_RUN = {"kind": "regress-mlp", "config": {"x_cols": ["a", "b"], "y_col": "y", "rows": 20, "hidden": [4],
                                             "activation": "relu", "penalty": "l2", "alpha": 0.0001, "optimizer": "adam",
                                             "lr": 0.01, "batch_size": None, "shuffle": True, "seed": 1, "epochs": 2}}


def mlkit(*args, cwd, stdout=subprocess.PIPE):
    return subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], stdout=stdout, stderr=subprocess.PIPE,
                          cwd=cwd, timeout=120)


@pytest.fixture
def work(tmp_path):
    """A photo, a volume, an empty folder, a folder of other files, a GAN run (its
    run.json and an empty checkpoint at step 10), and a CSV with a regress MLP run whose
    metrics.jsonl is damaged."""
    face = tmp_path / "face.jpg"
    face.write_bytes(open(samples.path("face"), "rb").read())
    (tmp_path / "t1.nii.gz").write_bytes(open(samples.path("t1"), "rb").read())
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("not a run\n")
    run = tmp_path / "run"
    (run / "ckpt-00000010").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps(RUN))
    (tmp_path / "m.keras").write_bytes(b"PK\x03\x04 not read before the inputs")
    (tmp_path / "c.mlz").write_bytes(b"GIF89a not a container at all")
    (tmp_path / "h.mlz").write_bytes(_container_without_a_latent())
    (tmp_path / "d.csv").write_text("a,b,y\n" + "".join(f"{a},{a * a % 7},{2 * a + 1}\n" for a in range(20)))
    (tmp_path / "mlp").mkdir()
    (tmp_path / "mlp" / "run.json").write_text(json.dumps(MLP_RUN))
    (tmp_path / "mlp" / "metrics.jsonl").write_text('{"step": 1, "loss": 0.87}\n{"step": 2, "loss": "low"}\n')
    return tmp_path


def _container_without_a_latent():
    """A whole .mlz container (head, CRC) whose header, once inflated, lacks a field."""
    import struct

    from mlkit.compress import formats

    return formats._frame(2, "00" * 8, struct.pack("<I", 2) + b"{}")


def _before_tensorflow(proc, code, words):
    err = proc.stderr.decode()
    lines = err.splitlines()
    assert proc.returncode == code, err
    assert len(lines) == 1 and ": error: " in lines[0] and words in lines[0], err  # the probe adds no line
    return lines[0]


CASES = {
    "face mode on a volume": (["crop-align", "t1.nii.gz", "-o", "out/"], 1, "t1.nii.gz: face mode takes 2D photos"),
    "encode a missing input": (["compress", "encode", "m.keras", "missing.nii.gz", "-o", "c2.mlz"], 1,
                               "missing.nii.gz"),
    "decode a file that is no container": (["compress", "decode", "m.keras", "c.mlz", "-o", "out/"], 1,
                                           "c.mlz: not an .mlz container"),
    "train on an empty folder": (["train-gan", "empty", "-c", "new"], 1, "no images found in empty"),
    "train into other files": (["train-gan", "face.jpg", "-c", "notes"], 1, "notes holds other files"),
    "resume with another batch size": (["train-gan", "face.jpg", "-c", "run", "--image-size", "16", "--z-dim", "16",
                                        "--gf-dim", "8", "--df-dim", "8", "--batch-size", "4"], 1,
                                       "started with batch_size=8, not 4"),
    "a step not kept": (["generate", "-c", "run", "--step", "5", "-o", "g.png", "--grid", "2x2"], 1,
                        "no checkpoint at step 5 (kept: 10)"),
    "many samples into one file": (["generate", "-c", "run", "-n", "2", "-o", "g.nii.gz"], 2,
                                   "-n 2 makes 2 images, but -o g.nii.gz names one file"),
    "resume an MLP whose metrics are damaged": (["regress", "d.csv", "--method", "mlp", "--epochs", "2", "--hidden", "4",
                                                 "--seed", "1", "--checkpoint-dir", "mlp"], 1,
                                                "mlp/metrics.jsonl line 2: loss is not a number"),
    "decode a container whose inflated header is wrong": (["compress", "decode", "m.keras", "h.mlz", "-o", "out/"], 1,
                                                          "h.mlz: damaged .mlz container: header field latent is missing"),
    "stylize a missing picture": (["stylize", "nowhere.jpg", "-s", "face.jpg", "-o", "s.png",
                                   "--weights", "missing.h5"], 1, "nowhere.jpg: no such file"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_errors_that_need_no_network_come_before_tensorflow(work, name):
    args, code, words = CASES[name]
    before = sorted(os.listdir(work))
    _before_tensorflow(mlkit(*args, cwd=work), code, words)
    assert sorted(os.listdir(work)) == before


def test_generate_to_a_terminal_without_o_is_a_usage_error_like_view(work):
    import pty

    master, slave = pty.openpty()
    try:
        proc = mlkit("generate", "-c", "run", "--grid", "2x2", cwd=work, stdout=slave)
    finally:
        os.close(slave)
        os.close(master)
    _before_tensorflow(proc, 2, "give -o grid.png")
