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


# Tab after a partial file name offers the files (and only folders where a folder is asked for).
FILES = ("t1.nii.gz", "t1.png", "t1_seg.nii.gz", "t1_mask.nii.gz", "runs.txt")
FOLDERS = ("runs_a", "runs_b")
CASES = [
    ("mlkit view t1", {"t1.nii.gz", "t1.png", "t1_seg.nii.gz", "t1_mask.nii.gz"}, set()),
    ("mlkit info t1.", {"t1.nii.gz", "t1.png"}, {"t1_seg.nii.gz"}),
    ("mlkit view x.nii --overlay t1_", {"t1_seg.nii.gz", "t1_mask.nii.gz"}, {"t1.png"}),
    ("mlkit transform log x.nii -o t1.", {"t1.nii.gz", "t1.png"}, {"t1_mask.nii.gz"}),
    ("mlkit stylize x.png -s y.png --weights t1_", {"t1_seg.nii.gz", "t1_mask.nii.gz"}, set()),
    ("mlkit stylize t1.", {"t1.nii.gz", "t1.png"}, {"t1_mask.nii.gz"}),  # the default mode's CONTENT
    ("mlkit stylize ap", {"apply"}, {"t1.png"}),
    ("mlkit train-gan x/ -c runs", {"runs_a", "runs_b"}, {"runs.txt"}),
    ("mlkit sample f", {"face", "faces", "fmri"}, {"t1"}),
]


@pytest.fixture
def folder(tmp_path):
    """Files to complete, and `mlkit` on PATH running this interpreter's mlkit."""
    work = tmp_path / "work"
    work.mkdir()
    for name in FILES:
        (work / name).write_bytes(b"")
    for name in FOLDERS:
        (work / name).mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "mlkit"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mlkit "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", HOME=str(tmp_path), TERM="dumb")
    return work, env


def _words(line):
    """What each shell is given: the words, the index of the one being completed."""
    words = line.split()
    return words, len(words) - 1


@pytest.mark.parametrize("line,offered,not_offered", CASES)
def test_bash_completion_function_offers_paths_and_samples(folder, line, offered, not_offered):
    work, env = folder
    words, cword = _words(line)
    probe = (f"source {os.path.join(ROOT, 'completions', 'mlkit.bash')}; "
             f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={cword}; _mlkit_completion mlkit; "
             'printf "%s\\n" "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "--norc", "-c", probe], capture_output=True, text=True, timeout=120, env=env,
                         cwd=work)
    got = set(out.stdout.split())
    assert offered <= got and not got & not_offered, (got, out.stderr)


def _interactive(argv, setup, line, expected, env, cwd, tab="\t"):
    """Type `line` and Tab into an interactive shell on a pseudo-terminal; the screen after it."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True)
    os.close(slave)

    def read_until(done, timeout):
        seen, end = b"", time.monotonic() + timeout
        while time.monotonic() < end and not done(seen.decode(errors="replace")):
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
        return seen.decode(errors="replace")

    try:
        os.write(master, (setup + "; echo READ''Y\n").encode())
        read_until(lambda text: "READY" in text, 60)
        os.write(master, (line + tab).encode())
        screen = read_until(lambda text: all(name in text for name in expected), 120)
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    return screen


def _shell(name):
    import shutil

    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed here (apt-get install {name}); bash is tested regardless")


@pytest.mark.parametrize("line,offered,not_offered", CASES[:4])
def test_bash_readline_completes_file_names(folder, line, offered, not_offered):
    work, env = folder
    setup = (f"PS1='$ '; source {os.path.join(ROOT, 'completions', 'mlkit.bash')}; "
             "bind 'set show-all-if-ambiguous on'; bind 'set bell-style none'")
    screen = _interactive(["bash", "--norc", "--noprofile", "-i"], setup, line, offered, env, work)
    after = screen.split(line.split()[-1], 1)[-1]
    assert all(name in after for name in offered), screen


@pytest.mark.parametrize("line,offered,not_offered", CASES[:4])
def test_zsh_completes_file_names(folder, line, offered, not_offered):
    _shell("zsh")
    work, env = folder
    setup = f"PS1='%% '; autoload -Uz compinit; compinit -u -D; source {os.path.join(ROOT, 'completions', 'mlkit.zsh')}"
    screen = _interactive(["zsh", "-f", "-i"], setup, line, offered, env, work)
    after = screen.split(line.split()[-1], 1)[-1]
    assert all(name in after for name in offered), screen


@pytest.mark.parametrize("line,offered,not_offered", CASES)
def test_fish_completes_file_names_and_samples(folder, line, offered, not_offered):
    _shell("fish")
    work, env = folder
    probe = f"source {os.path.join(ROOT, 'completions', 'mlkit.fish')}; complete -C '{line}'"
    out = subprocess.run(["fish", "--no-config", "-c", probe], capture_output=True, text=True, timeout=120, env=env,
                         cwd=work)
    got = {row.split("\t")[0].rstrip("/") for row in out.stdout.splitlines()}
    assert offered <= got and not got & not_offered, (got, out.stderr)
