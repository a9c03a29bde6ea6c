"""mlkit crop-align: landmark fits checked against scikit-image and OpenCV, faces on
scikit-image's astronaut (MTCNN run again on the crops), region crops sampled voxel by voxel
through both affines on nibabel's and mlkit's volumes."""

import os
import re
import subprocess
import sys

import cv2
import nibabel as nib
import numpy as np
import pytest
import skimage.data
import skimage.transform

from conftest import NIB_DATA, run_mlkit
from mlkit import samples
from mlkit.errors import MlkitError
from mlkit.crop import FaceOptions, RegionOptions, align_faces, crop_region, detect, fit, template_points
from mlkit.crop.align import apply, index_matrix, select
from mlkit.crop.face import aligned
from mlkit.io import Image, read_image, write_image
from mlkit.transform.geometry import sample

RNG = np.random.default_rng(11)


# ---- the fit -------------------------------------------------------------------------------

def _points(n=5):
    return RNG.uniform(50, 250, size=(n, 2))


def test_similarity_is_umeyamas_least_squares():
    src = _points()
    dst = src * 0.4 @ cv2.getRotationMatrix2D((0, 0), 17, 1)[:, :2].T + [30, -12] + RNG.normal(0, 1.5, (5, 2))
    theirs = skimage.transform.SimilarityTransform.from_estimate(src[:3], dst[:3])
    np.testing.assert_allclose(fit(src[:3], dst[:3], "similarity"), theirs.params[:2], atol=1e-9)


def test_affine_is_least_squares_and_exact_on_three_points():
    src = np.array([[60.0, 80], [200, 90], [130, 220], [90, 150]])
    dst = np.array([[41.0, 30], [110, 18], [95, 97], [60, 70]])
    exact = fit(src[:3], dst[:3], "affine")
    np.testing.assert_allclose(exact, cv2.getAffineTransform(src[:3].astype(np.float32), dst[:3].astype(np.float32)),
                               atol=1e-9)
    ones = np.ones((4, 1))  # (scikit-image's AffineTransform is total least squares, not this)
    np.testing.assert_allclose(fit(src, dst, "affine"), np.linalg.lstsq(np.hstack([src, ones]), dst, rcond=None)[0].T,
                               atol=1e-9)


@pytest.mark.parametrize("kind", ["similarity", "affine"])
def test_one_poor_point_of_five_is_left_out(kind):
    truth = cv2.getRotationMatrix2D((100, 100), -23, 0.35)
    src = template_points("arcface", 300) + RNG.normal(0, 8, (5, 2))
    dst = apply(truth, src)
    poor = dst.copy()
    poor[2] += [9.0, -7.0]  # a nose 11 px off, in a 112 px crop
    np.testing.assert_allclose(fit(src, poor, kind, side=112), truth, atol=1e-8)
    assert np.abs(fit(src, dst, kind, side=112) - truth).max() < 1e-8  # nothing left out when all agree


def test_templates_pad_and_select():
    unit = template_points("openface-inner", 1)
    np.testing.assert_allclose(template_points("openface-inner", 96, padding=0.25), (unit + 0.25) / 1.5 * 96)
    np.testing.assert_allclose(template_points("arcface", 112)[0], [38.2946, 51.6963], atol=0.01)
    three = select(unit, "eyes-mouth")
    np.testing.assert_allclose(three[2], (unit[3] + unit[4]) / 2)


def test_the_warp_is_opencvs_warp_affine():
    photo = skimage.data.astronaut()
    matrix = cv2.getRotationMatrix2D((230, 120), 21, 0.9)
    matrix[:, 2] -= [150, 40]
    ours = sample(Image(photo, channels=True, format="png"), index_matrix(matrix), (96, 96), order=1).data
    theirs = cv2.warpAffine(photo, matrix, (96, 96), flags=cv2.INTER_LINEAR)
    assert np.abs(ours.astype(int) - theirs.astype(int))[2:-2, 2:-2].max() <= 2  # OpenCV: 5-bit fixed point


# ---- faces ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def astronaut():
    return Image(skimage.data.astronaut(), name="astronaut", channels=True, format="png", suffix=".png")


def _turned(img, degrees=25, scale=0.7):
    matrix = cv2.getRotationMatrix2D((255.5, 255.5), degrees, scale)
    return img.replace(data=cv2.warpAffine(img.data, matrix, (512, 512), flags=cv2.INTER_CUBIC), name="turned")


def _landmarks(crop, options):
    faces = detect([crop], options)[0]
    assert faces, "MTCNN finds no face in the crop"
    return np.asarray(faces[0]["points"])


@pytest.mark.deep
@pytest.mark.parametrize("template,padding", [("openface-inner", 0.0), ("openface-inner", 0.25), ("arcface", 0.0)])
def test_faces_land_on_the_template_also_turned_and_shrunk(astronaut, template, padding):
    options = FaceOptions(template=template, padding=padding, size=96)
    straight, = align_faces(astronaut, options)
    turned, = align_faces(_turned(astronaut), options)
    assert straight.data.shape == turned.data.shape == (96, 96, 3) and straight.data.dtype == np.uint8
    seen_straight, seen_turned = _landmarks(straight, options), _landmarks(turned, options)
    assert np.linalg.norm(seen_straight - seen_turned, axis=1).max() < 4.0  # the goal, at 96 px
    target = select(template_points(template, 96, padding), options.landmarks)
    assert np.linalg.norm(select(seen_straight, options.landmarks) - target, axis=1).max() < 6.0
    entry = straight.history[-1]
    assert entry["command"] == "crop-align" and entry["params"]["template"] == template
    np.testing.assert_allclose(apply(entry["params"]["matrix"], entry["params"]["points_in"]), entry["params"]["points_out"])


@pytest.mark.deep
def test_bit_depth_grey_and_every_face(astronaut):
    options = FaceOptions(size=64, padding=0.25)
    base, = align_faces(astronaut, options)
    deep, = align_faces(astronaut.replace(data=astronaut.data.astype(np.uint16) * 257), options)
    assert deep.data.dtype == np.uint16
    assert np.abs(deep.data / 257.0 - base.data).max() <= 1.0
    grey, = align_faces(astronaut.replace(data=cv2.cvtColor(astronaut.data, cv2.COLOR_RGB2GRAY), channels=False), options)
    assert grey.data.shape == (64, 64)
    pair = astronaut.replace(data=np.hstack([astronaut.data, astronaut.data[:, ::-1]]), name="pair")
    every = align_faces(pair, FaceOptions(size=64, all_faces=True))
    assert [c.name for c in every] == ["pair_face0", "pair_face1"]
    assert every[0].history[-1]["params"]["faces_found"] == 2


@pytest.mark.deep
def test_no_face_is_an_error_or_skipped():
    coins = Image(skimage.data.coins(), name="coins", format="png")
    with pytest.raises(Exception, match="no face found"):
        align_faces(coins, FaceOptions())
    assert align_faces(coins, FaceOptions(skip_missing=True)) == []


def test_a_face_below_the_thresholds_says_which_it_missed():
    """Detections given (as the batch's detection pass gives them): no network here."""
    photo = Image(np.zeros((64, 64), np.uint8), name="p", format="png")
    unsure = {"box": [4, 4, 40, 40], "confidence": 0.5, "points": [[20, 20]] * 5}
    small = {"box": [4, 4, 15, 30], "confidence": 0.99, "points": [[10, 10]] * 5}
    for faces, words in [([unsure], "confidence 0.500 is below --min-confidence 0.9)"),
                         ([small], "box 15x30 px is smaller than --min-face-size 20)"),
                         ([{**small, "confidence": 0.5}], "confidence 0.500 is below --min-confidence 0.9 and "
                                                          "box 15x30 px is smaller than --min-face-size 20)")]:
        with pytest.raises(MlkitError, match=re.escape(f"no face found (the most confident one's {words}")):
            align_faces(photo, FaceOptions(), faces=faces)


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut):
    folder = tmp_path_factory.mktemp("photos")
    write_image(astronaut, str(folder / "astronaut.png"))
    write_image(_turned(astronaut), str(folder / "turned.png"))
    write_image(Image(skimage.data.coins(), name="coins", format="png"), str(folder / "coins.png"))
    return folder


@pytest.mark.deep
def test_a_batch_names_the_photo_without_a_face_and_writes_the_others(photos, tmp_path, astronaut):
    out, table = tmp_path / "faces", tmp_path / "faces.csv"
    proc = run_mlkit("crop-align", photos, "--size", "96", "-o", f"{out}/", "--landmarks-out", table)
    errors = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 1
    assert errors[0].startswith("mlkit crop-align: error: ") and "coins.png: no face found" in errors[0]
    assert errors[1] == "mlkit crop-align: error: 1 of 3 photos failed" and len(errors) == 2
    assert sorted(os.listdir(out)) == ["astronaut.png", "turned.png"]
    # the library gives the CLI's crop, and the CSV has the points of both
    crop, photo = read_image(str(out / "astronaut.png")), read_image(str(photos / "astronaut.png"))
    _same_crop_as_the_library(crop, photo, FaceOptions(size=96))
    lines = table.read_text().splitlines()
    assert lines[0].startswith("input,output,face,x,y,width,height,confidence,left_eye_x") and len(lines) == 3
    row = dict(zip(lines[0].split(","), lines[1].split(",")))
    entry = crop.history[-1]["params"]
    assert float(row["out_nose_x"]) == pytest.approx(entry["points_out"][2][0])



def _same_crop_as_the_library(crop, photo, options):
    """The CLI's crop is the library's. Exact for the warp, which is the same numpy/scipy
    computation once the landmarks are given: replayed from the points the CLI recorded. The
    detector is float32 TensorFlow, and the CLI runs photos of one size through it together while
    the library runs one: oneDNN may then choose kernels (and summation orders) by batch size,
    thread count and instruction set, so its landmarks may differ by float32 rounding, about 1e-5
    of their 100-300 px coordinates (3e-3 px). A shift that small moves a bilinear sample by at
    most 255 * 3e-3 < 1 grey level: at most one level, and only where a value sits at .5."""
    entry = crop.history[-1]["params"]
    recorded = {k: entry[k] for k in ("box", "confidence")} | {"points": entry["points_in"]}
    np.testing.assert_array_equal(crop.data, aligned(photo, recorded, options)[0].data)
    ours, = align_faces(photo, options)
    np.testing.assert_allclose(ours.history[-1]["params"]["points_in"], entry["points_in"], rtol=0, atol=3e-3)
    assert np.abs(ours.data.astype(int) - crop.data.astype(int)).max() <= 1


@pytest.mark.deep
def test_skip_missing_exits_0_and_still_names_it(photos, tmp_path, invoke):
    result = invoke("crop-align", photos, "--skip-missing", "--all-faces", "--template", "arcface", "-o", f"{tmp_path}/")
    assert result.exit_code == 0
    assert "coins.png: no face found" in result.stderr and "skipped" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["astronaut_face0.png", "turned_face0.png"]
    assert read_image(str(tmp_path / "turned_face0.png")).data.shape == (112, 112, 3)


@pytest.mark.deep
@pytest.mark.parametrize("name,dims", [("t1", "3D"), ("fmri", "4D")])  # a 4D series is not "3D" (issue 25)
def test_face_mode_refuses_volumes_with_one_line(invoke, tmp_path, name, dims):
    import nibabel as nib

    shape = "x".join(map(str, nib.load(samples.path(name)).shape))
    result = invoke("crop-align", samples.path(name), "-o", f"{tmp_path}/out/")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"mlkit crop-align: error: {samples.path(name)}: face mode takes 2D photos, this image is {dims} ({shape}) "
        "(use --mode seg, foreground or center for volumes)"]
    assert not os.path.exists(tmp_path / "out") or os.listdir(tmp_path / "out") == []


# ---- seg, foreground, center ---------------------------------------------------------------

def _same_world_and_value(img, out, picks=400):
    """Output voxels, sampled at random, sit at the world point of the input voxel holding the
    same value; those beyond the input are 0."""
    n = img.spatial_ndim
    shape = out.spatial_shape
    idx = np.stack([RNG.integers(0, s, picks) for s in shape], axis=1)
    homog = np.hstack([idx, np.zeros((picks, 3 - n)), np.ones((picks, 1))])
    world = homog @ out.affine.T
    back = world @ np.linalg.inv(img.affine).T
    source = np.rint(back[:, :n]).astype(int)
    np.testing.assert_allclose(back[:, :n], source, atol=1e-6)  # on the input grid
    inside = np.all((source >= 0) & (source < np.array(img.spatial_shape)), axis=1)
    for i, s, ok in zip(idx, source, inside):
        expected = img.data[tuple(s)] if ok else 0
        np.testing.assert_array_equal(out.data[tuple(i)], expected)
    return inside


def _volume(path):
    return read_image(path)


def _kept_every_label(seg, seg_out):
    labels, counts = np.unique(seg.data, return_counts=True)
    labels_out, counts_out = np.unique(seg_out.data, return_counts=True)
    keep = labels != 0
    np.testing.assert_array_equal(labels[keep], labels_out[labels_out != 0])
    np.testing.assert_array_equal(counts[keep], counts_out[labels_out != 0])


@pytest.mark.parametrize("margin,size", [(2, None), (0, 60)])
def test_seg_mode_keeps_every_label_voxel_square_and_in_place(margin, size):
    img, seg = _volume(samples.path("t1")), _volume(samples.path("t1_seg"))
    out, seg_out = crop_region(img, seg, RegionOptions(mode="seg", margin=margin, size=size))
    assert out.data.shape[0] == out.data.shape[1] and out.data.shape[2] == img.data.shape[2]
    if size:
        assert out.data.shape[0] == 60  # bigger than the 33 x 41 plane: padded, still exact
    _kept_every_label(seg, seg_out)
    inside = _same_world_and_value(img, out)
    _same_world_and_value(seg, seg_out)
    assert inside.any()
    np.testing.assert_array_equal(seg_out.affine, out.affine)


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz"])
def test_foreground_mode_in_3d_and_4d_holds_every_voxel_above_the_threshold(name):
    img = _volume(os.path.join(NIB_DATA, name))
    out, none = crop_region(img, None, RegionOptions(mode="foreground", margin=1))
    assert none is None and out.data.shape[0] == out.data.shape[1] and out.data.shape[2:] == img.data.shape[2:]
    entry = out.history[-1]["params"]
    data = img.data.astype(np.float64)
    mean = data.mean(axis=-1) if data.ndim == 4 else data
    assert np.count_nonzero(mean > entry["threshold"]) > 0
    origin, side = entry["origin"], entry["side"]
    window = np.zeros(mean.shape, bool)
    window[max(origin[0], 0):origin[0] + side, max(origin[1], 0):origin[1] + side] = True
    assert not (mean > entry["threshold"])[~window].any()  # nothing above the threshold is cut away
    _same_world_and_value(img, out)


def test_seg_mode_on_a_4d_series_and_other_axes():
    img = _volume(os.path.join(NIB_DATA, "example4d.nii.gz"))
    seg = img.replace(data=(img.data[..., 0] > np.percentile(img.data[..., 0], 90)).astype(np.uint8), name="mask")
    out, seg_out = crop_region(img, seg, RegionOptions(mode="seg", axes=(0, 2)))
    assert out.data.shape[0] == out.data.shape[2] and out.data.shape[1] == img.data.shape[1]
    assert out.data.shape[3] == img.data.shape[3]
    _kept_every_label(seg, seg_out)
    _same_world_and_value(img, out)


def test_resampled_crops_keep_the_world_in_place():
    img, seg = _volume(samples.path("t1")), _volume(samples.path("t1_seg"))
    exact, _ = crop_region(img, seg, RegionOptions(mode="seg"))
    small, seg_small = crop_region(img, seg, RegionOptions(mode="seg", size=16))
    assert small.data.shape[:2] == (16, 16) and seg_small.data.dtype == seg.data.dtype
    side = exact.data.shape[0]
    # the centre of the field of view stays at the same world point; voxels grow by side/16
    def centre(im):
        return im.affine @ np.array([(im.data.shape[0] - 1) / 2, (im.data.shape[1] - 1) / 2, 0, 1])
    np.testing.assert_allclose(centre(small), centre(exact), atol=1e-6)
    np.testing.assert_allclose(np.array(small.voxel_sizes[:2]) / np.array(exact.voxel_sizes[:2]), side / 16)


def test_center_mode_is_the_central_square_then_resized(tmp_path):
    camera = Image(skimage.data.camera()[:, 40:], name="camera", format="png")
    out, _ = crop_region(camera, None, RegionOptions(mode="center"))
    np.testing.assert_array_equal(out.data, camera.data[20:492, :])
    out, _ = crop_region(camera, None, RegionOptions(mode="center", crop=300, size=100))
    reference = skimage.transform.resize(camera.data[106:406, 86:386].astype(float), (100, 100), order=1,
                                         anti_aliasing=True, anti_aliasing_sigma=1.0)
    assert out.data.shape == (100, 100)
    assert np.abs(out.data.astype(float) - reference)[5:-5, 5:-5].mean() < 2.0


def test_region_errors_are_usage_or_one_line(invoke, tmp_path):
    t1 = samples.path("t1")
    for args, code, text in [
        (["--mode", "seg"], 2, "--mode seg needs --seg SEG"),
        (["--threshold", "3"], 2, "--threshold applies to --mode foreground only"),
        (["--mode", "center", "--padding", "0.2"], 2, "--padding applies to --mode face only"),
        (["--seg", samples.path("t1_seg"), "--seg", samples.path("t1_seg")], 2, "1 input but 2 segmentations (--seg)"),
        (["--mode", "foreground", "--threshold", "1e9"], 1, "no voxel is above the threshold"),
        (["--mode", "seg", "--seg", os.path.join(NIB_DATA, "example4d.nii.gz")], 1, "does not match"),
    ]:
        result = invoke("crop-align", t1, *args, "-o", f"{tmp_path}/out/")
        assert result.exit_code == code, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mlkit crop-align: error: ") and text in lines[0], lines
        assert not os.path.exists(tmp_path / "out") or os.listdir(tmp_path / "out") == []


def test_region_modes_pipe_and_never_import_tensorflow(tmp_path):
    code = (
        "import sys\nfrom mlkit.cli import cli\n"
        f"try:\n    cli.main(['crop-align', {samples.path('t1')!r}, '--seg', {samples.path('t1_seg')!r}, '--margin', '1',"
        f" '-o', {str(tmp_path) + '/'!r}])\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print(code, 'tensorflow' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.split()[-2:] == ["0", "False"], proc.stderr
    img = nib.load(str(tmp_path / "t1.nii.gz"))
    seg = nib.load(str(tmp_path / "t1_seg.nii.gz"))
    np.testing.assert_array_equal(img.affine, seg.affine)
    assert img.shape[0] == img.shape[1]
    piped = run_mlkit("crop-align", "-", "--mode", "foreground", "--size", "24", "-o", tmp_path / "fg.nii",
                      stdin=open(samples.path("t1"), "rb").read())
    assert piped.returncode == 0, piped.stderr
    assert nib.load(str(tmp_path / "fg.nii")).shape[:2] == (24, 24)
