"""Untrusted input at the reader: declared sizes, gzip integrity, names from inside files."""

import gzip
import io
import os
import struct
import subprocess
import sys
import zlib

import nibabel as nib
import numpy as np
import pytest
from nibabel.nifti1 import Nifti1Extension
from numpy.lib import format as npy_format

from conftest import measured, run_mlkit
from mlkit.errors import ImageFormatError
from mlkit.io import Image, StreamWriter, read_image, read_images
from mlkit.io.read import safe_stem

MiB = 1 << 20


def _header_bytes(shape, dtype):
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dtype)
    buf = io.BytesIO()
    hdr.write_to(buf)
    return buf.getvalue()


def _nifti_bomb(path):
    """68 KB on disk, a header declaring 2048x2048x768 int16 (6 GiB)."""
    path.write_bytes(_header_bytes((2048, 2048, 768), np.int16) + bytes(68_000))


def _gzip_bomb(path):
    """~4 MB of gzip that inflates to 4 GiB: one compressed 16 MiB member of zeros, repeated
    (a file of several gzip members is one gzip stream)."""
    zeros = gzip.compress(bytes(16 * MiB), compresslevel=9, mtime=0)
    with open(path, "wb") as out:
        out.write(gzip.compress(_header_bytes((2048, 2048, 512), np.int16)))
        for _ in range(256):
            out.write(zeros)


def _png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bomb(path):
    """A small PNG whose IHDR declares 30000x30000 RGB (2.5 GiB decoded)."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    rows = zlib.compress(bytes(30000 * 3 + 1) * 64)
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)


def _npy_bomb(path):
    """A .npy header declaring a 2 GiB float32 array over 1000 bytes of data."""
    with open(path, "wb") as out:
        npy_format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": (1024, 1024, 512)})
        out.write(bytes(1000))


BOMBS = [("bomb.nii", _nifti_bomb), ("bomb.nii.gz", _gzip_bomb), ("bomb.png", _png_bomb), ("bomb.npy", _npy_bomb)]


@pytest.mark.parametrize("name, build", BOMBS)
def test_bombs_are_refused_fast_in_little_memory(tmp_path, name, build):
    build(tmp_path / name)
    code, err, cpu_seconds, peak_mib = measured(["info", name], tmp_path)
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mlkit info: error: {name}: "), err
    assert "1.0 GiB limit" in err and "MLKIT_MAX_IMAGE_BYTES=" in err  # the limit, and how to raise it
    assert cpu_seconds < 2  # CPU seconds, start-up included (wall time varies with the load)
    assert peak_mib < 300


def test_the_limit_can_be_raised_and_lowered(tmp_path, anatomical):
    _nifti_bomb(tmp_path / "bomb.nii")
    env = dict(os.environ, MLKIT_MAX_IMAGE_BYTES="8G")
    proc = run_mlkit("info", "bomb.nii", cwd=tmp_path, env=env)
    assert proc.returncode == 1 and b"truncated" in proc.stderr  # past the limit, the file is too short
    env["MLKIT_MAX_IMAGE_BYTES"] = "1K"
    proc = run_mlkit("info", anatomical, env=env)
    assert proc.returncode == 1 and b"over the 1.0 KiB limit" in proc.stderr


def test_truncated_file_fails_before_reading_the_declared_size(tmp_path):
    (tmp_path / "short.nii").write_bytes(_header_bytes((64, 64, 64), np.float32) + bytes(1000))
    with pytest.raises(ImageFormatError, match=r"truncated input: NIfTI voxel data needs 1048576 bytes, 1000 remain"):
        read_image(str(tmp_path / "short.nii"))


def test_truncated_pipe_is_an_error(tmp_path):
    raw = _header_bytes((64, 64, 64), np.float32) + bytes(1000)
    proc = run_mlkit("info", "-", stdin=raw)  # a pipe: no size to compare with, the data run out
    assert proc.returncode == 1 and b"ends after 1000 of 1048576 bytes" in proc.stderr


def test_npy_declaring_more_than_the_file_holds(tmp_path):
    with open(tmp_path / "short.npy", "wb") as out:
        npy_format.write_array_header_1_0(out, {"descr": "<i2", "fortran_order": False, "shape": (100, 100)})
        out.write(bytes(50))
    with pytest.raises(ImageFormatError, match="truncated"):
        read_image(str(tmp_path / "short.npy"))


@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_reads_as_numpy_does(tmp_path, order):
    data = np.asarray(np.arange(60, dtype=">i4").reshape(3, 4, 5), order=order)
    np.save(tmp_path / "a.npy", data)
    img = read_image(str(tmp_path / "a.npy"))
    np.testing.assert_array_equal(img.data, np.load(tmp_path / "a.npy"))
    assert img.data.dtype == np.dtype("int32")


def test_corrupt_npy_header_is_one_line(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.zeros((3, 3)))
    raw = bytearray(buf.getvalue())
    raw[20:40] = b"(((((((((((((((((((("  # an unterminated tuple: numpy's tokenizer fails
    (tmp_path / "bad.npy").write_bytes(bytes(raw))
    proc = run_mlkit("info", "bad.npy", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "mlkit info: error: bad.npy: corrupt .npy header (the file is damaged or not written by numpy)"
    ]


def test_gzip_stream_that_inflates_past_the_limit(tmp_path):
    buf = io.BytesIO()
    writer = StreamWriter(buf)
    for k in range(4):
        writer.write(Image(data=np.zeros((64, 64, 64), np.float32), name=f"im{k}"))  # 1 MiB each
    path = tmp_path / "many.nii.gz"
    path.write_bytes(gzip.compress(buf.getvalue()))
    env = dict(os.environ, MLKIT_MAX_IMAGE_BYTES="3M")
    proc = run_mlkit("info", path, env=env)
    assert proc.returncode == 1 and b"the inflated gzip data would take" in proc.stderr


def _two_image_gzip(path):
    buf = io.BytesIO()
    writer = StreamWriter(buf)
    for k in range(2):
        writer.write(Image(data=np.full((8, 8, 8), k + 1, np.int16), name=f"im{k}"))
    raw = bytearray(gzip.compress(buf.getvalue()))
    path.write_bytes(bytes(raw))
    return raw


def test_nothing_is_written_from_a_gzip_whose_crc_fails(tmp_path):
    raw = _two_image_gzip(tmp_path / "good.nii.gz")
    raw[-8] ^= 0xFF  # the CRC-32 in the gzip trailer
    (tmp_path / "bad.nii.gz").write_bytes(bytes(raw))
    proc = run_mlkit("transform", "negative", "bad.nii.gz", "-o", "out/", cwd=tmp_path)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "Traceback" not in err
    # one line for the file (a batch summary line, if any, is the batch runner's)
    about_file = [line for line in err.splitlines() if "bad.nii.gz" in line]
    assert len(about_file) == 1 and about_file[0].startswith("mlkit transform") and "CRC" in about_file[0]
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []
    # the intact file gives both images
    assert [img.name for img in read_images(str(tmp_path / "good.nii.gz"))] == ["im0", "im1"]


def test_crc_failure_yields_no_image(tmp_path):
    raw = _two_image_gzip(tmp_path / "good.nii.gz")
    raw[-5] ^= 0x01
    images = read_images("-", stdin=io.BytesIO(bytes(raw)))
    with pytest.raises(ImageFormatError, match="CRC"):
        next(images)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("../../evil", "____evil"),
        ("/etc/passwd", "_etc_passwd"),
        ("..\\..\\win", "____win"),
        (".hidden", "hidden"),
        ("...", "_"),
        (" . ", "image"),
        ("a\x00b\nc\x1b", "a_b_c_"),
        ("", "image"),
        (None, "image"),
        (["list"], "image"),
        ("brain_T1 (2)", "brain_T1 (2)"),
        ("x" * 500, "x" * 100),
    ],
)
def test_safe_stem(text, expected):
    assert safe_stem(text) == expected


def _evil_nifti(path, name):
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4))
    payload = b'{"mlkit":{"name":' + name + b"}}"
    img.header.extensions.append(Nifti1Extension(6, payload))
    nib.save(img, str(path))


def test_stream_name_cannot_leave_the_output_folder(tmp_path):
    _evil_nifti(tmp_path / "e.nii", b'"../../evil"')
    (tmp_path / "a" / "b").mkdir(parents=True)
    with open(tmp_path / "e.nii", "rb") as stdin:
        command = [sys.executable, "-m", "mlkit", "transform", "negative", "-", "-o", "a/b/"]
        proc = subprocess.run(command, stdin=stdin, capture_output=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["a/b/____evil.nii.gz", "e.nii"]


def test_a_file_is_named_after_itself_whatever_its_metadata(tmp_path):
    _evil_nifti(tmp_path / "scan.nii", b'"../../evil"')
    assert read_image(str(tmp_path / "scan.nii")).name == "scan"
    proc = run_mlkit("transform", "negative", "scan.nii", "-o", "out/", cwd=tmp_path)
    assert proc.returncode == 0 and os.listdir(tmp_path / "out") == ["scan.nii"]


@pytest.mark.parametrize("name", [b"123", b"null", b'"/abs/path"', b"[1,2]"])
def test_odd_stream_names_become_safe_stems(tmp_path, name):
    _evil_nifti(tmp_path / "e.nii", name)
    img = next(read_images("-", stdin=io.BytesIO((tmp_path / "e.nii").read_bytes())))
    assert "/" not in img.name and img.name in ("stdin", "_abs_path")


def test_png_text_name_is_made_safe(tmp_path):
    from mlkit.io import raster

    raw = raster.encode(Image(data=np.zeros((4, 4), np.uint8), name="../../x", format="png"), "png")
    img = next(read_images("-", stdin=io.BytesIO(raw)))
    assert img.name == "____x"


def test_recorded_suffix_must_be_one_mlkit_writes(tmp_path):
    img = Image(data=np.zeros((2, 2, 2), np.uint8), name="a", suffix="/../../x.sh")
    buf = io.BytesIO()
    StreamWriter(buf).write(img)
    assert next(read_images("-", stdin=io.BytesIO(buf.getvalue()))).suffix == ".nii.gz"


def test_load_npy_reads_npz_members_within_the_limit(tmp_path):
    import zipfile

    from mlkit.io.read import load_npy

    weights = np.random.default_rng(1).random((7, 3))
    np.savez(tmp_path / "model.npz", weights=weights, labels=np.array(["a", "b"]))
    with zipfile.ZipFile(tmp_path / "model.npz") as archive:
        with archive.open("weights.npy") as member:
            np.testing.assert_array_equal(load_npy(member), weights)
        with archive.open("labels.npy") as member:
            assert list(load_npy(member)) == ["a", "b"]
    _npy_bomb(tmp_path / "bomb.npy")
    with open(tmp_path / "bomb.npy", "rb") as raw:
        with pytest.raises(ImageFormatError, match="model weights would take 2.0 GiB"):
            load_npy(raw, "the model weights")


@pytest.mark.parametrize("damage, message", [("cut", "truncated gzip data"), ("flip", "corrupt gzip data")])
def test_damaged_gzip_is_one_plain_line(tmp_path, anatomical, damage, message):
    raw = bytearray(gzip.compress(open(anatomical, "rb").read()))
    if damage == "cut":
        raw = raw[: len(raw) // 2]
    else:
        raw[len(raw) // 2] ^= 0xFF
    (tmp_path / "bad.nii.gz").write_bytes(bytes(raw))
    proc = run_mlkit("info", "bad.nii.gz", cwd=tmp_path)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"mlkit info: error: bad.nii.gz: {message}")
    assert "Error" not in lines[0]
