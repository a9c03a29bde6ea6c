"""Batch runs: folders, globs, shards, jobs, and one bad input not stopping the rest."""

import os
import shutil

import nibabel as nib
import numpy as np
import pytest

from conftest import run_mlkit
from mlkit.io import Image, read_image, write_image
from mlkit.io.batch import UsageError, expand_inputs, parse_shard, select_shard


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
    assert err[-1] == "mlkit transform: error: 2 of 6 inputs failed"
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
