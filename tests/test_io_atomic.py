"""Atomic writes: a failed or killed write never leaves a partial file or destroys an old one."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mlkit.io import Image, write_image
from mlkit.io import nifti
from mlkit.io.write import atomic_write


def test_failure_mid_write_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.nii.gz"
    target.write_bytes(b"precious")

    def broken_encode(img, version=1):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(nifti, "encode", broken_encode)
    with pytest.raises(RuntimeError):
        write_image(Image(data=np.zeros((2, 2, 2))), str(target))
    assert target.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["out.nii.gz"]  # the temporary file is gone


def test_interrupt_inside_atomic_write_keeps_old_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(str(target)) as out:
            out.write(b"new but incomplete")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_output_permissions_follow_umask(tmp_path):
    write_image(Image(data=np.zeros((2, 2), np.uint8)), str(tmp_path / "a.png"))
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(tmp_path / "a.png").st_mode & 0o777 == 0o666 & ~mask


def test_killed_process_leaves_old_file(tmp_path):
    """SIGKILL while a large volume is being written: the old file is still whole."""
    target = tmp_path / "big.nii"
    target.write_bytes(b"old contents")
    script = (
        "import numpy as np, sys\n"
        "from mlkit.io import Image, write_image\n"
        "import mlkit.io.write as w\n"
        "real = w._write_nifti\n"
        "def slow(out, img):\n"
        "    out.write(b'x' * 1000); out.flush(); print('writing', flush=True)\n"
        "    import time; time.sleep(30)\n"
        "w._write_nifti = slow\n"
        f"write_image(Image(data=np.zeros((8, 8, 8))), {str(target)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert target.read_bytes() == b"old contents"
    leftovers = [n for n in os.listdir(tmp_path) if n != "big.nii"]
    assert all(n.startswith(".big.nii.") and n.endswith(".part") for n in leftovers)


def test_sigterm_cleans_up_and_keeps_old_file(tmp_path, anatomical):
    """SIGTERM (a cluster job's time limit) unwinds: no temporary file, old output intact."""
    target = tmp_path / "out.nii.gz"
    target.write_bytes(b"old")
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlkit", "transform", "negative", str(fifo), "-o", str(target)],
        stderr=subprocess.PIPE,
    )
    with open(fifo, "wb") as feed:
        data = open(anatomical, "rb").read()
        feed.write(data[:1000])  # the reader now waits for the rest
        feed.flush()
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 130
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["in.fifo", "out.nii.gz"]


@pytest.mark.parametrize("code, words", [(28, "no space left"), (13, "permission denied"), (30, "the file system is read-only")])
def test_write_errors_name_the_path_and_the_fix(tmp_path, monkeypatch, code, words):
    from mlkit.errors import MlkitError

    target = tmp_path / "out.nii"
    target.write_bytes(b"precious")

    def fail(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(MlkitError) as caught:
        write_image(Image(data=np.zeros((2, 2, 2))), str(target))
    assert str(caught.value).startswith(f"cannot write {target}: {words}") and "(" in str(caught.value)
    assert target.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["out.nii"]


def test_output_below_a_file_is_one_clear_line(tmp_path):
    from conftest import run_mlkit

    (tmp_path / "afile").write_text("x")
    proc = run_mlkit("sample", "-o", tmp_path / "afile" / "t1.nii.gz")
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        f"mlkit sample: error: cannot write {tmp_path / 'afile' / 't1.nii.gz'}: "
        "a part of the path is a file, not a folder (check the -o path)"
    ]


def test_the_umask_is_read_as_set_and_never_changed(tmp_path, monkeypatch):
    """new_file_mode reads the umask without setting it (another thread may be creating a file)."""
    import mlkit.io.write as write

    old = os.umask(0o027)
    try:
        calls = []
        monkeypatch.setattr(write.os, "umask", lambda mask: calls.append(mask) or 0o027)
        mode = write.new_file_mode()
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert mode == 0o640
    assert calls == [] or not os.path.exists("/proc/self/status")  # Linux shows it; elsewhere the old way
