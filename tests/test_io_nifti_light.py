"""The light NIfTI reader `mlkit info` uses: the same facts as the full (nibabel) reader, byte for
byte in the JSON, for every regular header; every other header goes to the full reader."""

import glob
import gzip
import io
import json
import os
import struct

import nibabel as nib
import numpy as np
import pytest

from conftest import pipeline, run_mlkit
from mlkit import samples
from mlkit.commands._output import render
from mlkit.errors import ImageFormatError
from mlkit.io import nifti_light, orientation
from mlkit.io.describe import describe
from mlkit.io.read import ByteSource, read_images

NIB_NIFTI = sorted(glob.glob(os.path.join(os.path.dirname(nib.__file__), "tests", "data", "*.nii*")))
SAMPLE_NIFTI = [samples.path(name) for name, (file, _) in samples.SAMPLES.items() if file.endswith((".nii", ".nii.gz"))]


def facts_json(path, light, stdin=None):
    """`mlkit info --format json` as the library writes it, through the light or the full reader."""
    images = read_images(path, stdin=stdin, _light=light)
    return render([describe(img, "stdin" if path == "-" else path) for img in images], "json")


def light_headers(path, stdin=None):
    return [isinstance(img.header, nifti_light.Header) for img in read_images(path, stdin=stdin, _light=True)]


def test_layouts_are_nibabels():
    assert nifti_light.LAYOUT["nifti1"] == nib.nifti1.header_dtype
    assert nifti_light.LAYOUT["nifti2"] == nib.nifti2.header_dtype


def test_datatypes_and_units_are_nibabels():
    codes = nib.nifti1.data_type_codes
    sized = {c for c in codes.value_set("code") if codes.dtype[c].itemsize}
    assert set(nifti_light.DATATYPES) == sized
    assert all(nifti_light.DATATYPES[c] == codes.dtype[c] for c in sized)
    assert nifti_light.UNITS == {c: nib.nifti1.unit_codes.label[c] for c in nib.nifti1.unit_codes.value_set("code")}


@pytest.mark.parametrize("path", NIB_NIFTI + SAMPLE_NIFTI, ids=os.path.basename)
def test_every_real_nifti_gives_the_same_json(path):
    assert facts_json(path, light=True) == facts_json(path, light=False)


def test_real_files_take_the_light_path():
    """nibabel's NIfTI test files and mlkit's samples have regular headers, but for the CIFTI-2
    file: its qfac (pixdim[0]) is 0, which nibabel sets to 1, so the full reader takes it."""
    assert len(NIB_NIFTI) >= 8 and len(SAMPLE_NIFTI) == 3
    light = {os.path.basename(p): all(light_headers(p)) for p in NIB_NIFTI + SAMPLE_NIFTI}
    assert {name for name, taken in light.items() if not taken} == {"row_major.dconn.nii"}


def _image_bytes(data, affine=None, klass=nib.Nifti1Image, endian="<", **fields):
    """A NIfTI image written by nibabel, with header `fields` (qform_code, scl_slope...) set."""
    hdr = klass.header_class(endianness=endian)
    hdr.set_data_dtype(data.dtype)
    img = klass(data, affine, header=hdr)
    for name, value in fields.items():
        img.header[name] = value
    if "qform_code" in fields or "sform_code" in fields:
        img.update_header = lambda: None  # keep the codes as set
    return img.to_bytes()


ROT = np.array([[0.0, -1, 0, 10], [0.9, 0, 0.1, -20], [0, 0.2, 2.5, 30], [0, 0, 0, 1]])
VARIANTS = {
    "4D float32": lambda: _image_bytes(np.random.default_rng(1).random((5, 6, 7, 3), np.float32), np.diag([2, 2, 3, 1.0])),
    "scaled int16": lambda: _image_bytes(np.arange(-60, 60, dtype=np.int16).reshape(4, 5, 6), np.eye(4),
                                         scl_slope=0.25, scl_inter=-3),
    "RGB24": lambda: _image_bytes(np.zeros((4, 5, 2), [("R", "u1"), ("G", "u1"), ("B", "u1")]) , np.eye(4)),
    "RGBA32": lambda: _image_bytes(np.ones((3, 3, 2), [("R", "u1"), ("G", "u1"), ("B", "u1"), ("A", "u1")]), np.eye(4)),
    "qform only": lambda: _image_bytes(np.ones((3, 4, 5), np.int16), ROT, qform_code=1, sform_code=0),
    "qform only, qfac -1": lambda: _image_bytes(np.ones((3, 4, 5), np.int16), np.diag([2, 3, -4, 1.0]), qform_code=1, sform_code=0),
    "sform only": lambda: _image_bytes(np.ones((3, 4, 5), np.uint8), ROT, qform_code=0, sform_code=2),
    "no codes, 3D": lambda: _image_bytes(np.ones((3, 4, 5), np.float64), ROT, qform_code=0, sform_code=0),
    "no codes, 2D": lambda: _image_bytes(np.ones((6, 7), np.uint16), np.diag([0.5, 0.7, 1, 1]), qform_code=0, sform_code=0),
    "big-endian int32": lambda: _image_bytes(np.arange(60, dtype=np.int32).reshape(3, 4, 5), ROT, endian=">"),
    "big-endian scaled": lambda: _image_bytes(np.arange(60, dtype=np.int16).reshape(3, 4, 5), ROT, endian=">",
                                              scl_slope=2, scl_inter=1),
    "NIfTI-2": lambda: _image_bytes(np.arange(24, dtype=np.int64).reshape(2, 3, 4), ROT, klass=nib.Nifti2Image),
    "NIfTI-2 qform": lambda: _image_bytes(np.ones((2, 3, 4), np.float32), ROT, klass=nib.Nifti2Image, qform_code=1, sform_code=0),
    "NIfTI-2 big-endian": lambda: _image_bytes(np.ones((2, 3, 4), np.complex64), ROT, klass=nib.Nifti2Image, endian=">"),
    "NaN and inf": lambda: _image_bytes(np.array([[[np.nan, np.inf, 1, 2]]], np.float32), np.eye(4)),
    "units micron/msec": lambda: _image_bytes(np.ones((2, 2, 2), np.int8), np.eye(4), xyzt_units=3 + 16),
    "units nibabel does not know": lambda: _image_bytes(np.ones((2, 2, 2), np.uint32), np.eye(4), xyzt_units=5),
    "7 axes": lambda: _image_bytes(np.ones((2, 1, 2, 1, 2, 1, 2), np.uint64), np.eye(4)),
    "complex128": lambda: _image_bytes(np.ones((2, 2, 2), np.complex128) * 1j, np.eye(4)),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_give_the_same_json_on_the_light_path(variant):
    raw = VARIANTS[variant]()
    assert light_headers("-", io.BytesIO(raw)) == [True]
    assert facts_json("-", True, io.BytesIO(raw)) == facts_json("-", False, io.BytesIO(raw))


def _mutated(raw, offset, fmt, *values):
    raw = bytearray(raw)
    struct.pack_into("<" + fmt, raw, offset, *values)
    return bytes(raw)


def _base():
    img = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.diag([2.0, 3.0, 4.0, 1.0]))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b'{"mlkit":{"name":"x"}}'))
    return img.to_bytes()


# Headers nibabel fixes or reports (NIfTI-1 offsets: dim 40, datatype 70, bitpix 72, pixdim 76,
# vox_offset 108, qform_code 252, sform_code 254, quatern_b 256), and bad ones it refuses.
IRREGULAR = {
    "bitpix off": (72, "h", 8),
    "zero pixdim": (80, "f", 0),
    "negative pixdim": (80, "f", -2),
    "qfac 0": (76, "f", 0),
    "vox_offset not on 16 bytes": (108, "f", 392),
    "qform code 7": (252, "h", 7),
    "sform code -1": (254, "h", -1),
    "unknown datatype": (70, "h", 999),
    "float128": (70, "hh", 1536, 128),
    "dim[0] is 9": (40, "h", 9),
    "NaN voxel size": (80, "f", float("nan")),
    "vox_offset inside the header": (108, "f", 100),
    "quaternion that is no rotation": (252, "hhfff", 1, 0, 5, 5, 5),
    "singular sform": (254, "h" + "x" * 24 + "ffffffffffff", 1, *[0.0] * 12),
}


@pytest.mark.parametrize("case", sorted(IRREGULAR))
def test_irregular_headers_go_to_the_full_reader(case):
    raw = _mutated(_base(), *IRREGULAR[case])
    source = ByteSource(io.BytesIO(raw))
    assert nifti_light.read_image(source, "nifti1", "x") is None
    assert source.tell() == 0  # nothing read: the full reader starts at the header
    try:
        expected = facts_json("-", False, io.BytesIO(raw))
    except ImageFormatError as exc:
        with pytest.raises(ImageFormatError) as caught:
            facts_json("-", True, io.BytesIO(raw))
        assert str(caught.value) == str(exc)
    else:
        assert light_headers("-", io.BytesIO(raw)) == [False]
        assert facts_json("-", True, io.BytesIO(raw)) == expected


def test_nifti2_end_of_line_bytes_must_be_intact():
    raw = _mutated(VARIANTS["NIfTI-2"](), 8, "bbbb", 0, 0, 0, 0)
    assert light_headers("-", io.BytesIO(raw)) == [False]
    assert facts_json("-", True, io.BytesIO(raw)) == facts_json("-", False, io.BytesIO(raw))


@pytest.mark.parametrize("damage", ["extension size 17", "vox_offset past the end", "truncated voxels"])
def test_damage_after_a_regular_header_gives_the_same_message(damage):
    raw = _base()
    raw = {
        "extension size 17": lambda: _mutated(raw, 352, "i", 17),
        "vox_offset past the end": lambda: _mutated(raw, 108, "f", 1e6),
        "truncated voxels": lambda: raw[:-5],
    }[damage]()
    messages = []
    for light in (True, False):
        with pytest.raises(ImageFormatError) as caught:
            facts_json("-", light, io.BytesIO(raw))
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_random_headers_give_nibabels_affine_bit_for_bit():
    rng = np.random.default_rng(16)
    for klass, kind in ((nib.Nifti1Header, "nifti1"), (nib.Nifti2Header, "nifti2")):
        for _ in range(300):
            hdr = klass()
            hdr.set_data_shape(tuple(rng.integers(1, 40, rng.integers(1, 5))))
            hdr["pixdim"][:4] = [rng.choice([-1, 1]), *rng.uniform(0.1, 4, 3)]
            hdr["quatern_b"], hdr["quatern_c"], hdr["quatern_d"] = rng.uniform(-1, 1, 3) / rng.choice([1, np.sqrt(3)])
            hdr["qoffset_x"], hdr["qoffset_y"], hdr["qoffset_z"] = rng.uniform(-100, 100, 3)
            for row in ("srow_x", "srow_y", "srow_z"):
                hdr[row] = rng.normal(0, 3, 4)
            hdr["qform_code"], hdr["sform_code"] = rng.integers(0, 2, 2)
            light = nifti_light.Header(hdr.binaryblock, kind)
            try:
                expected = hdr.get_best_affine()
            except Exception:
                with pytest.raises(ValueError):
                    nifti_light.best_affine(light)
                continue
            np.testing.assert_array_equal(nifti_light.best_affine(light), expected)


def test_axis_codes_are_nibabels():
    rng = np.random.default_rng(4)
    affines = [np.eye(4), np.diag([-2, 3, 0, 1.0]), np.diag([0, 0, 0, 1.0])]
    for _ in range(500):
        aff = np.eye(4)
        aff[:3, :3] = rng.normal(size=(3, 3))
        if rng.random() < 0.3:  # a permutation with flips, sheared a little
            aff[:3, :3] = np.eye(3)[rng.permutation(3)] * rng.choice([-1, 1], 3) + rng.normal(0, 0.2, (3, 3))
        if rng.random() < 0.1:
            aff[:3, rng.integers(3)] = 0
        affines.append(aff)
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)  # ties between two output axes
    affines.append(np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
    for aff in affines:
        assert orientation.axcodes(aff) == nib.aff2axcodes(aff), aff


def test_a_stream_of_several_images_through_a_real_pipe(tmp_path):
    """transform writes a stream of three images (4D, scaled int16); info reads it from a pipe
    on the light path and prints what the full reader gives for the same bytes."""
    data = os.path.dirname(NIB_NIFTI[0])
    inputs = [os.path.join(data, n) for n in ("anatomical.nii", "example4d.nii.gz", "functional.nii")]
    codes, stream, errs = pipeline(["transform", "negative", *inputs, "-o", "-"])
    assert codes == [0], errs
    codes, out, errs = pipeline(["transform", "negative", *inputs, "-o", "-"], ["info", "-", "--format", "json"])
    assert codes == [0, 0], errs
    assert out.decode() == facts_json("-", False, io.BytesIO(stream))
    assert light_headers("-", io.BytesIO(stream)) == [True, True, True]
    assert [f["name"] for f in json.loads(out)] == ["anatomical", "example4d", "functional"]
    zipped = run_mlkit("info", "-", "--format", "json", stdin=gzip.compress(stream))
    assert zipped.stdout.decode() == out.decode()


def test_an_irregular_file_still_reads_through_nibabel(tmp_path):
    (tmp_path / "fixed.nii").write_bytes(_mutated(_base(), *IRREGULAR["bitpix off"]))
    proc = run_mlkit("info", tmp_path / "fixed.nii", "--format", "json")
    assert proc.returncode == 0 and proc.stderr == b""
    assert json.loads(proc.stdout)[0]["shape"] == [2, 3, 4]
