"""Shell completion scripts: printed by `mlkit completion`, checked in, never stale."""

import os

import pytest

from conftest import run_mlkit
from mlkit.commands.completion import SHELLS, script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("shell", SHELLS)
def test_checked_in_completion_is_current(shell):
    path = os.path.join(ROOT, "completions", f"mlkit.{shell}")
    with open(path) as f:
        assert f.read() == script(shell), f"stale: run `mlkit completion {shell} > completions/mlkit.{shell}`"


def test_completion_command_prints_the_script():
    proc = run_mlkit("completion", "bash")
    assert proc.returncode == 0
    assert "_MLKIT_COMPLETE" in proc.stdout.decode()


def test_completion_completes_commands_and_ops():
    env = dict(os.environ, _MLKIT_COMPLETE="bash_complete", COMP_WORDS="mlkit transform ro", COMP_CWORD="2")
    proc = run_mlkit(env=env)
    assert "rotate" in proc.stdout.decode()
