"""Batch runs: folders, globs, shards, jobs, and one bad input not stopping the rest."""

import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import time

import nibabel as nib
import numpy as np
import pytest

from conftest import run_mlkit
from mlkit.io import Image, read_image, write_image
from mlkit.errors import UsageError
from mlkit.io.batch import expand_inputs, parse_shard, select_shard


@pytest.fixture
def volumes(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for k in range(5):
        write_image(Image(data=rng.integers(0, 1000, (6, 7, 5)).astype(np.int16)), str(folder / f"v{k}.nii.gz"))
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_expand_folder_glob_and_files(volumes):
    assert [os.path.basename(p) for p in expand_inputs([str(volumes)])] == [f"v{k}.nii.gz" for k in range(5)]
    assert len(expand_inputs([str(volumes / "v[13].nii.gz")])) == 2
    assert expand_inputs(["-", str(volumes / "v0.nii.gz")]) == ["-", str(volumes / "v0.nii.gz")]
    with pytest.raises(UsageError):
        expand_inputs(["-", "-"])


def test_shards_partition_the_inputs():
    paths = [f"f{k}" for k in range(10)]
    shards = [select_shard(paths, parse_shard(f"{i}/3")) for i in range(3)]
    got = sorted(p for shard in shards for _, p in shard)
    assert got == sorted(paths)
    assert [p for _, p in shards[1]] == ["f1", "f4", "f7"]
    for bad in ["3/3", "a/b", "1", "-1/2"]:
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_folder_output_names_from_inputs(volumes, tmp_path):
    out = tmp_path / "out"
    proc = run_mlkit("transform", "negative", volumes, "-o", f"{out}/")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == [f"v{k}.nii.gz" for k in range(5)]
    for k in range(5):
        a = read_image(str(volumes / f"v{k}.nii.gz")).data
        np.testing.assert_array_equal(read_image(str(out / f"v{k}.nii.gz")).data, np.invert(a))


def test_jobs_and_shards_give_identical_outputs(volumes, tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert run_mlkit("transform", "rotate", "--angle", "7", volumes, "-o", f"{serial}/").returncode == 0
    assert run_mlkit("transform", "rotate", "--angle", "7", volumes, "-o", f"{parallel}/", "--jobs", "2").returncode == 0
    sharded = tmp_path / "sharded"
    for i in range(2):
        assert run_mlkit("transform", "rotate", "--angle", "7", volumes, "-o", f"{sharded}/", "--shard", f"{i}/2").returncode == 0
    assert sorted(os.listdir(serial)) == sorted(os.listdir(parallel)) == sorted(os.listdir(sharded))
    for name in os.listdir(serial):
        ref = read_image(str(serial / name))
        for other in (parallel, sharded):
            img = read_image(str(other / name))
            np.testing.assert_array_equal(img.data, ref.data)
            np.testing.assert_array_equal(img.affine, ref.affine)


def test_one_bad_input_does_not_stop_the_rest(volumes, tmp_path):
    (volumes / "v2.nii.gz").write_bytes((volumes / "v2.nii.gz").read_bytes()[:200])  # truncate one
    out = tmp_path / "out"
    proc = run_mlkit("transform", "negative", volumes, str(tmp_path / "missing.nii"), "-o", f"{out}/", "--jobs", "2")
    assert proc.returncode == 1
    err = proc.stderr.decode().strip().splitlines()
    assert any("v2.nii.gz" in line and "truncated" in line for line in err)
    assert any("missing.nii" in line and "no such file" in line for line in err)
    assert err[-1] == "mlkit transform negative: error: 2 of 6 inputs failed"
    assert sorted(os.listdir(out)) == ["v0.nii.gz", "v1.nii.gz", "v3.nii.gz", "v4.nii.gz"]


def test_one_file_output_with_many_inputs_is_a_usage_error(volumes, tmp_path):
    proc = run_mlkit("transform", "negative", volumes, "-o", tmp_path / "one.nii.gz")
    assert proc.returncode == 2
    assert b"give a folder" in proc.stderr
    assert not (tmp_path / "one.nii.gz").exists()


def test_stream_of_two_into_one_file_writes_nothing(volumes, tmp_path):
    stream = run_mlkit("transform", "negative", volumes / "v0.nii.gz", volumes / "v1.nii.gz", "-o", "-").stdout
    proc = run_mlkit("transform", "negative", "-", "-o", tmp_path / "one.nii.gz", stdin=stream)
    assert proc.returncode == 2 and b"several images" in proc.stderr
    assert not (tmp_path / "one.nii.gz").exists()


def test_colliding_names_are_refused(volumes, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(volumes / "v0.nii.gz", other / "v0.nii.gz")
    proc = run_mlkit("transform", "negative", volumes / "v0.nii.gz", other / "v0.nii.gz", "-o", f"{tmp_path}/out/")
    assert proc.returncode == 2 and b"overwrite each other" in proc.stderr


def test_ext_and_dtype_options(tmp_path, camera_png):
    out = tmp_path / "out"
    proc = run_mlkit("transform", "normalize", camera_png, "-o", f"{out}/", "--ext", ".nii.gz")
    assert proc.returncode == 0, proc.stderr
    img = nib.load(str(out / "camera.nii.gz"))
    assert img.get_data_dtype() == np.float32
    proc = run_mlkit("transform", "normalize", camera_png, "-o", tmp_path / "n8.nii", "--dtype", "uint8")
    assert np.asanyarray(nib.load(str(tmp_path / "n8.nii")).dataobj).max() == 1


def _named_stream(name):
    """A NIfTI-1 image whose mlkit extension carries `name`, as an attacker would write it."""
    from nibabel.nifti1 import Nifti1Extension

    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4))
    payload = json.dumps({"mlkit": {"name": name}}).encode()
    img.header.extensions.append(Nifti1Extension(6, payload))
    return img.to_bytes()


@pytest.mark.parametrize("name", ["../../evil", "/tmp/abs_evil", "..", ".hidden", "a/../../b", "x" * 500, "\x1b[31mred"])
def test_a_name_inside_a_stream_never_leaves_the_output_folder(tmp_path, name):
    out = tmp_path / "a" / "b"
    out.mkdir(parents=True)
    proc = run_mlkit("transform", "negative", "-", "-o", f"{out}/", stdin=_named_stream(name), cwd=out)
    assert proc.returncode == 0, proc.stderr
    (written,) = os.listdir(out)
    assert not written.startswith(".") and "/" not in written and len(written) <= 110
    assert written.isprintable()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [written]
    assert not os.path.exists("/tmp/abs_evil.nii.gz")


@pytest.mark.parametrize("output", ["out.txt", "out.mgz", "out"])
def test_an_output_mlkit_cannot_write_is_a_usage_error(tmp_path, anatomical, output):
    proc = run_mlkit("transform", "negative", anatomical, "-o", output, cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.decode().splitlines()
    assert line.startswith(f"mlkit transform negative: error: -o {output}: not a folder")
    assert os.listdir(tmp_path) == []


def test_ext_with_a_file_output_is_a_usage_error(tmp_path, anatomical):
    proc = run_mlkit("transform", "negative", anatomical, "-o", "x.nii", "--ext", ".png", cwd=tmp_path)
    assert proc.returncode == 2 and b"--ext .png applies to a folder" in proc.stderr
    assert os.listdir(tmp_path) == []


def test_one_failing_input_prints_one_line(tmp_path):
    proc = run_mlkit("transform", "negative", tmp_path / "missing.nii", "-o", f"{tmp_path}/out/")
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [f"mlkit transform negative: error: {tmp_path / 'missing.nii'}: no such file"]


def test_jobs_and_shard_do_not_change_output_bytes(volumes, tmp_path):
    runs = {"serial": [], "jobs": ["--jobs", "2"], "shard0": ["--shard", "0/1"], "quiet": ["-q"]}
    for name, extra in runs.items():
        (tmp_path / name).mkdir()
        proc = run_mlkit("augment", volumes, "-n", "2", "--seed", "3", "-o", "out/", *extra, cwd=tmp_path / name)
        assert proc.returncode == 0, proc.stderr
    reference = {p.name: p.read_bytes() for p in (tmp_path / "serial" / "out").iterdir()}
    assert len(reference) == 10
    for name in runs:
        assert {p.name: p.read_bytes() for p in (tmp_path / name / "out").iterdir()} == reference, name
    (facts, *_) = json.loads(run_mlkit("info", tmp_path / "jobs" / "out" / "v0_aug001.nii.gz", "--json").stdout)
    assert "--jobs" not in facts["history"][-1]["cmdline"]


def test_ctrl_c_stops_the_workers_and_writes_nothing_more(tmp_path, example4d):
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlkit", "augment", example4d, "-n", "400", "--transforms", "elastic,rotate",
         "-o", f"{out}/", "--jobs", "2", "--seed", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    time.sleep(4)  # the workers are busy by now
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    stopped = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert stopped < 3, f"took {stopped:.1f} s to stop"  # before the fix: about 40 s, all 400 written
    written = sorted(os.listdir(out)) if out.exists() else []
    time.sleep(1.0)
    assert (sorted(os.listdir(out)) if out.exists() else []) == written  # no worker is still writing
    assert len(written) < 400 and not [n for n in written if n.startswith(".")]
    assert err.decode().splitlines() == ["mlkit augment: error: interrupted"]


def test_stdin_on_a_terminal_is_refused_with_a_hint():
    main, replica = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "mlkit", "info", "-"], stdin=replica, capture_output=True, timeout=30)
    os.close(main)
    os.close(replica)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [
        "mlkit info: error: '-' reads images from stdin, which is a terminal (pipe images in: mlkit sample | mlkit info -)"
    ]
