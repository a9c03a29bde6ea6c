"""augment: alignment, label safety, one interpolation, seeds, crops, shapes, errors."""

import json
import os

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.data

from conftest import pipeline, run_mlkit
from mlkit.augment import Options, augment, content_matrix
from mlkit.augment.policy import Policy
from mlkit.errors import MlkitError
from mlkit.io import Image, read_image, write_image

SPATIAL = ("rotate", "scale", "translate", "flip", "sliceshift", "elastic")


def phantom(shape=(48, 56, 24)):
    """Two labelled ellipsoids; the image is 100 x label (so it can be thresholded back)."""
    grid = np.indices(shape, dtype=float)
    centre = np.array(shape, float)[:, None, None, None] / 2
    r = ((grid - centre) / (np.array(shape) / 3.2)[:, None, None, None]) ** 2
    seg = np.zeros(shape, np.uint8)
    seg[r.sum(0) < 1] = 1
    shifted = ((grid - centre - np.array([6, -5, 2])[:, None, None, None]) / 6.0) ** 2
    seg[shifted.sum(0) < 1] = 2
    affine = np.diag([1.2, 1.2, 2.5, 1])
    affine[:3, 3] = [-30, -40, 10]
    return Image(data=seg.astype(np.float32) * 100, affine=affine, name="ph"), Image(data=seg, affine=affine, name="ph_seg")


def copies(img, seg, n=4, seed=0, **policy):
    order = policy.pop("order", 1)
    opts = Options(policy=Policy(**policy), order=order, **{k: policy.pop(k) for k in []})
    return augment(img, seg, n, np.random.SeedSequence(seed), opts)


@pytest.mark.parametrize("enabled", [SPATIAL, ("rotate", "scale", "translate", "flip", "sliceshift")])
def test_segmentation_stays_aligned_with_its_image(enabled):
    img, seg = phantom()
    for out, out_seg in copies(img, seg, n=5, enabled=enabled, mode="all", elastic=(2, 4)):
        fg_img = out.data > 50
        fg_seg = out_seg.data > 0
        cube = np.ones((3, 3, 3), bool)
        boundary = ndi.binary_dilation(fg_seg, cube) & ~ndi.binary_erosion(fg_seg, cube)
        disagree = fg_img != fg_seg
        assert (disagree & ~boundary).sum() == 0  # every disagreement is within a voxel of the edge
        assert disagree.sum() < 0.2 * boundary.sum()


def test_labels_are_a_subset_and_never_fractional():
    img, seg = phantom()
    for _, out_seg in copies(img, seg, n=6, enabled=SPATIAL, mode="all", order=3):
        assert out_seg.data.dtype == np.uint8
        assert set(np.unique(out_seg.data)) <= {0, 1, 2}


@pytest.mark.parametrize("order", [1, 3])
def test_one_interpolation_equals_one_affine_transform(order):
    img, _ = phantom()
    img = img.replace(data=ndi.gaussian_filter(img.data, 1.5))
    (out, _), = copies(img, None, n=1, seed=3, enabled=("rotate", "scale", "translate", "flip"), mode="all", order=order)
    params = out.history[-1]["params"]["transforms"]
    matrix = content_matrix(params, img.spatial_shape, img.voxel_sizes)
    ref = ndi.affine_transform(img.data, matrix, order=order, mode="nearest")
    np.testing.assert_allclose(out.data, ref, atol=1e-3)
    # a cascade (rotate, then zoom, then shift, each interpolated) blurs more and differs
    np.testing.assert_array_equal(out.affine, img.affine)


def test_drawn_parameters_stay_in_their_ranges():
    img, seg = phantom()
    policy = dict(enabled=("rotate", "scale", "translate", "intensity"), mode="all", rotate=(-5, 5), scale=(0.95, 1.0), translate=(-2, 2))
    for out, _ in copies(img, seg, n=20, **policy):
        t = out.history[-1]["params"]["transforms"]
        assert -5 <= t["rotate"]["degrees"][0] <= 5
        assert 0.95 <= t["scale"]["factor"] <= 1.0
        assert all(-2 <= v <= 2 for v in t["translate"]["voxels"][:2]) and t["translate"]["voxels"][2] == 0
        assert t["rotate"]["planes"] == [[0, 1]]


def test_subset_policy_draws_non_empty_subsets():
    img, seg = phantom((16, 16, 8))
    seen = set()
    for out, _ in copies(img, seg, n=40):
        chosen = tuple(sorted(out.history[-1]["params"]["transforms"]))
        assert chosen
        seen.add(chosen)
    assert len(seen) > 10


def test_intensity_changes_image_not_labels():
    img, seg = phantom()
    (out, out_seg), = copies(img, seg, n=1, enabled=("intensity",), mode="all")
    factor = out.history[-1]["params"]["transforms"]["intensity"]["value"]
    np.testing.assert_allclose(out.data, img.data * factor, rtol=1e-6)
    np.testing.assert_array_equal(out_seg.data, seg.data)


def test_rgb_photo_channels_are_not_spatial():
    rgb = skimage.data.astronaut()
    img = Image(data=rgb, channels=True, format="png")
    (out, _), = copies(img, None, n=1, seed=1, enabled=("rotate", "scale"), mode="all")
    assert out.data.shape == rgb.shape and out.data.dtype == np.uint8
    matrix = content_matrix(out.history[-1]["params"]["transforms"], rgb.shape[:2], (1, 1))
    for c in range(3):
        ref = ndi.affine_transform(rgb[..., c].astype(np.float32), matrix, order=1, mode="nearest")
        assert np.abs(out.data[..., c] - np.clip(np.rint(ref), 0, 255)).max() <= 1


def test_crop_keeps_the_whole_segmentation_and_moves_the_affine():
    img, seg = phantom((64, 64, 12))
    opts = Options(policy=Policy(enabled=("rotate", "translate"), mode="all"), order=1, crop=True, margin=3)
    for out, out_seg in augment(img, seg, 4, np.random.SeedSequence(5), opts):
        crop = out.history[-1]["params"]["grid"]["crop"]
        assert out.data.shape == tuple(crop["shape"]) and crop["shape"][0] == crop["shape"][1]
        full = augment(img, seg, 4, np.random.SeedSequence(5), Options(policy=opts.policy, order=1))
        k = out.history[-1]["params"]["copy"] - 1
        uncropped = full[k][1].data
        assert (out_seg.data > 0).sum() == (uncropped > 0).sum()  # nothing labelled was cut away
        np.testing.assert_allclose(out.affine[:3, 3], (img.affine @ np.append(crop["origin"], 1))[:3])


def test_shape_resamples_last_and_keeps_the_field_of_view():
    img, seg = phantom((40, 40, 10))
    opts = Options(policy=Policy(enabled=("translate",), mode="all", translate=(0, 0)), order=1, shape=(20, 80, 10))
    (out, out_seg), = augment(img, seg, 1, np.random.SeedSequence(0), opts)
    assert out.data.shape == (20, 80, 10) and out_seg.data.shape == (20, 80, 10)
    corner = lambda im: (im.affine @ np.array([-0.5, -0.5, -0.5, 1]))[:3]
    np.testing.assert_allclose(corner(out), corner(img))
    np.testing.assert_allclose(np.sqrt((out.affine[:3, :3] ** 2).sum(0)), [2.4, 0.6, 2.5])


def test_errors_for_bad_segmentations():
    img, seg = phantom((16, 16, 8))
    with pytest.raises(MlkitError, match="shape"):
        copies(img, seg.replace(data=seg.data[:8]))
    with pytest.raises(MlkitError, match="affine"):
        copies(img, seg.replace(affine=np.eye(4)))
    with pytest.raises(MlkitError, match="non-integer"):
        copies(img, seg.replace(data=seg.data * 0.5))
    empty = seg.replace(data=np.zeros_like(seg.data))
    with pytest.raises(MlkitError, match="empty"):
        augment(img, empty, 1, np.random.SeedSequence(0), Options(crop=True))


# --- through the CLI --------------------------------------------------------------------------------


@pytest.fixture
def pair(tmp_path):
    img, seg = phantom((32, 36, 12))
    write_image(img.replace(data=img.data.astype(np.int16)), str(tmp_path / "ph.nii.gz"))
    write_image(seg, str(tmp_path / "ph_seg.nii.gz"))
    return tmp_path / "ph.nii.gz", tmp_path / "ph_seg.nii.gz"


def test_cli_names_formats_and_log(pair, tmp_path):
    image, seg = pair
    out = tmp_path / "out"
    proc = run_mlkit("augment", image, "--seg", seg, "-n", "3", "--seed", "7", "-o", f"{out}/", "--log", tmp_path / "p.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == [f"ph_aug00{k}.nii.gz" for k in (1, 2, 3)] + [f"ph_seg_aug00{k}.nii.gz" for k in (1, 2, 3)]
    lines = [json.loads(line) for line in open(tmp_path / "p.jsonl")]
    assert [l["output"] for l in lines[:2]] == ["ph_aug001", "ph_seg_aug001"]
    assert lines[0]["transforms"] == read_image(str(out / "ph_aug001.nii.gz")).history[-1]["params"]["transforms"]
    assert read_image(str(out / "ph_aug001.nii.gz")).data.dtype == np.int16


def test_cli_same_seed_same_bytes_with_and_without_jobs(pair, tmp_path):
    image, seg = pair
    inputs = tmp_path / "many"
    inputs.mkdir()
    segs = tmp_path / "segs"
    segs.mkdir()
    for k in range(3):
        os.link(image, inputs / f"s{k}.nii.gz")
        os.link(seg, segs / f"s{k}_seg.nii.gz")
    runs = {}
    for name, extra in [("a", []), ("b", ["--jobs", "2"]), ("c", [])]:
        # the same output path each time: the command line is part of each file's history
        proc = run_mlkit("augment", inputs, "--seg", segs, "-n", "2", "--seed", "11", "-o", "out/", *extra, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        os.rename(tmp_path / "out", tmp_path / name)
        runs[name] = {f: read_image(str(tmp_path / name / f)) for f in os.listdir(tmp_path / name)}
    assert len(runs["a"]) == 12
    for f, img in runs["a"].items():
        np.testing.assert_array_equal(img.data, runs["b"][f].data)
        assert img.history[-1]["params"] == runs["b"][f].history[-1]["params"]
    a_bytes = {f: (tmp_path / "a" / f).read_bytes() for f in runs["a"]}
    assert a_bytes == {f: (tmp_path / "c" / f).read_bytes() for f in runs["c"]}  # byte-identical
    other = run_mlkit("augment", inputs, "-n", "2", "-o", f"{tmp_path / 'd'}/")
    assert other.returncode == 0
    assert any(not np.array_equal(read_image(str(tmp_path / "d" / f)).data, runs["a"][f].data) for f in os.listdir(tmp_path / "d"))


def test_cli_stream_three_copies_with_parameters(anatomical):
    codes, out, errs = pipeline(["augment", anatomical, "-n", "3", "--seed", "2", "-o", "-"], ["info", "-", "--json"])
    assert codes == [0, 0], errs
    facts = json.loads(out)
    assert [f["name"] for f in facts] == ["anatomical_aug001", "anatomical_aug002", "anatomical_aug003"]
    for f in facts:
        assert f["history"][-1]["command"] == "augment"
        assert f["history"][-1]["params"]["transforms"]


def test_cli_stdin_redirect(anatomical):
    with open(anatomical, "rb") as f:
        proc = run_mlkit("augment", "-", "-n", "3", "-o", "-", stdin=f.read())
    info = run_mlkit("info", "-", "--json", stdin=proc.stdout)
    assert len(json.loads(info.stdout)) == 3


def test_cli_4d_and_png(example4d, camera_png, tmp_path):
    proc = run_mlkit("augment", example4d, camera_png, "-n", "2", "--seed", "1", "-o", f"{tmp_path}/o/")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path / "o")) == ["camera_aug001.png", "camera_aug002.png", "example4d_aug001.nii.gz", "example4d_aug002.nii.gz"]
    assert read_image(str(tmp_path / "o" / "example4d_aug001.nii.gz")).data.shape == (128, 96, 24, 2)


def test_cli_bad_pair_fails_but_the_rest_is_done(pair, tmp_path):
    image, seg = pair
    small = tmp_path / "small_seg.nii.gz"
    write_image(Image(data=np.zeros((4, 4, 4), np.uint8)), str(small))
    other = tmp_path / "other.nii.gz"
    os.link(image, other)
    proc = run_mlkit("augment", image, other, "--seg", seg, "--seg", small, "-n", "1", "-o", f"{tmp_path}/o/")
    assert proc.returncode == 1
    assert b"does not match" in proc.stderr
    assert sorted(os.listdir(tmp_path / "o")) == ["ph_aug001.nii.gz", "ph_seg_aug001.nii.gz"]
    proc = run_mlkit("augment", image, "--seg", seg, "--seg", small, "-o", f"{tmp_path}/p/")
    assert proc.returncode == 2


def test_out_of_plane_rotation_keeps_alignment():
    img, seg = phantom((32, 32, 32))
    for out, out_seg in copies(img, seg, n=2, enabled=("rotate",), mode="all", rotate_axes="all", rotate=(10, 15)):
        assert len(out.history[-1]["params"]["transforms"]["rotate"]["planes"]) == 3
        fg_img, fg_seg = out.data > 50, out_seg.data > 0
        cube = np.ones((3, 3, 3), bool)
        boundary = ndi.binary_dilation(fg_seg, cube) & ~ndi.binary_erosion(fg_seg, cube)
        assert ((fg_img != fg_seg) & ~boundary).sum() == 0


def test_constant_fill_zeroes_what_came_from_outside():
    img = Image(data=np.full((30, 30, 6), 7.0, np.float32), affine=np.eye(4))
    opts = Options(policy=Policy(enabled=("scale",), mode="all", scale=(0.5, 0.5)), order=1, fill="constant")
    (out, _), = augment(img, None, 1, np.random.SeedSequence(0), opts)
    assert out.data[0, 0, 0] == 0 and out.data[15, 15, 3] == 7  # zoomed out: the border came from outside
    nearest = augment(img, None, 1, np.random.SeedSequence(0), Options(policy=opts.policy, order=1))[0][0]
    assert (nearest.data == 7).all()


# --- records, usage errors, dtype range (issue 9) ----------------------------------------------


def test_seg_entries_record_nearest_neighbour():
    img, seg = phantom((24, 24, 8))
    (out, out_seg), = augment(img, seg, 1, np.random.SeedSequence(0), Options(order=3))
    assert out.history[-1]["params"]["order"] == 3
    assert out_seg.history[-1]["params"]["order"] == 0
    assert {k: v for k, v in out_seg.history[-1]["params"].items() if k != "order"} == {
        k: v for k, v in out.history[-1]["params"].items() if k != "order"}


def test_the_record_alone_reproduces_each_copy():
    from mlkit.augment import COMPOSITION, reproduce

    img, seg = phantom((40, 40, 12))
    policy = Policy(enabled=SPATIAL + ("intensity", "gamma", "noise", "bias"), mode="all", elastic=(1, 2))
    opts = Options(policy=policy, order=3, crop=True, margin=2, shape=(24, 24, 12))
    for out, out_seg in augment(img, seg, 3, np.random.SeedSequence(9), opts):
        record = json.loads(json.dumps(out.history[-1]["params"]))  # as it is stored
        assert record["composition"] == [s for s in COMPOSITION if s in record["transforms"] or s in record["grid"]]
        assert record["composition"][-4:] == ["intensity", "gamma", "bias", "noise"]
        again, again_seg = reproduce(img, seg, record)
        np.testing.assert_array_equal(again.data, out.data)
        np.testing.assert_array_equal(again_seg.data, out_seg.data)
        np.testing.assert_array_equal(again.affine, out.affine)
        swapped = dict(record, composition=[s for s in record["composition"] if s != "intensity"] + ["intensity"])
        assert not np.allclose(reproduce(img, seg, swapped)[0].data, out.data)  # the order is followed


def test_cli_log_lines_reproduce_the_copies(pair, tmp_path):
    from mlkit.augment import reproduce

    image, seg = pair
    out = tmp_path / "out"
    proc = run_mlkit("augment", image, "--seg", seg, "-n", "2", "--seed", "4", "--transforms", "rotate,scale,gamma,noise",
                     "--policy", "all", "-o", f"{out}/", "--log", tmp_path / "p.jsonl")
    assert proc.returncode == 0, proc.stderr
    lines = {l["output"]: l for l in map(json.loads, open(tmp_path / "p.jsonl"))}
    assert lines["ph_aug001"]["composition"] == ["scale", "rotate", "gamma", "noise"]
    assert lines["ph_seg_aug001"]["order"] == 0
    for k in (1, 2):
        again, again_seg = reproduce(read_image(str(image)), read_image(str(seg)), lines[f"ph_aug00{k}"])
        np.testing.assert_array_equal(again.data, read_image(str(out / f"ph_aug00{k}.nii.gz")).data)
        np.testing.assert_array_equal(again_seg.data, read_image(str(out / f"ph_seg_aug00{k}.nii.gz")).data)


@pytest.mark.parametrize("args", [
    ["--transforms", "rotate,blur"], ["--rotate", "10", "-5"], ["--scale", "0", "1"], ["--noise", "-0.1", "0.1"],
    ["--rotate", "nan", "1"], ["--sliceshift-fraction", "0.5", "2"], ["--rotate-axes", "0,0"], ["--flip-axes", "5"],
    ["--crop"], ["--transforms", ","],
])
def test_cli_bad_option_values_are_usage_errors(args, pair, tmp_path, invoke):
    image, _ = pair
    result = invoke("augment", image, *args, "-o", f"{tmp_path / 'o'}/")
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlkit augment") and ": error: " in lines[0], result.stderr
    assert "Error" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")


def bright_int16(tmp_path):
    """int16 values up to 30000: x1.5 takes the top beyond 32767."""
    data = np.linspace(0, 30000, 16 * 16 * 6).reshape(16, 16, 6).round().astype(np.int16)
    path = tmp_path / "bright.nii.gz"
    write_image(Image(data=data, affine=np.eye(4)), str(path))
    return path, data


def test_cli_intensity_clipping_is_warned_and_float32_keeps_it(tmp_path):
    path, data = bright_int16(tmp_path)
    common = ["augment", path, "-n", "2", "--transforms", "intensity", "--policy", "all", "--intensity", "1.5", "1.5",
              "--order", "1", "--seed", "3"]
    proc = run_mlkit(*common, "-o", f"{tmp_path / 'int'}/")
    assert proc.returncode == 0, proc.stderr
    expected = 2 * int(np.count_nonzero(data * 1.5 >= 32767.5))  # two copies
    warning, = proc.stderr.decode().splitlines()  # once for the input, not once per copy
    assert ": warning: " in warning and f"{expected} voxels" in warning and "--dtype float32" in warning
    out = read_image(str(tmp_path / "int" / "bright_aug001.nii.gz")).data
    assert out.dtype == np.int16 and out.max() == 32767
    proc = run_mlkit(*common, "--dtype", "float32", "-o", f"{tmp_path / 'float'}/")
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    out = read_image(str(tmp_path / "float" / "bright_aug001.nii.gz")).data
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, data * 1.5, rtol=1e-6)


def test_library_dtype_option_matches_the_cli(tmp_path):
    path, data = bright_int16(tmp_path)
    img = read_image(str(path))
    policy = Policy(enabled=("intensity", "noise"), mode="all", intensity=(1.2, 1.2))
    (kept, _), = augment(img, None, 1, np.random.SeedSequence(0), Options(policy=policy, order=1, dtype="float32"))
    (clipped, _), = augment(img, None, 1, np.random.SeedSequence(0), Options(policy=policy, order=1))
    assert kept.data.dtype == np.float32 and kept.data.max() > 32767
    np.testing.assert_array_equal(clipped.data, np.clip(np.rint(kept.data), -32768, 32767).astype(np.int16))


@pytest.mark.parametrize("fill", [np.nan, 0.0])
def test_nan_and_constant_images_augment_quietly(fill):
    import warnings

    img = Image(data=np.full((16, 16, 6), fill, np.float32), affine=np.eye(4))
    data = img.data.copy()
    data[3, 3, 3] = 5.0  # one finite voxel among NaNs, or one bright voxel on zeros
    policy = Policy(enabled=SPATIAL + ("intensity", "gamma", "noise", "bias"), mode="all")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy chatter must not reach the user
        for image in (img, img.replace(data=data)):
            (out, _), = augment(image, None, 1, np.random.SeedSequence(1), Options(policy=policy, order=1))
            assert out.data.shape == image.data.shape and out.data.dtype == np.float32


def test_axes_a_photo_does_not_have_are_refused():
    photo = Image(data=skimage.data.camera(), format="png")
    for option in ("rotate_axes", "translate_axes", "flip_axes"):
        policy = Policy(enabled=("rotate", "translate", "flip"), mode="all", **{option: [0, 2]})
        with pytest.raises(MlkitError, match="2 spatial axes"):
            augment(photo, None, 1, np.random.SeedSequence(0), Options(policy=policy))
