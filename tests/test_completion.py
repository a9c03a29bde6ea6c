"""Shell completion scripts: printed by `mlkit completion`, checked in, and working.

The scripts are click's generic ones (they call `mlkit` back with `_MLKIT_COMPLETE` set), so
their exact bytes follow click's version; what must hold is that each one calls mlkit back in
its shell's mode and that completion through a real shell returns mlkit's own commands.
"""

import os
import subprocess
import sys

import pytest

from conftest import run_mlkit
from mlkit.commands.completion import SHELLS, script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALLBACK = {"bash": "_MLKIT_COMPLETE=bash_complete", "zsh": "_MLKIT_COMPLETE=zsh_complete",
            "fish": "_MLKIT_COMPLETE=fish_complete"}
REGISTER = {"bash": "complete -o nosort -F _mlkit_completion mlkit", "zsh": "compdef _mlkit_completion mlkit",
            "fish": "complete --no-files --command mlkit"}


def checked_in(shell):
    with open(os.path.join(ROOT, "completions", f"mlkit.{shell}")) as f:
        return f.read()


@pytest.mark.parametrize("shell", SHELLS)
def test_checked_in_script_calls_mlkit_back(shell):
    text = checked_in(shell)
    assert CALLBACK[shell] in text, f"regenerate: mlkit completion {shell} > completions/mlkit.{shell}"
    assert REGISTER[shell] in text


@pytest.mark.parametrize("shell", SHELLS)
def test_generated_script_calls_mlkit_back(shell):
    text = script(shell)
    assert CALLBACK[shell] in text and REGISTER[shell] in text


def test_completion_command_prints_the_script():
    proc = run_mlkit("completion", "bash")
    assert proc.returncode == 0
    assert proc.stdout.decode() == script("bash")


def test_completion_completes_commands_and_ops():
    env = dict(os.environ, _MLKIT_COMPLETE="bash_complete", COMP_WORDS="mlkit transform ro", COMP_CWORD="2")
    proc = run_mlkit(env=env)
    assert "rotate" in proc.stdout.decode()


def test_checked_in_bash_script_completes_in_bash(tmp_path):
    # Source the checked-in script in a real bash and run its completion function; `mlkit` on
    # PATH is this interpreter's mlkit.
    shim = tmp_path / "mlkit"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mlkit "$@"\n')
    shim.chmod(0o755)
    probe = (f"source {os.path.join(ROOT, 'completions', 'mlkit.bash')}; "
             "COMP_WORDS=(mlkit transform ro); COMP_CWORD=2; _mlkit_completion mlkit; "
             'printf "%s\\n" "${COMPREPLY[@]}"')
    env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.split() == ["rotate"], out.stderr
