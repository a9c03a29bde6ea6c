"""Every `sh` example in README.md runs as written on the bundled samples."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _blocks():
    text = open(os.path.join(ROOT, "README.md")).read()
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)


def _runnable(block):
    """The block, with the `pip install ... &&` steps taken as done (mlkit is installed here)."""
    return re.sub(r"^pip install [^&\n]*(&& )?", "", block, flags=re.M)


def test_the_readme_has_examples():
    assert len(_blocks()) >= 6


@pytest.mark.parametrize("block", _blocks(), ids=lambda b: b.strip().splitlines()[-1][:60])
def test_readme_example_runs(block, tmp_path):
    shim = tmp_path / "bin" / "mlkit"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mlkit "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    script = "set -euo pipefail\n" + _runnable(block).replace("python -m pytest -q", "true  # the suite is running")
    proc = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
