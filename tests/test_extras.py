"""The light core and the deep extra: without TensorFlow (`pip install .`), a command that runs
a network says in one line what to install, before any work, and exits 1; its --help and every
other command still work.

The processes here run with TensorFlow (and Keras, MTCNN) blocked by a finder at the head of
sys.meta_path, so these tests mean the same in the core environment and in the full one."""

import os
import subprocess
import sys

import pytest

from mlkit import samples

BLOCKED = ("tensorflow", "keras", "mtcnn", "tensorboard")
WITHOUT_TF = f"""
import sys


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
        return None


sys.meta_path.insert(0, NotInstalled())
from mlkit.cli import main

sys.argv[0] = "mlkit"
main()
"""
HINT = 'pip install "mlkit[deep]"'


def without_tf(*args, cwd=None):
    return subprocess.run([sys.executable, "-c", WITHOUT_TF, *map(str, args)], capture_output=True, cwd=cwd,
                          timeout=120)


@pytest.fixture
def files(tmp_path):
    """A photo, a volume, a CSV and an empty training folder, in tmp_path."""
    face = tmp_path / "face.jpg"
    face.write_bytes(open(samples.path("face"), "rb").read())
    t1 = tmp_path / "t1.nii.gz"
    t1.write_bytes(open(samples.path("t1"), "rb").read())
    (tmp_path / "data.csv").write_text("x,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(20)))
    (tmp_path / "run").mkdir()
    return tmp_path


DEEP = {
    "train-gan": ["train-gan", "face.jpg", "-c", "run/new", "--steps", "1"],
    "generate": ["generate", "-c", "run", "--grid", "2x2", "-o", "out.png"],
    "stylize": ["stylize", "face.jpg", "-s", "face.jpg", "-o", "out.png"],
    "compress train": ["compress", "train", "face.jpg", "-o", "out.keras"],
    "compress encode": ["compress", "encode", "m.keras", "face.jpg", "-o", "out.mlz"],
    "compress decode": ["compress", "decode", "m.keras", "c.mlz", "-o", "out.png"],
    "compress eval": ["compress", "eval", "m.keras", "face.jpg"],
    "crop-align": ["crop-align", "face.jpg", "-o", "out.png"],
    "regress mlp": ["regress", "data.csv", "--method", "mlp", "--save", "out.json"],
}


@pytest.mark.parametrize("name", list(DEEP))
def test_a_deep_command_without_tensorflow_says_what_to_install(files, name):
    before = sorted(os.listdir(files))
    proc = without_tf(*DEEP[name], cwd=files)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 1, proc.stderr.decode()
    assert len(lines) == 1 and lines[0].startswith(f"mlkit {name.split()[0]}") and HINT in lines[0], lines
    assert "TensorFlow" in lines[0]
    assert proc.stdout == b""
    assert sorted(os.listdir(files)) == before  # nothing written, no run folder made


def test_face_mode_also_points_to_the_modes_that_need_no_network(files):
    line = without_tf("crop-align", "face.jpg", "-o", "out.png", cwd=files).stderr.decode()
    assert "face mode needs TensorFlow and MTCNN" in line and "--mode seg, foreground and center" in line


@pytest.mark.parametrize("args", [["train-gan", "--help"], ["compress", "train", "--help"], ["stylize", "--help"],
                                  ["generate", "--help"], ["crop-align", "--help"], ["--help"]])
def test_help_works_without_tensorflow(args):
    proc = without_tf(*args)
    assert proc.returncode == 0 and b"Usage:" in proc.stdout, proc.stderr.decode()


def test_core_commands_and_crop_modes_run_without_tensorflow(files):
    info = without_tf("info", "t1.nii.gz", "--format", "json", cwd=files)
    assert info.returncode == 0 and b'"shape"' in info.stdout, info.stderr.decode()
    crop = without_tf("crop-align", "t1.nii.gz", "--mode", "center", "--crop", "40", "-o", "c.nii.gz", cwd=files)
    assert crop.returncode == 0 and (files / "c.nii.gz").exists(), crop.stderr.decode()
    fit = without_tf("regress", "data.csv", "--format", "json", cwd=files)
    assert fit.returncode == 0 and b'"intercept"' in fit.stdout, fit.stderr.decode()
