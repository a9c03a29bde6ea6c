"""Streams through real processes: the core issue's 'done' list, end to end."""

import gzip
import json
import os

import nibabel as nib
import numpy as np
import pytest
import skimage.data

from conftest import load, pipeline, run_mlkit
from mlkit.io import read_image


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz"])
def test_negative_twice_through_a_pipe_is_identity(nib_data, tmp_path, name):
    src = os.path.join(nib_data, name)
    codes, _, errs = pipeline(
        ["transform", "negative", src, "-o", "-"],
        ["transform", "negative", "-", "-o", tmp_path / "back.nii"],
    )
    assert codes == [0, 0], errs
    data, affine, header = load(tmp_path / "back.nii")
    ref = nib.load(src)
    np.testing.assert_array_equal(data, np.asanyarray(ref.dataobj))
    np.testing.assert_array_equal(affine, ref.affine)
    assert header.get_data_dtype() == ref.get_data_dtype().newbyteorder("<")


def test_negative_twice_on_a_png(astronaut_png, tmp_path):
    codes, _, errs = pipeline(
        ["transform", "negative", astronaut_png, "-o", "-"],
        ["transform", "negative", "-", "-o", tmp_path / "back.png"],
    )
    assert codes == [0, 0], errs
    np.testing.assert_array_equal(read_image(str(tmp_path / "back.png")).data, skimage.data.astronaut())


def test_two_images_through_two_commands_reach_info(anatomical, example4d):
    codes, out, errs = pipeline(
        ["transform", "clip", "--min", "0", anatomical, example4d, "-o", "-"],
        ["transform", "zoom", "--factor", "1.1", "-", "-o", "-"],
        ["info", "-", "--json"],
    )
    assert codes == [0, 0, 0], errs
    facts = json.loads(out)
    assert [f["name"] for f in facts] == ["anatomical", "example4d"]
    for f in facts:
        assert [h["command"] for h in f["history"]] == ["transform clip", "transform zoom"]
        assert f["history"][1]["params"]["factors"] == [1.1]
        assert f["history"][0]["version"]
    assert facts[1]["shape"] == [128, 96, 24, 2]


def test_gzipped_stdin_is_accepted(anatomical):
    raw = gzip.compress(open(anatomical, "rb").read())
    proc = run_mlkit("info", "-", "--json", stdin=raw)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)[0]["shape"] == [33, 41, 25]


def test_png_on_stdin(camera_png):
    proc = run_mlkit("info", "-", "--json", stdin=open(camera_png, "rb").read())
    (facts,) = json.loads(proc.stdout)
    assert facts["format"] == "PNG" and facts["shape"] == [512, 512]


@pytest.mark.parametrize("case", ["truncated_gz", "text_as_nii", "empty_file", "empty_stdin"])
def test_bad_inputs_fail_cleanly(example4d, tmp_path, case):
    out = tmp_path / "out.nii.gz"
    stdin = None
    if case == "truncated_gz":
        bad = tmp_path / "cut.nii.gz"
        bad.write_bytes(open(example4d, "rb").read()[:3000])
        args = [bad]
    elif case == "text_as_nii":
        bad = tmp_path / "notes.nii"
        bad.write_text("subject 12, session 3\n")
        args = [bad]
    elif case == "empty_file":
        bad = tmp_path / "empty.nii"
        bad.write_bytes(b"")
        args = [bad]
    else:
        args, stdin = ["-"], b""
    proc = run_mlkit("transform", "negative", *args, "-o", out, stdin=stdin)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith("mlkit transform negative: error: ")
    assert any(word in first for word in ("truncated", "not a NIfTI", "empty"))
    assert not out.exists()
    assert [n for n in os.listdir(tmp_path) if n.startswith(".out")] == []


def test_info_on_every_nibabel_test_file(nib_data):
    """Each file is described or refused with one clear line; never a traceback."""
    paths = [os.path.join(nib_data, n) for n in sorted(os.listdir(nib_data))]
    paths = [p for p in paths if os.path.isfile(p)]
    proc = run_mlkit("info", "--json", *paths)
    err = proc.stderr.decode()
    assert "Traceback" not in err and "Warning" not in err
    *lines, summary = err.splitlines()
    failed = {line.split(": ")[2] for line in lines}
    described = {f["source"] for f in json.loads(proc.stdout)}
    assert failed | described == set(paths)  # every file: described, or one line saying why not
    assert not failed & described
    assert len(lines) == len(failed)
    assert summary == f"mlkit info: error: {len(failed)} of {len(paths)} inputs failed"
    assert len(described) >= 20
    assert {"anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz", "test.mgz"} <= {os.path.basename(p) for p in described}


def test_info_text_output(anatomical):
    proc = run_mlkit("info", anatomical)
    text = proc.stdout.decode()
    for expected in ["NIfTI-1", "33 x 41 x 25", "int16", "2 x 2 x 2 mm", "LAS", "-610 .. 30393", "NaN / inf    0 / 0"]:
        assert expected in text, expected


def test_info_counts_nans(tmp_path):
    from mlkit.io import Image, write_image

    data = np.ones((4, 4, 4), np.float32)
    data[0, 0, :3] = np.nan
    write_image(Image(data=data), str(tmp_path / "n.nii"))
    (facts,) = json.loads(run_mlkit("info", tmp_path / "n.nii", "--json").stdout)
    assert facts["nan_count"] == 3 and facts["min"] == 1.0
    assert {"name", "shape", "dtype", "history", "voxel_size", "orientation"} <= set(facts)


def test_info_keeps_going_past_a_bad_file(tmp_path, anatomical, example4d):
    bad = tmp_path / "bad.nii"
    bad.write_bytes(open(anatomical, "rb").read()[:200])
    proc = run_mlkit("info", anatomical, bad, example4d, "--format", "json")
    assert proc.returncode == 1
    assert [f["name"] for f in json.loads(proc.stdout)] == ["anatomical", "example4d"]
    first, summary = proc.stderr.decode().splitlines()
    assert first.startswith(f"mlkit info: error: {bad}: ") and summary == "mlkit info: error: 1 of 3 inputs failed"


def test_info_json_is_strict_with_non_finite_header_values(tmp_path):
    import nibabel as nib

    img = nib.Nifti1Image(np.full((3, 3, 3), np.inf, np.float32), np.eye(4))
    img.to_filename(str(tmp_path / "inf.nii"))
    proc = run_mlkit("info", tmp_path / "inf.nii", "--format", "json")
    (facts,) = json.loads(proc.stdout, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert facts["inf_count"] == 27 and facts["min"] is None and facts["mean"] is None


@pytest.mark.parametrize("name", ["test.mgz", "minc1_1_scale.mnc", "phantom_EPI_asc_CLEAR_2_1.PAR", "example4d+orig.HEAD"])
def test_info_gives_orientation_and_stored_dtype_for_every_scanner_format(nib_data, name):
    import nibabel as nib

    path = os.path.join(nib_data, name)
    reference = nib.load(path)
    (facts,) = json.loads(run_mlkit("info", path, "--format", "json").stdout)
    assert facts["orientation"] == "".join(nib.aff2axcodes(reference.affine))
    assert facts["stored_dtype"] == np.dtype(reference.get_data_dtype()).name


def _sample_bytes(name="t1"):
    return run_mlkit("sample", name, check=True).stdout


def test_a_stream_cut_inside_a_header_says_truncated_with_the_bytes():
    whole = _sample_bytes()
    cut = run_mlkit("info", "-", stdin=whole[:100])
    assert cut.returncode == 1
    assert cut.stderr.decode().strip().splitlines() == [
        "mlkit info: error: stdin image 1: truncated input: the NIfTI-1 header ends after 100 of 348 bytes "
        "(the file or stream was cut short; write it again)"]
    second = run_mlkit("info", "-", "--format", "json", stdin=whole + whole[:200])
    assert second.returncode == 1 and len(json.loads(second.stdout)) == 1  # the whole first image is described
    assert "stdin image 2: truncated input: the NIfTI-1 header ends after 200 of 348 bytes" in second.stderr.decode()
    data = run_mlkit("info", "-", stdin=whole + whole[:1000])
    assert "stdin image 2: truncated input: NIfTI voxel data ends after" in data.stderr.decode()


def test_stream_errors_give_the_position_and_the_name_the_image_carries(tmp_path):
    stream = _sample_bytes("t1") + _sample_bytes("t1_seg")
    proc = run_mlkit("transform", "log", "-", "-o", f"{tmp_path}/out/", stdin=stream)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 1 and lines[0].startswith("mlkit transform log: error: stdin image 1 (t1): log needs")
    assert os.listdir(tmp_path / "out") == ["t1_seg.nii.gz"]  # labels are >= 0: the second one is written


def test_a_jpeg_on_stdin_keeps_the_jpg_extension(tmp_path):
    from mlkit import samples

    photo = open(samples.path("face"), "rb").read()
    proc = run_mlkit("augment", "-", "-n", "1", "--seed", "1", "-o", f"{tmp_path}/", stdin=photo)
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(tmp_path) == ["stdin_aug001.jpg"]
