"""The fast paths give the outputs the slow ones gave (issue 16): gzip that every reader opens,
axis-aligned resampling equal to scipy's, augment equal to one affine_transform on any slice axis."""

import gzip
import shutil
import subprocess

import nibabel as nib
import numpy as np
import pytest
import scipy.ndimage as ndi

from mlkit import samples
from mlkit.augment import Options, augment, content_matrix
from mlkit.augment.policy import Policy
from mlkit.io import Image, gz, read_image, write_image
from mlkit.transform import apply, separable
from mlkit.transform.grid import about_centre


def big_real_volume(anatomical):
    """anatomical.nii tiled past several gzip members (4 MiB each), float32."""
    data = np.asarray(nib.load(anatomical).dataobj).astype(np.float32)
    return Image(data=np.asfortranarray(np.tile(data, (4, 4, 5))), affine=np.diag([2.0, 2, 2, 1]), name="tiled")


@pytest.mark.parametrize("backend", ["isal", "zlib"])
def test_nii_gz_is_valid_gzip_that_nibabel_reads(anatomical, tmp_path, monkeypatch, backend):
    if backend == "zlib":
        monkeypatch.setattr(gz, "_isal", None)  # what a platform without isal wheels runs
    else:
        pytest.importorskip("isal")
    img = big_real_volume(anatomical)
    assert img.data.nbytes > 2 * (4 << 20)  # three members at least
    path = tmp_path / "out.nii.gz"
    write_image(img, str(path))
    if shutil.which("gzip"):
        assert subprocess.run(["gzip", "-t", str(path)]).returncode == 0
    np.testing.assert_array_equal(np.asanyarray(nib.load(str(path)).dataobj), img.data)
    with open(path, "rb") as f:  # the standard library's reader too, all members
        assert len(gzip.decompress(f.read())) > img.data.nbytes
    write_image(img, str(tmp_path / "again.nii.gz"))
    assert (tmp_path / "again.nii.gz").read_bytes() == path.read_bytes()  # same image, same bytes


def _scipy_resample(data, matrix, out_shape, order, mode, cval=0.0, sigma=None):
    work = data.astype(np.float32)
    if sigma is not None:
        work = ndi.gaussian_filter(work, sigma, mode="nearest")
    return ndi.affine_transform(work, matrix, output_shape=out_shape, order=order, mode=mode, cval=cval)


@pytest.mark.parametrize("order, shape", [(0, (50, 61, 37)), (1, (50, 61, 37)), (3, (50, 61, 37)), (1, (20, 30, 14)),
                                          (3, (20, 30, 14)), (3, (40, 20, 25))])  # smaller: antialiased first
def test_resample_equals_scipy_affine_transform(anatomical, order, shape):
    img = read_image(anatomical)
    out = apply(img, "resample", {"shape": list(shape), "order": order}, dtype="float32")
    step = np.array(img.spatial_shape) / np.array(shape)
    sigma = np.maximum(0, (step - 1) / 2) if (step > 1).any() else None
    ref = _scipy_resample(img.data, about_centre(np.diag(step), img.spatial_shape, shape), shape, order, "nearest", sigma=sigma)
    assert out.data.dtype == np.float32 and out.data.shape == shape
    np.testing.assert_allclose(out.data, ref, atol=1e-5 * np.ptp(img.data))


@pytest.mark.parametrize("order", [0, 1, 3])
def test_zoom_and_shift_equal_scipy_with_a_fill_value(anatomical, order):
    img = read_image(anatomical)
    for op, params, matrix in [
        ("zoom", {"factors": [1.4, 0.7, 1.1]}, about_centre(np.diag(1 / np.array([1.4, 0.7, 1.1])), img.spatial_shape, img.spatial_shape)),
        ("shift", {"offsets": [30.5, -3.25, 2]}, np.vstack([np.hstack([np.eye(3), [[-30.5], [3.25], [-2]]]), [0, 0, 0, 1]])),
    ]:
        out = apply(img, op, {**params, "order": order, "cval": 40.0}, dtype="float32")
        ref = _scipy_resample(img.data, matrix, img.spatial_shape, order, "grid-constant", cval=40.0)
        np.testing.assert_allclose(out.data, ref, atol=1e-5 * np.ptp(img.data), err_msg=op)


def test_integer_output_differs_from_scipy_only_at_rounding_ties(anatomical):
    img = read_image(anatomical)  # int16
    out = apply(img, "resample", {"voxel_size": [0.8], "order": 3})
    step = 0.8 / np.array(img.voxel_sizes)
    ref = _scipy_resample(img.data, about_centre(np.diag(step), img.spatial_shape, out.data.shape), out.data.shape, 3, "nearest")
    assert out.data.dtype == np.int16
    rounded = np.clip(np.rint(ref), -32768, 32767)
    differ = out.data != rounded
    assert np.abs(out.data - rounded).max() <= 1
    tie = np.abs(ref[differ] - np.floor(ref[differ]) - 0.5)
    assert (tie <= 1e-5 * np.ptp(img.data)).all()  # only where scipy's value is within 1e-5 of the range of a tie


def test_labels_resample_exactly_and_stay_integers():
    seg = read_image(samples.path("t1_seg"))
    labels = seg.replace(data=(seg.data.astype(np.int32) * 70001))  # beyond float32's exact integers
    out = apply(labels, "resample", {"shape": [47, 29, 40], "label": True})
    step = np.array(labels.spatial_shape) / np.array([47, 29, 40])
    ref = ndi.affine_transform(labels.data, about_centre(np.diag(step), labels.spatial_shape, (47, 29, 40)),
                               output_shape=(47, 29, 40), order=0, mode="nearest")
    assert out.data.dtype == np.int32
    np.testing.assert_array_equal(out.data, ref)


def test_fast_path_equals_the_general_path(anatomical, monkeypatch):
    img = read_image(anatomical)
    fast = apply(img, "resample", {"voxel_size": [1.3, 0.9, 1.7], "order": 3}, dtype="float32")
    monkeypatch.setattr(separable, "handles", lambda *args: False)  # scipy's affine_transform, as before
    slow = apply(img, "resample", {"voxel_size": [1.3, 0.9, 1.7], "order": 3}, dtype="float32")
    np.testing.assert_allclose(fast.data, slow.data, atol=1e-5 * np.ptp(slow.data))
    np.testing.assert_array_equal(fast.affine, slow.affine)


def test_other_modes_still_take_scipys_path(anatomical):
    img = read_image(anatomical)
    out = apply(img, "zoom", {"factors": [1.3], "order": 3, "mode": "reflect"}, dtype="float32")
    matrix = about_centre(np.diag([1 / 1.3] * 3), img.spatial_shape, img.spatial_shape)
    np.testing.assert_allclose(out.data, _scipy_resample(img.data, matrix, img.spatial_shape, 3, "reflect"), atol=1e-3)


def test_spline_filter_equals_scipys():
    data = np.asarray(nib.load(samples.path("t1")).dataobj, np.float64)
    for mode in ("nearest", "grid-constant"):
        for axis in range(3):
            ours = data.copy()
            separable.spline_filter(ours, axis, mode)
            np.testing.assert_allclose(ours, ndi.spline_filter1d(data, 3, axis=axis, mode=mode), atol=1e-9 * np.ptp(data))


@pytest.mark.parametrize("slice_axis", [0, 1, 2])
@pytest.mark.parametrize("order", [1, 3])
def test_augment_on_any_slice_axis_equals_one_affine_transform(anatomical, slice_axis, order):
    img = read_image(anatomical)  # 33 x 41 x 25: no two axes alike
    img = img.replace(data=ndi.gaussian_filter(img.data.astype(np.float32), 1.0))
    policy = Policy(enabled=("rotate", "scale", "translate", "flip"), mode="all", slice_axis=slice_axis)
    (out, _), = augment(img, None, 1, np.random.SeedSequence(2), Options(policy=policy, order=order))
    matrix = content_matrix(out.history[-1]["params"]["transforms"], img.spatial_shape, img.voxel_sizes)
    ref = ndi.affine_transform(img.data, matrix, order=order, mode="nearest")
    np.testing.assert_allclose(out.data, ref, atol=1e-4 * np.ptp(img.data))


def test_augmented_labels_keep_their_dtype_and_values(anatomical, tmp_path):
    img = read_image(anatomical)
    seg = img.replace(data=((img.data > 50).astype(np.uint16) * 1000 + (img.data > 120) * 7).astype(np.uint16))
    for out, out_seg in augment(img, seg, 3, np.random.SeedSequence(1), Options(order=3)):
        assert out_seg.data.dtype == np.uint16
        assert set(np.unique(out_seg.data)) <= set(np.unique(seg.data))
        write_image(out_seg, str(tmp_path / "seg.nii.gz"))
        if shutil.which("gzip"):
            assert subprocess.run(["gzip", "-t", str(tmp_path / "seg.nii.gz")]).returncode == 0
        np.testing.assert_array_equal(np.asanyarray(nib.load(str(tmp_path / "seg.nii.gz")).dataobj), out_seg.data)
