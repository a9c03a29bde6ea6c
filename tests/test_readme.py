"""Every `sh` example in README.md and in the pages under docs/ runs as written on the bundled
samples; every file a page links to is there."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


PAGES = ["README.md"] + sorted(os.path.join("docs", n) for n in os.listdir(os.path.join(ROOT, "docs")) if n.endswith(".md"))


def _text(page):
    with open(os.path.join(ROOT, page)) as f:
        return f.read()


def _blocks(page="README.md"):
    return re.findall(r"^```sh\n(.*?)^```", _text(page), flags=re.S | re.M)


def _examples():
    return [pytest.param(block, id=f"{page}: {block.strip().splitlines()[-1][:60]}") for page in PAGES for block in _blocks(page)]


def _runnable(block):
    """The block, with the `pip install ... &&` steps taken as done (mlkit is installed here)."""
    return re.sub(r"^pip install [^&\n]*(&& )?", "", block, flags=re.M)


def test_the_readme_has_examples():
    assert len(_blocks()) >= 6
    assert len(PAGES) >= 10 and sum(len(_blocks(p)) for p in PAGES[1:]) >= 10


@pytest.mark.parametrize("page", PAGES)
def test_what_a_page_links_to_is_there(page):
    folder = os.path.dirname(os.path.join(ROOT, page))
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", _text(page)):
        if "://" not in target:
            assert os.path.exists(os.path.join(folder, target)), f"{page} links to {target}, which is missing"


@pytest.mark.parametrize("block", _examples())
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
