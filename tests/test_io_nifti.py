"""NIfTI read/write: data, dtype, affine, codes and units survive; the stream carries many images."""

import gzip
import io
import os

import nibabel as nib
import numpy as np
import pytest

from mlkit.errors import ImageFormatError
from mlkit.io import Image, StreamWriter, read_image, read_images, write_image
from mlkit.io.read import ByteSource


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz", "functional.nii", "standard.nii.gz"])
def test_read_matches_nibabel(nib_data, name):
    path = os.path.join(nib_data, name)
    ref = nib.load(path)
    img = read_image(path)
    # scaled data come as float32 (nibabel gives float64)
    np.testing.assert_allclose(img.data, np.asanyarray(ref.dataobj), rtol=1e-6)
    np.testing.assert_array_equal(img.affine, ref.affine)
    assert img.data.dtype.isnative
    if (ref.dataobj.slope, ref.dataobj.inter) == (1, 0):
        assert img.data.dtype == np.asanyarray(ref.dataobj).dtype.newbyteorder("=")


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz"])
def test_roundtrip_keeps_header(nib_data, tmp_path, name, suffix):
    src = os.path.join(nib_data, name)
    out = tmp_path / ("out" + suffix)
    write_image(read_image(src), str(out))
    ref, back = nib.load(src), nib.load(str(out))
    np.testing.assert_array_equal(np.asanyarray(back.dataobj), np.asanyarray(ref.dataobj))
    np.testing.assert_array_equal(back.affine, ref.affine)
    assert back.header.get_zooms() == ref.header.get_zooms()
    assert back.header.get_xyzt_units() == ref.header.get_xyzt_units()
    assert int(back.header["qform_code"]) == int(ref.header["qform_code"])
    assert int(back.header["sform_code"]) == int(ref.header["sform_code"])
    assert type(back.header) is type(ref.header)  # NIfTI-2 stays NIfTI-2 in files


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "float32", "float64"])
def test_dtypes_roundtrip(tmp_path, dtype):
    data = (np.arange(60).reshape(3, 4, 5) - 20).astype(dtype)
    write_image(Image(data=data), str(tmp_path / "a.nii.gz"))
    back = read_image(str(tmp_path / "a.nii.gz"))
    assert back.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.data, data)


def test_scaled_nifti_reads_scaled_values(tmp_path):
    raw = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    img = nib.Nifti1Image(raw, np.eye(4))
    img.header.set_slope_inter(0.5, 10)
    path = tmp_path / "scaled.nii"
    nib.save(img, str(path))
    got = read_image(str(path)).data
    np.testing.assert_allclose(got, np.asanyarray(nib.load(str(path)).dataobj))
    np.testing.assert_allclose(got, raw * 0.5 + 10)


def test_new_affine_is_written_to_sform(tmp_path):
    affine = np.array([[0, -2, 0, 10], [3, 0, 0, -5], [0, 0, 1.5, 7], [0, 0, 0, 1]], float)
    img = Image(data=np.zeros((4, 5, 6), np.float32), affine=affine)
    write_image(img, str(tmp_path / "a.nii"))
    back = nib.load(str(tmp_path / "a.nii"))
    np.testing.assert_allclose(back.affine, affine)
    np.testing.assert_allclose(back.header.get_zooms(), (3, 2, 1.5))  # column norms


def test_history_and_name_travel_in_extension(tmp_path):
    img = Image(data=np.ones((2, 2, 2), np.uint8), name="brain", history=[{"command": "x", "params": {"a": 1}}])
    write_image(img, str(tmp_path / "whatever.nii.gz"))
    back = read_image(str(tmp_path / "whatever.nii.gz"))
    assert back.history == img.history
    # A file is named after the file, not the stored name: the user may have renamed it.
    assert back.name == "whatever"
    buf = io.BytesIO()
    StreamWriter(buf).write(img)
    assert next(read_images("-", stdin=io.BytesIO(buf.getvalue()))).name == "brain"


def test_other_extensions_survive(example4d, tmp_path):
    write_image(read_image(example4d), str(tmp_path / "a.nii"))
    contents = [e.get_content() for e in nib.load(str(tmp_path / "a.nii")).header.extensions]
    assert b"extcomment1" in contents and b"extlongcomment2" in contents


def test_stream_of_several_images():
    imgs = [Image(data=np.full((3, 4, 2), k, np.int16), name=f"im{k}") for k in range(3)]
    buf = io.BytesIO()
    writer = StreamWriter(buf)
    for img in imgs:
        writer.write(img)
    back = list(read_images("-", stdin=io.BytesIO(buf.getvalue())))
    assert [b.name for b in back] == ["im0", "im1", "im2"]
    for a, b in zip(imgs, back):
        np.testing.assert_array_equal(a.data, b.data)
    # gzip'd streams are accepted too
    gz = io.BytesIO(gzip.compress(buf.getvalue()))
    assert len(list(read_images("-", stdin=gz))) == 3


def test_stream_is_uncompressed_nifti1_readable_by_nibabel(anatomical):
    buf = io.BytesIO()
    StreamWriter(buf).write(read_image(anatomical))
    raw = buf.getvalue()
    assert raw[344:348] == b"n+1\x00"
    img = nib.Nifti1Image.from_bytes(raw)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), np.asanyarray(nib.load(anatomical).dataobj))


def test_truncated_stream_is_an_error(anatomical):
    buf = io.BytesIO()
    StreamWriter(buf).write(read_image(anatomical))
    cut = buf.getvalue()[:-100]
    with pytest.raises(ImageFormatError, match="truncated"):
        list(read_images("-", stdin=io.BytesIO(cut)))


def test_trailing_garbage_is_an_error(anatomical):
    buf = io.BytesIO()
    StreamWriter(buf).write(read_image(anatomical))
    with pytest.raises(ImageFormatError, match="not a NIfTI image"):
        list(read_images("-", stdin=io.BytesIO(buf.getvalue() + b"junk" * 200)))


def test_byte_source_peek_read_tell():
    src = ByteSource(io.BytesIO(b"abcdefgh"))
    assert src.peek(3) == b"abc" and src.tell() == 0
    assert src.read(2) == b"ab" and src.tell() == 2
    assert bytes(src.read_exact(4, "x")) == b"cdef"
    with pytest.raises(ImageFormatError, match="truncated"):
        src.read_exact(5, "x")


def test_rgb24_nifti_becomes_channels(tmp_path):
    rgb = np.zeros((4, 5, 1), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["G"] = 7
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), str(tmp_path / "rgb.nii"))
    img = read_image(str(tmp_path / "rgb.nii"))
    assert img.channels and img.data.shape == (4, 5, 1, 3)
    assert (img.data[..., 1] == 7).all() and (img.data[..., 0] == 0).all()
