"""Metadata survives every path (issue 21): the name and history in every format that can hold
them (PNG text chunk, JPEG COM segments, TIFF ImageDescription, NIfTI extension), the NIfTI
geometry as it was; BMP and .npy hold pixels only. Damaged or malformed metadata is said once on
stderr, naming the file, and the image is kept."""

import json
import re
import struct

import cv2
import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PILImage

from conftest import run_mlkit
from mlkit import samples
from mlkit.io import Image, read_image, read_images
from mlkit.io import raster

FACE = samples.path("face")
T1 = samples.path("t1")
HOLDS_HISTORY = (".png", ".jpg", ".tif", ".nii", ".nii.gz")


def _info(path, stdin=None):
    proc = run_mlkit("info", path, "--format", "json", stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout), proc.stderr.decode()


@pytest.mark.parametrize("ext", HOLDS_HISTORY)
def test_every_format_that_can_keeps_the_history_through_two_commands(ext, tmp_path):
    first, second = tmp_path / f"aug{ext}", tmp_path / f"neg{ext}"
    run_mlkit("augment", FACE, "-n", "1", "--seed", "4", "-o", first, check=True)
    run_mlkit("transform", "negative", first, "-o", second, check=True)
    (facts,), err = _info(second)
    assert err == ""
    assert [h["command"] for h in facts["history"]] == ["augment", "transform negative"]
    augment = facts["history"][0]
    assert augment["seed"] == 4 and augment["cmdline"] == f"mlkit augment {FACE} -n 1 --seed 4 -o {first}"
    assert augment["params"] == read_image(str(first)).history[0]["params"]  # the drawn parameters, all of them
    assert augment["params"]["transforms"]


@pytest.mark.parametrize("ext", [".jpg", ".tif", ".png"])
def test_a_raster_on_stdin_keeps_its_name_and_history(ext, tmp_path):
    path = tmp_path / f"bright{ext}"
    run_mlkit("transform", "gamma", "--gamma", "0.5", FACE, "-o", path, check=True)
    (facts,), _ = _info("-", stdin=path.read_bytes())
    assert facts["name"] == "face"  # the name it carries; a file is named after itself
    assert facts["history"][0]["params"]["gamma"] == 0.5


def test_other_readers_still_read_the_files_and_see_the_history_as_text(tmp_path):
    run_mlkit("transform", "gamma", "--gamma", "0.5", FACE, "-o", tmp_path / "a.jpg", check=True)
    run_mlkit("transform", "gamma", "--gamma", "0.5", FACE, "-o", tmp_path / "a.tif", check=True)
    jpeg = PILImage.open(tmp_path / "a.jpg")
    jpeg.load()
    assert jpeg.info["comment"].startswith(b'mlkit:{"history":[{')
    assert jpeg.info["jfif"]  # the JFIF APP0 segment is still first
    tiff = PILImage.open(tmp_path / "a.tif")
    np.testing.assert_array_equal(np.asarray(tiff), cv2.imread(str(tmp_path / "a.tif"))[..., ::-1])
    assert json.loads(tiff.tag_v2[270][len("mlkit:"):])["history"][0]["params"]["gamma"] == 0.5


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_tiff_keeps_pixels_and_history_for_every_dtype_it_holds(dtype):
    rng = np.random.default_rng(0)
    data = (rng.random((7, 9)) * 1000).astype(dtype)
    img = Image(data=data, name="t", history=[{"command": "x", "params": {"k": [1, 2]}}], format="tiff")
    back = raster.decode(raster.encode(img, "tiff"), "tiff", "n")
    np.testing.assert_array_equal(back.data, data)
    assert back.history == img.history and back.name == "t"


def test_a_history_longer_than_one_jpeg_segment_takes_several(tmp_path):
    history = [{"command": "augment", "params": {"note": "x" * 50000, "k": k}} for k in range(3)]
    img = Image(data=cv2.imread(FACE)[..., ::-1].copy(), channels=True, name="long", history=history, format="jpeg")
    raw = raster.encode(img, "jpeg")
    assert len(re.findall(rb"\xff\xfe..mlkit:", raw, re.S)) == 3  # about 150 kB of JSON, 65,527 bytes a segment
    back = raster.decode(raw, "jpeg", "n")
    assert back.history == history
    plain = cv2.imencode(".jpg", cv2.imread(FACE))[1]
    np.testing.assert_array_equal(back.data, cv2.imdecode(plain, cv2.IMREAD_UNCHANGED)[..., ::-1])
    path = tmp_path / "long.jpg"
    path.write_bytes(raw)
    PILImage.open(path).load()  # a reader that knows nothing of mlkit still decodes it


@pytest.mark.parametrize("ext", [".bmp", ".npy"])
def test_bmp_and_npy_hold_pixels_only(ext, tmp_path):
    """BMP has no text field and .npy holds one array: the history cannot travel in them (the
    README says so under `mlkit info`); the pixels do, exactly."""
    path = tmp_path / f"a{ext}"
    run_mlkit("transform", "negative", FACE, "-o", path, check=True)
    (facts,), err = _info(path)
    assert facts["history"] == [] and err == ""
    np.testing.assert_array_equal(read_image(str(path)).data, 255 - read_image(FACE).data)


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_nifti_outputs_keep_the_geometry(ext, tmp_path):
    run_mlkit("transform", "negative", T1, "-o", tmp_path / f"n{ext}", check=True)
    src, out = nib.load(T1).header, nib.load(str(tmp_path / f"n{ext}")).header
    np.testing.assert_array_equal(out["pixdim"][:4], src["pixdim"][:4])  # qfac and the voxel sizes
    for field in ("qform_code", "sform_code", "xyzt_units", "srow_x", "srow_y", "srow_z", "quatern_b",
                  "quatern_c", "quatern_d", "qoffset_x"):
        np.testing.assert_array_equal(out[field], src[field], err_msg=field)


# ---------------------------------------------------------------- malformed and damaged metadata


def _png_with_text(text):
    raw = cv2.imencode(".png", np.zeros((4, 5), np.uint8))[1].tobytes()
    body = b"mlkit\x00" + text
    import zlib

    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return raw[:33] + chunk + raw[33:]


def _jpeg_with_comment(body):
    raw = cv2.imencode(".jpg", np.zeros((4, 5), np.uint8))[1].tobytes()
    return raw[:2] + b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body + raw[2:]


def _tiff_with_description(text):
    raw = cv2.imencode(".tif", np.zeros((4, 5), np.uint8))[1].tobytes()
    return raster._with_tiff_description(raw, text)


def _nifti_with_meta(text):
    img = nib.Nifti1Image(np.zeros((4, 5, 2), np.int16), np.eye(4))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, text))
    return img.to_bytes()


MALFORMED = [
    ("png", _png_with_text(b'{"history":5}'), "it is a JSON number, not a list of entries"),
    ("png", _png_with_text(b'{"history":[1]}'), "an entry is a JSON number, not an object"),
    ("png", _png_with_text(b'{"history":[{"a"'), "it is not valid JSON"),
    ("jpg", _jpeg_with_comment(b'mlkit:{"history":5}'), "it is a JSON number"),
    ("jpg", _jpeg_with_comment(b'mlkit:{"history":["x"]}'), "an entry is a JSON string"),
    ("jpg", _jpeg_with_comment(b'mlkit:[1,2]'), "it is a JSON array, not an object"),
    ("jpg", _jpeg_with_comment(b'mlkit:{"history":[' + b"[" * 60000), "nested too deeply"),
    ("tif", _tiff_with_description(b'mlkit:{"history":"none"}'), "it is a JSON string"),
    ("nii", _nifti_with_meta(b'{"mlkit":{"history":5}}'), "it is a JSON number"),
    ("nii", _nifti_with_meta(b'{"mlkit":5}'), "its 'mlkit' field is a JSON number, not an object"),
    ("nii", _nifti_with_meta(b'{"mlkit":{"history":'), "it is not valid JSON"),
]


@pytest.mark.parametrize("ext,raw,reason", MALFORMED, ids=[f"{m[0]}-{i}" for i, m in enumerate(MALFORMED)])
@pytest.mark.parametrize("way", ["file", "stdin"])
def test_a_malformed_history_is_said_once_and_the_image_kept(ext, raw, reason, way, tmp_path):
    path = tmp_path / f"bad.{ext}"
    path.write_bytes(raw)
    out = tmp_path / "out.nii"
    proc = run_mlkit("transform", "negative", path if way == "file" else "-", "-o", out,
                     stdin=raw if way == "stdin" else None)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stderr.decode().splitlines()
    label = str(path) if way == "file" else "stdin"
    assert len(lines) == 1 and lines[0].startswith(f"mlkit transform negative: warning: {label}: its mlkit history is ignored: ")
    assert reason in lines[0]
    assert read_image(str(out)).history[0]["command"] == "transform negative"  # the image went on, a fresh history


def test_other_tools_comments_are_not_mlkit_s(tmp_path):
    """A JPEG comment or a NIfTI comment extension (code 6) of another tool is no mlkit history: silence."""
    for name, raw in (("c.jpg", _jpeg_with_comment(b"made with GIMP")), ("c.nii", _nifti_with_meta(b"a free text note"))):
        (tmp_path / name).write_bytes(raw)
        (facts,), err = _info(tmp_path / name)
        assert err == "" and facts["history"] == []


def test_a_stream_of_many_images_with_bad_histories_warns_once(tmp_path):
    raw = _nifti_with_meta(b'{"mlkit":{"history":5}}')
    proc = run_mlkit("info", "-", "--format", "json", stdin=raw * 3)
    assert proc.returncode == 0
    assert len(json.loads(proc.stdout)) == 3
    assert len(proc.stderr.decode().splitlines()) == 1


def test_a_damaged_metadata_block_is_bounded_and_never_crashes(tmp_path):
    # a TIFF ImageDescription that points past the end: one warning, the pixels still read
    raw = bytearray(_tiff_with_description(b'mlkit:{"history":[]}'))
    order = "<" if raw[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", raw[4:8])[0]
    count = struct.unpack(order + "H", raw[ifd : ifd + 2])[0]
    for k in range(count):
        at = ifd + 2 + 12 * k
        if struct.unpack(order + "H", raw[at : at + 2])[0] == 270:
            raw[at + 8 : at + 12] = struct.pack(order + "I", len(raw) + 100)
    warnings = []
    img = raster.decode(bytes(raw), "tiff", "d", warnings.append)
    assert img.history == [] and img.data.shape == (4, 5)
    assert len(warnings) == 1 and "past the end" in warnings[0]
    # a JPEG whose mlkit comment runs past the end: libjpeg refuses the file, one error line
    bad = _jpeg_with_comment(b'mlkit:{"history":[]}')
    at = bad.index(b"mlkit:") - 4  # the COM marker, then its length
    bad = bad[: at + 2] + b"\xff\xf0" + bad[at + 4 :]  # 65,520 bytes declared
    (tmp_path / "bad.jpg").write_bytes(bad)
    proc = run_mlkit("info", tmp_path / "bad.jpg")
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [f"mlkit info: error: {tmp_path / 'bad.jpg'}: corrupt or truncated JPEG data"]
    warnings = []
    assert raster._jpeg_comment(memoryview(bad), warnings.append) is None
    assert len(warnings) == 1 and "more than the file holds" in warnings[0]


def test_read_images_reports_through_one_warning_per_input(tmp_path, capsys):
    path = tmp_path / "bad.png"
    path.write_bytes(_png_with_text(b'{"history":{"a":1}}'))
    (img,) = read_images(str(path))
    assert img.history == [] and img.data.shape == (4, 5)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and str(path) in err[0] and "a JSON object, not a list" in err[0]
