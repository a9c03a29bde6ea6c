"""NIfTI read/write: data, dtype, affine, codes and units survive; the stream carries many images."""

import gzip
import io
import os
import struct

import nibabel as nib
import numpy as np
import pytest

from conftest import pipeline, run_mlkit
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


def _scaled_file(path, raw=None, slope=0.5, inter=10.0):
    raw = np.arange(-30, 30, dtype=np.int16).reshape(3, 4, 5) if raw is None else raw
    img = nib.Nifti1Image(raw, np.diag([2.0, 3.0, 4.0, 1.0]))
    img.header.set_slope_inter(slope, inter)
    nib.save(img, str(path))
    return raw


def _base_bytes():
    img = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.diag([2.0, 3.0, 4.0, 1.0]))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b'{"mlkit":{"name":"x"}}'))
    return img.to_bytes()


def _mutated(offset, fmt, *values):
    """A valid NIfTI-1 image with the header field at `offset` overwritten."""
    raw = bytearray(_base_bytes())
    struct.pack_into("<" + fmt, raw, offset, *values)
    return bytes(raw)


# NIfTI-1 offsets: dim 40, datatype 70, bitpix 72, pixdim 76, vox_offset 108, scl_slope 112,
# qform_code 252, sform_code 254, quatern_b 256, srow_x 280, first extension's esize 352.
BAD_HEADERS = {
    "dim[0] is 0": (40, "h", 0),
    "dim[0] is 9": (40, "h", 9),
    "dim[0] is 256 (a byte-swapped 1)": (40, "h", 256),
    "an axis of 0": (42, "h", 0),
    "a negative axis": (42, "h", -5),
    "an unknown datatype": (70, "h", 999),
    "a NaN voxel size": (80, "f", float("nan")),
    "a NaN vox_offset": (108, "f", float("nan")),
    "a vox_offset inside the header": (108, "f", 100),
    "a vox_offset past the end": (108, "f", 1e9),
    "a fractional vox_offset": (108, "f", 400.5),
    "an infinite slope": (112, "f", float("inf")),
    "an infinite intercept": (112, "ff", 2, float("inf")),
    "a quaternion that is no rotation": (252, "hhfff", 1, 0, 5, 5, 5),
    "a NaN sform": (254, "h" + "x" * 24 + "f", 1, float("nan")),
    "a singular sform": (254, "h" + "x" * 24 + "ffffffffffff", 1, *[0.0] * 12),
    "an extension size not a multiple of 16": (352, "i", 17),
    "an extension past vox_offset": (352, "i", 1008),
    "an extension of size 0": (352, "i", 0),
    "a negative extension size": (352, "i", -16),
    "an axis product over the limit": (40, "hhhh", 3, 32767, 32767, 32767),
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_malformed_header_is_one_plain_error(case, capfd):
    raw = _mutated(*BAD_HEADERS[case])
    with pytest.raises(ImageFormatError) as caught:
        list(read_images("-", stdin=io.BytesIO(raw)))
    message = str(caught.value)
    assert "Error" not in message and "np." not in message and "\n" not in message
    assert capfd.readouterr().err == ""  # nothing from nibabel or numpy


@pytest.mark.parametrize("fix", [(72, "h", 8), (80, "f", 0), (80, "f", -2)])
def test_fixable_header_fields_are_fixed(fix, capfd):
    """bitpix that disagrees with the datatype, a zero or negative pixdim (the sform rules):
    read as nibabel reads them, quietly."""
    raw = _mutated(*fix)
    img = next(read_images("-", stdin=io.BytesIO(raw)))
    ref = nib.Nifti1Image.from_bytes(raw)
    np.testing.assert_array_equal(img.data, np.asanyarray(ref.dataobj))
    np.testing.assert_array_equal(img.affine, ref.affine)
    assert capfd.readouterr().err == ""


def test_malformed_header_through_the_cli(tmp_path):
    (tmp_path / "bad.nii").write_bytes(_mutated(40, "h", 9))
    proc = run_mlkit("info", "bad.nii", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "mlkit info: error: bad.nii: bad NIfTI header: dim[0] is 9, not a number of axes from 1 to 7"
    ]


@pytest.mark.parametrize(
    "meta",
    [
        b'{"mlkit":' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # deep nesting: json's recursion limit
        b'{"mlkit":{"history":5,"name":7}}',
        b'{"mlkit":{"history":[1,"a"],"name":["x"],"channels":"yes","suffix":3}}',
        b'{"mlkit":"text"}',
        b"\xff\xfe not json",
    ],
)
def test_odd_mlkit_extension_is_ignored(tmp_path, meta):
    img = nib.Nifti1Image(np.ones((2, 3, 4), np.float32), np.eye(4))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, meta))
    back = next(read_images("-", stdin=io.BytesIO(img.to_bytes())))
    assert back.name == "stdin" and back.history == [] and not back.channels and back.suffix == ".nii.gz"
    np.testing.assert_array_equal(back.data, 1)


def test_scaled_int16_keeps_its_dtype_and_scaling(tmp_path):
    raw = _scaled_file(tmp_path / "scaled.nii")
    img = read_image(str(tmp_path / "scaled.nii"))
    assert img.data.dtype == np.float32 and img.stored_dtype == "int16"
    write_image(img, str(tmp_path / "back.nii"))
    back = nib.load(str(tmp_path / "back.nii"))
    assert back.get_data_dtype() == np.int16
    assert (float(back.dataobj.slope), float(back.dataobj.inter)) == (0.5, 10.0)
    np.testing.assert_array_equal(np.asanyarray(back.dataobj.get_unscaled()), raw)
    np.testing.assert_allclose(np.asanyarray(back.dataobj), raw * 0.5 + 10)


def test_scaled_int16_through_flip_twice(tmp_path):
    raw = _scaled_file(tmp_path / "scaled.nii")
    codes, out, errs = pipeline(
        ["transform", "flip", "--axis", "0", str(tmp_path / "scaled.nii"), "-o", "-"],
        ["transform", "flip", "--axis", "0", "-", "-o", "-"],
    )
    assert codes == [0, 0], errs
    back = nib.Nifti1Image.from_bytes(out)
    assert back.get_data_dtype() == np.int16
    np.testing.assert_allclose(np.asanyarray(back.dataobj), raw * 0.5 + 10)


def test_scaled_int16_after_a_log_is_float32(tmp_path):
    raw = _scaled_file(tmp_path / "scaled.nii", raw=np.arange(60, dtype=np.int16).reshape(3, 4, 5))
    proc = run_mlkit("transform", "log", tmp_path / "scaled.nii", "-o", tmp_path / "log.nii")
    assert proc.returncode == 0, proc.stderr
    back = nib.load(str(tmp_path / "log.nii"))
    assert back.get_data_dtype() == np.float32
    values = raw * 0.5 + 10
    expected = np.log1p(values) / np.log1p(values.max())  # on floats, log scales the maximum to 1
    np.testing.assert_allclose(np.asanyarray(back.dataobj), expected, rtol=1e-6)


def test_scaled_values_that_no_longer_fit_become_float32(tmp_path):
    _scaled_file(tmp_path / "scaled.nii")
    img = read_image(str(tmp_path / "scaled.nii"))
    for data in (img.data + 0.1, img.data * 1e6):  # between steps of 0.5; out of int16's range
        write_image(img.replace(data=data.astype(np.float32)), str(tmp_path / "out.nii"))
        back = nib.load(str(tmp_path / "out.nii"))
        assert back.get_data_dtype() == np.float32
        np.testing.assert_array_equal(np.asanyarray(back.dataobj), data.astype(np.float32))


NIBABEL_FILES = [
    "example4d+orig.HEAD",  # AFNI
    "scaled+tlrc.HEAD",
    "minc1_1_scale.mnc",
    "minc2_4d.mnc",
    "phantom_EPI_asc_CLEAR_2_1.PAR",
    "test.mgz",
]


@pytest.mark.parametrize("name", NIBABEL_FILES)
def test_nibabel_formats_keep_affine_and_stored_dtype(nib_data, name):
    ref = nib.load(os.path.join(nib_data, name))
    img = read_image(os.path.join(nib_data, name))
    np.testing.assert_array_equal(img.affine, ref.affine)
    assert img.header is None
    stored = ref.get_data_dtype().newbyteorder("=").name
    assert img.stored_dtype == ("" if stored == img.data.dtype.name else stored)


def test_real_scaled_file_keeps_its_stored_integers(nib_data, tmp_path):
    """functional.nii is int16 with slope 0.0754 and intercept 3100.76 (nibabel's test data)."""
    src = os.path.join(nib_data, "functional.nii")
    write_image(read_image(src), str(tmp_path / "out.nii.gz"))
    ref, back = nib.load(src), nib.load(str(tmp_path / "out.nii.gz"))
    assert back.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asanyarray(back.dataobj.get_unscaled()), np.asanyarray(ref.dataobj.get_unscaled()))
    assert (back.dataobj.slope, back.dataobj.inter) == (ref.dataobj.slope, ref.dataobj.inter)
