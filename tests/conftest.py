import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner

from mlkit.cli import cli

NIB_DATA = os.path.join(os.path.dirname(nib.__file__), "tests", "data")


@pytest.fixture
def nib_data():
    return NIB_DATA


@pytest.fixture
def anatomical():
    return os.path.join(NIB_DATA, "anatomical.nii")


@pytest.fixture
def example4d():
    return os.path.join(NIB_DATA, "example4d.nii.gz")


@pytest.fixture
def camera_png(tmp_path):
    import cv2
    import skimage.data

    path = tmp_path / "camera.png"
    cv2.imwrite(str(path), skimage.data.camera())
    return str(path)


@pytest.fixture
def astronaut_png(tmp_path):
    import cv2
    import skimage.data

    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), skimage.data.astronaut()[:, :, ::-1])  # OpenCV writes BGR
    return str(path)


def run_mlkit(*args, stdin=None, check=False, cwd=None, env=None):
    """mlkit in a real process; returns CompletedProcess with bytes stdout/stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlkit", *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=env,
    )
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr.decode())
    return proc


def pipeline(*commands, cwd=None):
    """`mlkit a | mlkit b | ...` through real processes; returns (returncodes, stdout, stderrs)."""
    import tempfile

    procs, logs = [], []
    previous = None
    for args in commands:
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlkit", *map(str, args)],
            stdin=previous.stdout if previous else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=cwd,
        )
        if previous:
            previous.stdout.close()  # the next process owns the pipe now
        procs.append(proc)
        logs.append(log)
        previous = proc
    out, _ = procs[-1].communicate()
    codes = [p.wait() for p in procs]
    errs = []
    for log in logs:
        log.seek(0)
        errs.append(log.read().decode())
        log.close()
    return codes, out, errs


@pytest.fixture
def invoke():
    """CliRunner on the root group; stderr kept apart from stdout."""

    def call(*args, input=None):
        return CliRunner().invoke(cli, [str(a) for a in args], input=input)

    return call


def load(path):
    img = nib.load(str(path))
    return np.asanyarray(img.dataobj), img.affine, img.header


# A child's ru_maxrss includes its parent's size at fork (pytest may hold TensorFlow by then),
# so a small fresh interpreter starts the command and reports what wait4 says of it.
_MEASURE = """import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
"""


def measured(args, cwd, env=None):
    """Run `mlkit ARGS` in `cwd`: (exit code, stderr, CPU seconds, peak RSS in MiB) of that process."""
    usage = os.path.join(str(cwd), ".usage.txt")
    proc = subprocess.run([sys.executable, "-c", _MEASURE, usage, sys.executable, "-m", "mlkit", *map(str, args)],
                          cwd=cwd, capture_output=True, env=env)
    with open(usage) as f:
        code, max_kib, cpu_s = (float(v) for v in f.read().split())
    os.unlink(usage)
    return int(code), proc.stderr.decode(), cpu_s, max_kib / 1024


# The tests that need the deep extra (TensorFlow): whole files here, single tests marked
# @pytest.mark.deep in their own file. Where TensorFlow is not installed (`pip install .`
# without [deep]) they are deselected, never skipped, and the summary says how many; the full
# environment runs them all.
DEEP_FILES = {"test_gan.py", "test_compress.py", "test_compress_rd.py", "test_compress_hyper.py", "test_deep.py", "test_stylize.py",
              "test_stylize_fast.py", "test_regress_mlp.py", "test_readme.py"}


def tensorflow_installed():
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def pytest_ignore_collect(collection_path, config):
    """Without TensorFlow, the deep files are not even imported (some import it at the top)."""
    if collection_path.name in DEEP_FILES and not tensorflow_installed():
        config._mlkit_deep_files = getattr(config, "_mlkit_deep_files", set()) | {collection_path.name}
        return True  # (pytest may ask twice for one file: counted by name)
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in DEEP_FILES:
            item.add_marker(pytest.mark.deep)
    if tensorflow_installed():
        return
    deep = [item for item in items if item.get_closest_marker("deep")]
    if deep:
        config.hook.pytest_deselected(items=deep)
        items[:] = [item for item in items if not item.get_closest_marker("deep")]
        config._mlkit_deep_deselected = len(deep)


def pytest_terminal_summary(terminalreporter, config):
    tests, files = getattr(config, "_mlkit_deep_deselected", 0), len(getattr(config, "_mlkit_deep_files", ()))
    if tests or files:
        terminalreporter.write_line(f"TensorFlow is not installed: {files} test files and {tests} more tests "
                                    "that need it were left out (pip install \".[deep]\" runs them)")
