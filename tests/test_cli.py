"""The CLI contract: lazy --help, one-line errors, exit codes, no bytes to a terminal, quiet | head."""

import os
import pty
import subprocess
import sys

import pytest

from conftest import run_mlkit

HEAVY = ("numpy", "scipy", "nibabel", "cv2", "tensorflow", "keras", "rich")


def _help_invocations():
    from mlkit.cli import COMMANDS

    return [["--help"], ["-h"], ["transform", "rotate", "--help"], ["homography", "warp", "--help"]] + [
        [name, "--help"] for name in COMMANDS
    ]


@pytest.mark.parametrize("args", _help_invocations())
def test_help_imports_nothing_heavy(args):
    code = (
        "import sys\n"
        "from mlkit.cli import cli\n"
        f"try:\n    cli.main({args!r}, prog_name='mlkit')\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout


def test_help_lists_every_registered_command(invoke):
    from mlkit.cli import COMMANDS

    out = invoke("--help").output
    for name in COMMANDS:
        assert name in out
    assert "Examples:" in out


def test_every_command_help_has_examples(invoke):
    from mlkit.cli import COMMANDS, cli
    import click

    ctx = click.Context(cli)
    for name in COMMANDS:
        cmd = cli.get_command(ctx, name)
        helps = [invoke(name, "--help").output]
        if isinstance(cmd, click.Group):
            helps += [invoke(name, sub, "--help").output for sub in cmd.list_commands(ctx)]
        for text in helps:
            assert "Example" in text, text


def test_version(invoke):
    from mlkit import __version__

    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_usage_error_is_one_line_exit_2():
    proc = run_mlkit("transform", "rotate", "x.nii")
    assert proc.returncode == 2
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("mlkit transform rotate: error: Missing option '--angle'")


def test_unknown_command_exit_2():
    proc = run_mlkit("frobnicate")
    assert proc.returncode == 2 and b"No such command" in proc.stderr


def test_data_error_is_one_line_exit_1(tmp_path):
    bad = tmp_path / "bad.nii"
    bad.write_text("hello, I am text")
    proc = run_mlkit("transform", "negative", bad, "-o", tmp_path / "out.nii")
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "Traceback" not in err
    assert err.startswith("mlkit transform negative: error: ")
    assert "not a NIfTI-1/2 single-file image" in err
    assert not (tmp_path / "out.nii").exists()


def test_debug_shows_traceback(tmp_path, monkeypatch):
    code = (
        "import mlkit.io.batch as b\n"
        "def boom(*a, **k): raise ZeroDivisionError('boom')\n"
        "b.expand_inputs = boom\n"
        "from mlkit.cli import cli\n"
        "cli.main(['{flag}', 'transform', 'negative', 'x.nii', '-o', 'y.nii'], prog_name='mlkit')\n"
    )
    quiet = subprocess.run([sys.executable, "-c", code.format(flag="-q")], capture_output=True, text=True)
    assert quiet.returncode == 1
    assert quiet.stderr.strip() == (
        "mlkit transform negative: error: internal error: ZeroDivisionError: boom (rerun with --debug for the traceback, and report it)"
    )
    loud = subprocess.run([sys.executable, "-c", code.format(flag="--debug")], capture_output=True, text=True)
    assert "Traceback" in loud.stderr and loud.returncode == 1


def test_refuses_to_write_image_bytes_to_a_terminal(anatomical):
    main, replica = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "mlkit", "transform", "negative", anatomical],
        stdout=replica,
        stderr=subprocess.PIPE,
    )
    os.close(replica)
    os.close(main)
    assert proc.returncode == 1
    assert b"refusing to write image data to a terminal" in proc.stderr


def test_closed_stdout_ends_quietly(anatomical, tmp_path):
    # 40 images into `head -c 100`: the writer stops, exit 0, no traceback.
    big = tmp_path / "many.nii"
    with open(big, "wb") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "mlkit", "transform", "negative", anatomical, "-o", "-"],
            stdout=subprocess.PIPE,
            check=True,
        )
        out.write(proc.stdout * 40)
    shell = subprocess.run(
        f"set -o pipefail; {sys.executable} -m mlkit transform negative {big} -o - | head -c 100 > /dev/null",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
    )
    assert shell.returncode == 0
    assert shell.stderr == b""


def test_quiet_silences_warnings(tmp_path):
    import numpy as np

    from mlkit.io import Image, write_image

    write_image(Image(data=np.ones((4, 4, 4), np.float32)), str(tmp_path / "flat.nii"))
    loud = run_mlkit("transform", "normalize", tmp_path / "flat.nii", "-o", tmp_path / "n.nii")
    quiet = run_mlkit("-q", "transform", "normalize", tmp_path / "flat.nii", "-o", tmp_path / "n.nii")
    assert b"warning: the image is constant" in loud.stderr
    assert quiet.stderr == b"" and quiet.returncode == 0


def _quiet_cases(tmp):
    (tmp / "fit.csv").write_text("x,y\n" + "".join(f"{i},{3 * i - 1}\n" for i in range(10)) + "7,\n")
    (tmp / "new.csv").write_text("x\n1\n2\n")
    t1 = tmp / "t1.nii.gz"
    return {
        "sample": (["sample", "t1", "-o", t1], False),
        "augment": (["augment", t1, "-n", "2", "--seed", "1", "-o", f"{tmp}/aug/"], False),
        "crop-align": (["crop-align", t1, "--mode", "center", "--crop", "20", "-o", f"{tmp}/crop/"], False),
        "regress fit and predict": (["regress", tmp / "fit.csv", "--dropna", "--predict", tmp / "new.csv"], True),
    }


def test_quiet_leaves_stdout_to_data_and_stderr_empty(tmp_path):
    """Summaries and notes go to stderr, and -q silences them; stdout keeps only the data."""
    for name, (args, data_out) in _quiet_cases(tmp_path).items():
        loud = run_mlkit(*args)
        quiet = run_mlkit("-q", *args)
        assert quiet.returncode == 0 and quiet.stderr == b"", (name, quiet.stderr)
        assert quiet.stdout == loud.stdout and bool(quiet.stdout) == data_out, name
    assert b"skipped 1 rows" in loud.stderr  # the regress summary the quiet run left out


def test_python_dash_m_works():
    proc = run_mlkit("--help")
    assert proc.returncode == 0 and b"Commands:" in proc.stdout


def test_progress_goes_to_a_terminal_stderr_never_to_stdout(anatomical, example4d, tmp_path):
    import json

    main, replica = pty.openpty()
    out = tmp_path / "stream.nii"
    with open(out, "wb") as sink:
        proc = subprocess.run(
            [sys.executable, "-m", "mlkit", "transform", "negative", anatomical, example4d, "-o", "-"],
            stdout=sink,
            stderr=replica,
        )
    os.close(replica)
    os.close(main)
    assert proc.returncode == 0
    facts = json.loads(run_mlkit("info", out, "--json").stdout)
    assert [f["name"] for f in facts] == ["anatomical", "example4d"]  # stdout held the images only
