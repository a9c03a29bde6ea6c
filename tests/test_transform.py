"""Every transform op checked against numpy/scipy or a hand computation, on 2D, 3D and 4D data."""

import os
import re
import warnings

import nibabel as nib
import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.data

from conftest import load, run_mlkit
from mlkit.errors import MlkitError
from mlkit.io import Image, read_image, write_image
from mlkit.transform import apply, point


def vol(shape=(20, 24, 16), dtype=np.float32, seed=0, affine=None):
    data = np.random.default_rng(seed).random(shape) * 100
    return Image(data=data.astype(dtype), affine=np.eye(4) if affine is None else affine)


# --- point ops ----------------------------------------------------------------------------------


def test_negative_uint8_is_255_minus_r():
    cam = skimage.data.camera()
    out = apply(Image(data=cam), "negative", {}).data
    np.testing.assert_array_equal(out, 255 - cam.astype(int))
    assert out.dtype == np.uint8


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.int32, np.int64])
def test_negative_integers_never_overflow(dtype):
    info = np.iinfo(dtype)
    data = np.array([[info.min, -1 if info.min < 0 else 0, 0, 1, info.max]], dtype)
    out = apply(Image(data=data), "negative", {}).data
    expected = (int(info.max) + int(info.min)) - data.astype(object)
    np.testing.assert_array_equal(out.astype(object), expected)
    np.testing.assert_array_equal(out, ~data)


def test_negative_float_uses_data_range_per_volume():
    data = np.stack([np.linspace(1, 5, 24).reshape(2, 3, 4), np.linspace(-3, 10, 24).reshape(2, 3, 4)], axis=-1)
    out = apply(Image(data=data), "negative", {}).data
    np.testing.assert_allclose(out[..., 0], 6 - data[..., 0])
    np.testing.assert_allclose(out[..., 1], 7 - data[..., 1])


def test_log_uint8_matches_formula():
    cam = skimage.data.camera()
    out = apply(Image(data=cam), "log", {}).data
    expected = np.rint(255 / np.log1p(float(cam.max())) * np.log1p(cam.astype(float)))
    np.testing.assert_array_equal(out, expected.astype(np.uint8))


def test_log_float_scales_to_unit_range():
    img = vol()
    out = apply(img, "log", {}).data
    np.testing.assert_allclose(out, np.log1p(img.data) / np.log1p(img.data.max()), rtol=1e-6)
    assert out.dtype == np.float32 and np.isclose(out.max(), 1)


def test_log_rejects_negative_values():
    with pytest.raises(MlkitError, match=">= 0"):
        apply(Image(data=np.array([[-2.0, 1.0]])), "log", {})


def test_gamma_uint8_and_explicit_c():
    cam = skimage.data.camera()
    out = apply(Image(data=cam), "gamma", {"gamma": 0.5}).data
    np.testing.assert_array_equal(out, np.rint(255 * (cam / 255.0) ** 0.5).astype(np.uint8))
    img = vol()
    out = apply(img, "gamma", {"gamma": 2.0, "c": 0.01}).data
    np.testing.assert_allclose(out, 0.01 * img.data.astype(np.float64) ** 2, rtol=1e-5)


def test_normalize_range_zscore_and_mask():
    img = vol(dtype=np.int16)
    out = apply(img, "normalize", {}).data
    d = img.data.astype(float)
    np.testing.assert_allclose(out, (d - d.min()) / (d.max() - d.min()), rtol=1e-6)
    z = apply(img, "normalize", {"zscore": True}).data
    np.testing.assert_allclose(z, (d - d.mean()) / d.std(), rtol=1e-5, atol=1e-6)
    mask = np.zeros(img.data.shape, bool)
    mask[5:10, 5:10, 5:10] = True
    zm = apply(img, "normalize", {"zscore": True, "mask": mask}).data
    np.testing.assert_allclose(zm, (d - d[mask].mean()) / d[mask].std(), rtol=1e-5, atol=1e-6)
    assert out.dtype == np.float32


def test_rescale_to_dtype_and_range():
    img = vol()
    out = apply(img, "rescale", {"to": "uint8"}).data
    d = img.data.astype(float)
    np.testing.assert_array_equal(out, np.rint((d - d.min()) * 255 / (d.max() - d.min())).astype(np.uint8))
    out = apply(img, "rescale", {"out_range": (-1, 1)}).data
    assert np.isclose(out.min(), -1) and np.isclose(out.max(), 1)


def test_clip_values_and_percentiles():
    img = vol()
    np.testing.assert_array_equal(apply(img, "clip", {"low": 20, "high": 70}).data, np.clip(img.data, 20, 70))
    lo, hi = np.percentile(img.data, [5, 95])
    np.testing.assert_allclose(apply(img, "clip", {"percentiles": (5, 95)}).data, np.clip(img.data, lo, hi))


def test_threshold_binary_zero_and_otsu():
    from skimage.filters import threshold_otsu

    img = vol()
    np.testing.assert_array_equal(apply(img, "threshold", {"value": 50}).data, (img.data > 50).astype(np.uint8))
    zeroed = apply(img, "threshold", {"value": 50, "mode": "zero"}).data
    np.testing.assert_array_equal(zeroed, np.where(img.data > 50, img.data, 0))
    t1 = read_image(nib_path("anatomical.nii")).data.astype(np.float32)
    width = (t1.max() - t1.min()) / 256
    assert abs(point.otsu_threshold(t1) - threshold_otsu(t1)) <= width


def nib_path(name):
    import os

    return os.path.join(os.path.dirname(nib.__file__), "tests", "data", name)


# --- geometric ops -------------------------------------------------------------------------------


def world(img, ijk):
    return (img.affine @ np.append(ijk, 1))[:3]


def test_flip_is_exact_and_keeps_anatomy_in_place():
    img = read_image(nib_path("anatomical.nii"))
    out = apply(img, "flip", {"axis": 1})
    np.testing.assert_array_equal(out.data, img.data[:, ::-1, :])
    # voxel (i, j, k) of the output sits where (i, n-1-j, k) of the input did
    np.testing.assert_allclose(world(out, [3, 5, 7]), world(img, [3, 40 - 5, 7]))
    kept = apply(img, "flip", {"axis": 1, "keep_affine": True})
    np.testing.assert_array_equal(kept.affine, img.affine)


@pytest.mark.parametrize("order", [0, 1, 3])
def test_rotate_matches_scipy(order):
    cam = skimage.data.camera().astype(np.float32)
    out = apply(Image(data=cam), "rotate", {"angle": 30, "order": order, "mode": "nearest"}).data
    ref = ndi.rotate(cam, 30, axes=(0, 1), reshape=False, order=order, mode="nearest")
    np.testing.assert_allclose(out, ref, atol=1e-3)


def test_rotate_3d_plane_and_rgb_channels():
    img = vol(shape=(16, 16, 9))
    out = apply(img, "rotate", {"angle": -20, "axes": (0, 2), "order": 1, "mode": "nearest"}).data
    np.testing.assert_allclose(out, ndi.rotate(img.data, -20, axes=(0, 2), reshape=False, order=1, mode="nearest"), atol=1e-3)
    rgb = skimage.data.astronaut()
    out = apply(Image(data=rgb, channels=True), "rotate", {"angle": 10, "order": 1, "mode": "nearest"}).data
    assert out.shape == rgb.shape and out.dtype == np.uint8
    ref = ndi.rotate(rgb.astype(np.float32), 10, axes=(0, 1), reshape=False, order=1, mode="nearest")
    assert np.abs(out.astype(float) - ref).max() <= 0.5 + 1e-3


def test_rotation_keeps_a_landmark_at_its_world_position():
    affine = np.diag([1.0, 1.0, 3.0, 1.0])
    affine[:3, 3] = [-10, 20, 5]
    data = np.zeros((41, 41, 5), np.float32)
    data[30, 20, 2] = 1000  # a bright point off-centre
    img = Image(data=data, affine=affine)
    out = apply(img, "rotate", {"angle": 90, "order": 1})
    peak = np.unravel_index(np.argmax(out.data), out.data.shape)
    np.testing.assert_allclose(world(out, peak), world(img, [30, 20, 2]), atol=1e-6)
    assert peak != (30, 20, 2)  # the grid moved, the anatomy did not


def test_rotate_anisotropic_voxels_is_rigid_in_mm():
    img = Image(data=np.zeros((30, 60), np.float32), affine=np.diag([2.0, 1.0, 1.0, 1.0]))
    out = apply(img, "rotate", {"angle": 30})
    sizes = np.sqrt((out.affine[:3, :3] ** 2).sum(axis=0))
    np.testing.assert_allclose(sizes, [2, 1, 1])
    cols = out.affine[:3, :2]
    assert abs(cols[:, 0] @ cols[:, 1]) < 1e-9  # no shear


@pytest.mark.parametrize("offsets", [[3, -2, 0], [1.5, 0.25, -0.5]])
def test_shift_matches_scipy(offsets):
    img = vol()
    out = apply(img, "shift", {"offsets": offsets, "order": 1})
    ref = ndi.shift(img.data, offsets, order=1, mode="grid-constant")
    np.testing.assert_allclose(out.data, ref, atol=1e-4)
    np.testing.assert_allclose(world(out, [10, 10, 5]), world(img, np.subtract([10, 10, 5], offsets)))


def test_zoom_keeps_shape_and_centre():
    img = vol(shape=(21, 21, 11))
    out = apply(img, "zoom", {"factors": [2.0], "order": 1})
    assert out.data.shape == img.data.shape
    c = np.array([10, 10, 5])
    np.testing.assert_allclose(out.data[tuple(c)], img.data[tuple(c)], rtol=1e-6)
    # output voxel c + d samples input c + d/2
    np.testing.assert_allclose(out.data[12, 10, 5], img.data[11, 10, 5], rtol=1e-5)
    np.testing.assert_allclose(np.sqrt((out.affine[:3, :3] ** 2).sum(0)), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(world(out, c), world(img, c))


def test_resample_matches_scipy_zoom_grid_mode():
    img = vol(shape=(20, 24, 16))
    out = apply(img, "resample", {"shape": [40, 12, 16], "order": 1, "mode": "nearest", "antialias": False})
    ref = ndi.zoom(img.data, (2, 0.5, 1), order=1, grid_mode=True, mode="nearest")
    np.testing.assert_allclose(out.data, ref, atol=1e-4)
    np.testing.assert_allclose(np.sqrt((out.affine[:3, :3] ** 2).sum(0)), [0.5, 2, 1])
    # the field of view is the same: the outer voxel corners coincide
    np.testing.assert_allclose(world(out, [-0.5, -0.5, -0.5]), world(img, [-0.5, -0.5, -0.5]))


def test_resample_to_voxel_size(anatomical):
    img = read_image(anatomical)  # 2 mm
    out = apply(img, "resample", {"voxel_size": [1.0], "order": 1})
    assert out.data.shape == (66, 82, 50)
    np.testing.assert_allclose(np.sqrt((out.affine[:3, :3] ** 2).sum(0)), [1, 1, 1], atol=1e-6)


def test_label_safe_resample_keeps_labels():
    labels = np.zeros((30, 30, 10), np.uint8)
    labels[5:15, 5:20, 2:8] = 3
    labels[18:25, 10:28, 1:9] = 7
    img = Image(data=labels)
    for op, params in [("rotate", {"angle": 33}), ("zoom", {"factors": [1.3]}), ("resample", {"shape": [17, 41, 10]})]:
        out = apply(img, op, {**params, "order": 3, "label": True}).data
        assert set(np.unique(out)) <= {0, 3, 7}
        assert out.dtype == np.uint8


def test_crop_and_pad_move_the_affine(anatomical):
    img = read_image(anatomical)
    out = apply(img, "crop", {"shape": [21, 31, 15]})
    np.testing.assert_array_equal(out.data, img.data[6:27, 5:36, 5:20])
    np.testing.assert_allclose(world(out, [0, 0, 0]), world(img, [6, 5, 5]))
    back = apply(out, "pad", {"shape": [33, 41, 25]})
    np.testing.assert_array_equal(back.data[6:27, 5:36, 5:20], out.data)
    np.testing.assert_allclose(back.affine, img.affine, atol=1e-9)
    with pytest.raises(MlkitError, match="does not fit"):
        apply(img, "crop", {"shape": [40, 10, 10]})


def test_4d_ops_run_per_volume(example4d):
    img = read_image(example4d)
    out = apply(img, "rotate", {"angle": 12, "order": 1, "mode": "nearest"})
    assert out.data.shape == img.data.shape
    for t in range(img.data.shape[3]):
        ref = ndi.rotate(img.data[..., t].astype(np.float32), 12, axes=(0, 1), reshape=False, order=1, mode="nearest")
        # anisotropic in-plane voxels? example4d is 2x2 in-plane: a plain rotation
        assert np.abs(out.data[..., t].astype(float) - np.rint(ref)).max() <= 1
    norm = apply(img, "normalize", {}).data
    for t in range(img.data.shape[3]):
        assert np.isclose(norm[..., t].min(), 0) and np.isclose(norm[..., t].max(), 1)


def test_slice_takes_a_plane(anatomical):
    img = read_image(anatomical)
    out = apply(img, "slice", {"axis": 2, "index": 12, "raw": True})
    np.testing.assert_array_equal(out.data, img.data[:, :, 12])
    np.testing.assert_allclose(world(out, [4, 9, 0]), world(img, [4, 9, 12]))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_slice_turns_the_plane_for_display_and_keeps_every_voxel_in_place(anatomical, axis):
    import nibabel as nib

    img = read_image(anatomical)  # LAS: nibabel's closest canonical (RAS) flips the first axis
    canonical = np.asanyarray(nib.as_closest_canonical(nib.load(anatomical)).dataobj)
    out = apply(img, "slice", {"axis": axis, "index": 10})
    ras_index = img.data.shape[0] - 1 - 10 if axis == 0 else 10
    plane = np.take(canonical, ras_index, axis=axis)  # rows and columns: the other RAS axes, ascending
    expected = {0: plane[::-1, ::-1].T, 1: plane[:, ::-1].T, 2: plane[:, ::-1].T}[axis]
    np.testing.assert_array_equal(out.data, expected)  # axial: anterior up; others: superior up
    rows, cols = np.meshgrid(range(out.data.shape[0]), range(out.data.shape[1]), indexing="ij")
    ijk = np.rint(np.linalg.inv(img.affine) @ out.affine @ np.stack([rows.ravel(), cols.ravel(), 0 * rows.ravel(),
                                                                      1 + 0 * rows.ravel()]))[:3].astype(int)
    np.testing.assert_array_equal(out.data.ravel(), img.data[tuple(ijk)])


# --- through the CLI ------------------------------------------------------------------------------


def test_cli_transform_writes_what_the_library_computes(anatomical, tmp_path):
    proc = run_mlkit("transform", "rotate", "--angle", "15", "--order", "3", anatomical, "-o", tmp_path / "r.nii.gz")
    assert proc.returncode == 0, proc.stderr
    data, affine, _ = load(tmp_path / "r.nii.gz")
    ref = apply(read_image(anatomical), "rotate", {"angle": 15, "order": 3})
    np.testing.assert_array_equal(data, ref.data)
    np.testing.assert_allclose(affine, ref.affine, atol=1e-5)


def test_cli_png_in_png_out(camera_png, tmp_path):
    proc = run_mlkit("transform", "flip", "--axis", "1", camera_png, "-o", tmp_path / "f.png")
    assert proc.returncode == 0
    np.testing.assert_array_equal(read_image(str(tmp_path / "f.png")).data, skimage.data.camera()[:, ::-1])


def test_cli_3d_to_png_needs_a_slice(anatomical, tmp_path):
    proc = run_mlkit("transform", "rescale", "--to", "uint8", anatomical, "-o", tmp_path / "x.png")
    assert proc.returncode == 1 and b"transform slice" in proc.stderr
    assert not (tmp_path / "x.png").exists()
    ok = run_mlkit("transform", "slice", "--index", "12", anatomical, "-o", "-").stdout
    proc = run_mlkit("transform", "rescale", "--to", "uint8", "-", "-o", tmp_path / "x.png", stdin=ok)
    assert proc.returncode == 0, proc.stderr
    assert read_image(str(tmp_path / "x.png")).data.shape == (41, 33)  # anterior-posterior rows, left-right columns


# --- output dtype, records, bad values (issue 9) -----------------------------------------------


def bad_run_checks(proc, out_path, code):
    """A refused run: the exit code, one mlkit error line, no traceback, nothing written."""
    refused(proc.returncode, proc.stderr.decode(), out_path, code)


def refused(returncode, err, out_path, code):
    assert returncode == code, err
    lines = [l for l in err.splitlines() if "inputs failed" not in l]  # the batch summary is the lead's
    assert len(lines) == 1 and lines[0].startswith("mlkit transform") and ": error: " in lines[0], err
    assert "Traceback" not in err and "np." not in err
    assert not re.search(r"\b[A-Z]\w*(Error|Exception)\b", err), err
    assert not os.path.exists(out_path) or not os.listdir(out_path)


def test_rescale_range_beyond_the_input_dtype_gives_float32():
    cam = skimage.data.camera()
    out = apply(Image(data=cam), "rescale", {"out_range": (-1, 1)}).data
    assert out.dtype == np.float32
    d = cam.astype(float)
    np.testing.assert_allclose(out, -1 + 2 * (d - d.min()) / (d.max() - d.min()), atol=1e-6)
    assert len(np.unique(out)) == len(np.unique(cam))  # not clipped to {0, 1}
    fits = apply(Image(data=cam), "rescale", {"out_range": (10, 20)}).data
    assert fits.dtype == np.uint8 and fits.min() == 10 and fits.max() == 20


def test_cli_rescale_range_on_uint8_and_an_integer_to_that_cannot_hold_it(camera_png, tmp_path):
    proc = run_mlkit("transform", "rescale", "--range", "-1", "1", camera_png, "-o", tmp_path / "r.nii.gz")
    assert proc.returncode == 0, proc.stderr
    data = load(tmp_path / "r.nii.gz")[0]
    assert data.dtype == np.float32 and data.min() == -1 and data.max() == 1
    proc = run_mlkit("transform", "rescale", "--to", "uint8", "--range", "-1", "1", camera_png, "-o", f"{tmp_path}/o/")
    bad_run_checks(proc, tmp_path / "o", 2)
    assert b"does not fit in uint8" in proc.stderr and b"--to float32" in proc.stderr


@pytest.mark.parametrize("op, params, ref", [
    ("rotate", {"angle": 17, "order": 3, "mode": "nearest"},
     lambda d: ndi.rotate(d, 17, reshape=False, order=3, mode="nearest")),
    ("zoom", {"factors": [1.3], "order": 1, "mode": "nearest"},
     lambda d: ndi.affine_transform(d, np.diag([1 / 1.3] * 2), offset=(np.array(d.shape) - 1) / 2 * (1 - 1 / 1.3), order=1, mode="nearest")),
    ("shift", {"offsets": [2.25, -1.5], "order": 1},
     lambda d: ndi.shift(d, [2.25, -1.5], order=1, mode="grid-constant")),
])
def test_float_dtype_on_integer_input_is_not_rounded(op, params, ref):
    cam = skimage.data.camera()
    out = apply(Image(data=cam), op, params, dtype="float32").data
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref(cam.astype(np.float32)), atol=2e-3)
    assert not np.array_equal(out, np.rint(out))  # interpolated values kept their fractions
    assert apply(Image(data=cam), op, params).data.dtype == np.uint8  # without it: the input's dtype


def test_float_dtype_keeps_computed_point_values():
    cam = skimage.data.camera()
    logged = apply(Image(data=cam), "log", {}, dtype="float32").data
    np.testing.assert_allclose(logged, np.log1p(cam.astype(float)) * 255 / np.log1p(255.0), rtol=1e-5)
    powered = apply(Image(data=cam), "gamma", {"gamma": 0.5}, dtype="float64").data
    assert powered.dtype == np.float64
    np.testing.assert_allclose(powered, 255 * (cam / 255.0) ** 0.5, rtol=1e-12)


def test_cli_dtype_float32_gives_what_the_library_and_scipy_give(camera_png, tmp_path):
    proc = run_mlkit("transform", "rotate", "--angle", "17", "--order", "3", "--mode", "nearest", "--dtype", "float32",
                     camera_png, "-o", tmp_path / "r.nii.gz")
    assert proc.returncode == 0, proc.stderr
    data = load(tmp_path / "r.nii.gz")[0]
    cam = skimage.data.camera()
    lib = apply(Image(data=cam), "rotate", {"angle": 17, "order": 3, "mode": "nearest"}, dtype="float32").data
    np.testing.assert_array_equal(data, lib)
    ref = ndi.rotate(cam.astype(np.float32), 17, reshape=False, order=3, mode="nearest")
    np.testing.assert_allclose(data, ref, atol=2e-3)


def test_cli_crop_message_has_plain_numbers(anatomical, tmp_path):
    proc = run_mlkit("transform", "crop", "--shape", "40,4,4", anatomical, "-o", f"{tmp_path}/o/")
    bad_run_checks(proc, tmp_path / "o", 1)
    assert "crop window (40, 4, 4) at (-4, 18, 10) does not fit in (33, 41, 25)" in proc.stderr.decode()


def test_cli_otsu_records_the_threshold_it_used(anatomical, tmp_path):
    from skimage.filters import threshold_otsu

    proc = run_mlkit("transform", "threshold", "--otsu", anatomical, "-o", tmp_path / "m.nii.gz")
    assert proc.returncode == 0, proc.stderr
    recorded = read_image(str(tmp_path / "m.nii.gz")).history[-1]["params"]["value"]
    t1 = read_image(anatomical).data
    assert recorded == point.otsu_threshold(t1)
    assert abs(recorded - threshold_otsu(t1)) <= (t1.max() - t1.min()) / 256  # one histogram bin
    np.testing.assert_array_equal(load(tmp_path / "m.nii.gz")[0], (t1 > recorded).astype(np.uint8))


def test_otsu_on_a_series_records_one_threshold_per_volume(example4d):
    from mlkit.transform import transform_step

    img = read_image(example4d)
    out, = transform_step(img, None, "threshold", {"value": None, "otsu": True, "mode": "binary"})
    values = out.history[-1]["params"]["value"]
    assert values == [point.otsu_threshold(img.data[..., t]) for t in range(img.data.shape[-1])]


@pytest.mark.parametrize("args", [
    ["gamma", "--gamma", "-1"], ["gamma", "--gamma", "nan"], ["rescale", "--range", "1", "1"],
    ["clip"], ["clip", "--min", "5", "--max", "1"], ["clip", "--percentile", "5", "150"], ["threshold"],
    ["rotate", "--angle", "10", "--axes", "1,1"], ["rotate", "--angle", "inf"], ["zoom", "--factor", "0"],
    ["resample", "--shape", "0,4,4"], ["resample", "--voxel-size", "-1"], ["crop", "--shape", "0,4,4"],
    ["crop", "--shape", "4", "--origin", "-1"], ["pad", "--shape", "0"], ["slice", "--index", "-1"],
])
def test_cli_bad_option_values_are_usage_errors(args, anatomical, tmp_path, invoke):
    result = invoke("transform", *args, anatomical, "-o", f"{tmp_path / 'o'}/")
    refused(result.exit_code, result.stderr, tmp_path / "o", 2)


def test_library_refuses_bad_values_as_usage_errors():
    from mlkit.errors import UsageError

    with pytest.raises(UsageError, match="positive"):
        apply(vol(), "zoom", {"factors": [0.0]})
    with pytest.raises(UsageError, match="does not fit in int8"):
        apply(vol(), "rescale", {"to": "int8", "out_range": (0, 1000)})


CLI_OPS = [["negative"], ["log"], ["gamma", "--gamma", "2"], ["normalize"], ["normalize", "--zscore"], ["rescale"],
           ["rescale", "--to", "uint8"], ["clip", "--percentile", "1", "99"], ["threshold", "--otsu"], ["flip"],
           ["rotate", "--angle", "10", "--order", "3"], ["shift", "--by", "1.5"], ["zoom", "--factor", "1.2"],
           ["resample", "--shape", "6,7,5"], ["crop", "--shape", "4,4,4"], ["pad", "--shape", "20,20,20"], ["slice"]]


@pytest.mark.parametrize("fill", ["some-nan", "all-nan", "zeros"])
def test_cli_every_op_on_nan_and_constant_images(fill, tmp_path, invoke):
    data = np.random.default_rng(0).random((12, 14, 10)).astype(np.float32) * 100
    if fill == "some-nan":
        data[2, 3, 4], data[5, 5, 5] = np.nan, np.inf
    else:
        data[:] = np.nan if fill == "all-nan" else 0
    path = tmp_path / "in.nii"
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    for args in CLI_OPS:
        out = tmp_path / "o"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy chatter would surface as an exception's name
            result = invoke("transform", *args, path, "-o", f"{out}/")
        err = result.stderr
        assert not re.search(r"\b[A-Z]\w*(Error|Warning)\b", err), (args, err)
        if result.exit_code != 0:
            refused(result.exit_code, err, out, 1)
            assert fill != "zeros" and "finite" in err, (args, err)  # "no finite values", "NaN or infinite"
        for f in os.listdir(out) if out.exists() else []:
            os.remove(out / f)


def test_normalize_with_an_empty_mask_says_so():
    with pytest.raises(MlkitError, match="mask is empty"):
        apply(vol(), "normalize", {"mask": np.zeros((20, 24, 16))})


def test_normalize_float64_dtype_keeps_float64_precision():
    cam = skimage.data.camera()
    out = apply(Image(data=cam), "normalize", {"zscore": True}, dtype="float64").data
    d = cam.astype(np.float64)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, (d - d.mean()) / d.std(), rtol=1e-12)


@pytest.mark.parametrize("args", [a if a[0] != "pad" else ["pad", "--shape", "40,48,30"] for a in CLI_OPS],
                         ids=lambda a: " ".join(a))
def test_library_call_with_the_recorded_parameters_equals_the_cli(args, anatomical, tmp_path):
    """The history's parameters are the library's: apply() with them gives the CLI's output."""
    source = read_image(anatomical)
    source = source.replace(data=np.clip(source.data, 0, None))  # log and gamma take values >= 0
    write_image(source, str(tmp_path / "in.nii"))
    out = tmp_path / "out.nii"
    proc = run_mlkit("transform", *args, tmp_path / "in.nii", "-o", out)
    assert proc.returncode == 0, proc.stderr
    written = read_image(str(out))
    entry = written.history[-1]
    assert entry["command"] == f"transform {args[0]}"
    params = dict(entry["params"])
    if params.get("otsu"):
        params.pop("otsu")  # the recorded threshold Otsu chose stands in for choosing it again
    expected = apply(read_image(str(tmp_path / "in.nii")), args[0], params)
    np.testing.assert_array_equal(written.data, expected.data)
    np.testing.assert_allclose(written.affine, expected.affine, atol=1e-6)


def test_nan_into_integers_suggests_dtype_only_where_it_helps(tmp_path, invoke):
    """A NaN fill for a uint8 image: transform's --dtype float32 keeps it, so the hint names it
    (and following it works). NaN voxels cast by the user's own --dtype uint8: the hint does not
    send them back to --dtype. Library callers, who have no --dtype, are not told of it."""
    from mlkit.dtypes import to_dtype

    cam = skimage.data.camera()[:64, :48]
    write_image(Image(data=cam, format="png"), str(tmp_path / "cam.png"))
    result = invoke("transform", "pad", tmp_path / "cam.png", "--shape", "70,50", "--cval", "nan", "-o", f"{tmp_path / 'o'}/")
    refused(result.exit_code, result.stderr, tmp_path / "o", 1)
    assert result.stderr.strip().endswith("cannot store NaN or infinite values as uint8 (clip or threshold them first, or use --dtype float32)")
    result = invoke("transform", "pad", tmp_path / "cam.png", "--shape", "70,50", "--cval", "nan", "--dtype", "float32",
                    "-o", tmp_path / "padded.nii")
    assert result.exit_code == 0, result.stderr
    padded = load(tmp_path / "padded.nii")[0]
    assert padded.shape == (70, 50)
    np.testing.assert_array_equal(padded[3:67, 1:49], cam)  # centred: (70 - 64) // 2 and (50 - 48) // 2 before
    assert np.isnan(padded).sum() == 70 * 50 - 64 * 48

    nib.save(nib.Nifti1Image(np.array([[[1.5, np.nan], [2.0, 3.0]]], np.float32), np.eye(4)), tmp_path / "f.nii")
    result = invoke("transform", "flip", tmp_path / "f.nii", "--axis", "0", "--dtype", "uint8", "-o", f"{tmp_path / 'o'}/")
    refused(result.exit_code, result.stderr, tmp_path / "o", 1)
    assert result.stderr.strip().endswith("cannot store NaN or infinite values as uint8 (clip or threshold them first)")
    with pytest.raises(MlkitError) as caught:
        to_dtype(np.array([np.inf]), np.int16)
    assert caught.value.hint == "clip or threshold them first"
