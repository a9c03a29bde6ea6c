"""homography: exact recovery, noise vs OpenCV, RANSAC with outliers, warps vs cv2.warpPerspective, errors."""

import json

import cv2
import numpy as np
import pytest
import skimage.data

from conftest import run_mlkit
from mlkit.errors import MlkitError
from mlkit.homography import errors, estimate, warp
from mlkit.io import Image, read_image, write_image

H_TRUE = np.array([[1.1, 0.05, 20.0], [0.02, 0.95, -10.0], [1e-4, 2e-4, 1.0]])


def pairs(n, seed=0, noise=0.0, outliers=0.0):
    rng = np.random.default_rng(seed)
    src = rng.uniform(0, 1000, (n, 2))
    homog = np.c_[src, np.ones(n)] @ H_TRUE.T
    dst = homog[:, :2] / homog[:, 2:] + rng.normal(0, noise, (n, 2))
    bad = rng.random(n) < outliers
    dst[bad] = rng.uniform(0, 1000, (bad.sum(), 2))
    return src, dst, bad


@pytest.mark.parametrize("n", [4, 5, 30])
@pytest.mark.parametrize("robust", ["none", "ransac", "lmeds"])
def test_noise_free_pairs_give_h_back(n, robust):
    src, dst, _ = pairs(n)
    result = estimate(src, dst, robust=robust)
    np.testing.assert_allclose(result.H, H_TRUE, rtol=0, atol=1e-9 * np.abs(H_TRUE).max())
    assert result.H[2, 2] == 1 and result.inliers.all()


@pytest.mark.parametrize("seed", range(5))
def test_noisy_reprojection_error_matches_opencv(seed):
    src, dst, _ = pairs(50, seed, noise=1.0)
    ours = estimate(src, dst, robust="none")
    theirs, _ = cv2.findHomography(src, dst, 0)
    rmse_cv = np.sqrt((errors(theirs, src, dst) ** 2).mean())
    assert ours.rmse_px <= 1.1 * rmse_cv


@pytest.mark.parametrize("robust", ["ransac", "lmeds"])
def test_thirty_percent_outliers(robust):
    src, dst, bad = pairs(300, 3, noise=0.5, outliers=0.3)
    result = estimate(src, dst, robust=robust, threshold=3.0)
    corners = np.array([[0, 0], [1000, 0], [1000, 1000], [0, 1000.0]])
    homog = np.c_[corners, np.ones(4)] @ H_TRUE.T
    truth = homog[:, :2] / homog[:, 2:]
    limit = 0.5 if robust == "ransac" else 1.0  # RANSAC: well under a pixel; LMedS keeps fewer inliers
    assert errors(result.H, corners, truth).max() < limit
    assert result.inliers[~bad].mean() > 0.9
    assert result.inliers[bad].mean() < 0.02


def test_ransac_is_reproducible_with_a_seed():
    src, dst, _ = pairs(200, 4, noise=0.5, outliers=0.4)
    a = estimate(src, dst, robust="ransac", seed=1)
    b = estimate(src, dst, robust="ransac", seed=1)
    np.testing.assert_array_equal(a.H, b.H)


@pytest.mark.parametrize(
    "src,dst,message",
    [
        ([[0, 0], [1, 0], [0, 1]], [[0, 0], [1, 0], [0, 1]], "at least 4"),
        ([[0, 0], [1, 1], [2, 2], [3, 3]], [[0, 0], [1, 0], [0, 1], [1, 1]], "collinear"),
        ([[0, 0], [1, 0], [0, 1], [1, 1]], [[0, 0], [1, 0], [0, 1]], "destination"),
        ([[0, 0], [1, 0], [0, 1], [np.nan, 1]], [[0, 0], [1, 0], [0, 1], [1, 1]], "NaN"),
        ([[0, 0], [1, 0], [2, 0], [0, 1]], [[0, 0], [1, 0], [0, 1], [1, 1]], "degenerate"),
    ],
)
def test_bad_pairs_are_clear_errors(src, dst, message):
    with pytest.raises(MlkitError, match=message):
        estimate(np.array(src, float), np.array(dst, float), robust="none")


@pytest.mark.parametrize("interp,flag", [("nearest", cv2.INTER_NEAREST), ("linear", cv2.INTER_LINEAR), ("cubic", cv2.INTER_CUBIC)])
def test_warp_equals_opencv(interp, flag):
    photo = skimage.data.astronaut()
    ours = warp(photo, H_TRUE, (600, 500), interp)
    theirs = cv2.warpPerspective(photo, H_TRUE, (600, 500), flags=flag)
    diff = np.abs(ours.astype(int) - theirs)
    assert diff.mean() < 0.05
    assert (diff > 1).mean() < 0.002  # coordinates rounding differently at a few pixels


def test_warp_float_and_16bit():
    data = skimage.data.camera().astype(np.uint16) * 200
    out = warp(data, H_TRUE, (400, 300))
    assert out.dtype == np.uint16
    ref = cv2.warpPerspective(data, H_TRUE, (400, 300))
    assert np.abs(out.astype(int) - ref).mean() < 10


@pytest.fixture
def tilted_label(tmp_path):
    """A 300x200 texture pasted into a larger photo through a known homography."""
    label = cv2.resize(skimage.data.astronaut(), (300, 200), interpolation=cv2.INTER_AREA)
    corners_dst = np.array([[60, 80], [380, 40], [400, 300], [50, 260]], float)
    corners_src = np.array([[0, 0], [299, 0], [299, 199], [0, 199]], float)
    H, _ = cv2.findHomography(corners_src, corners_dst)
    scene = cv2.warpPerspective(label, H, (480, 360), flags=cv2.INTER_CUBIC)
    path = tmp_path / "scene.png"
    write_image(Image(data=scene, channels=True), str(path))
    return path, label, corners_dst


def test_cli_straightens_a_tilted_label(tilted_label, tmp_path):
    path, label, corners = tilted_label
    src = " ".join(f"{x:g},{y:g}" for x, y in corners)
    proc = run_mlkit("homography", "warp", path, "--src", src, "--dst", "0,0 299,0 299,199 0,199", "--interp", "cubic", "-o", tmp_path / "flat.png")
    assert proc.returncode == 0, proc.stderr
    flat = read_image(str(tmp_path / "flat.png")).data
    assert flat.shape == (200, 300, 3)
    inner = (slice(10, -10), slice(10, -10))
    assert np.abs(flat[inner].astype(int) - label[inner]).mean() < 6


def test_cli_estimate_formats_and_points_csv(tmp_path):
    src, dst, _ = pairs(20, 1)
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text("src_x,src_y,dst_x,dst_y\n" + "".join(f"{a},{b},{c},{d}\n" for (a, b), (c, d) in zip(src, dst)))
    out = json.loads(run_mlkit("homography", "estimate", "--points", csv_path).stdout)
    np.testing.assert_allclose(out["H"], H_TRUE, atol=1e-8)
    assert set(out) == {"H", "inliers", "rmse_px", "seed"} and all(out["inliers"])  # issue 10: the seed drawn
    txt = run_mlkit("homography", "estimate", "--points", "-", "--format", "txt", stdin=csv_path.read_bytes()).stdout.decode()
    np.testing.assert_allclose(np.loadtxt(txt.splitlines()), H_TRUE, atol=1e-8)
    assert run_mlkit("homography", "estimate", "--points", csv_path, "-o", tmp_path / "H.npy").returncode == 0
    np.testing.assert_allclose(np.load(tmp_path / "H.npy", allow_pickle=False), H_TRUE, atol=1e-8)
    # the saved matrix drives a warp
    proc = run_mlkit("homography", "warp", csv_path, "--matrix", tmp_path / "H.npy", "--size", "10x10", "-o", tmp_path / "x.png")
    assert proc.returncode == 1  # a CSV is not an image: refused with one line
    assert len(proc.stderr.decode().strip().splitlines()) == 1  # one input, one line (no batch summary)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--src", "0,0 1,0 0,1", "--dst", "0,0 1,0 0,1"], b"at least 4"),
        (["--src", "0,0 1,1 2,2 3,3", "--dst", "0,0 1,0 0,1 1,1"], b"collinear"),
        (["--src", "0,0 1,0 0,1 1,1", "--dst", "0,0 1,0 0,1"], b"destination"),
        (["--src", "0,0 1,0 0,1 nan,1", "--dst", "0,0 1,0 0,1 1,1"], b"NaN"),
        (["--src", "0,0 a,0", "--dst", "0,0 1,0"], b"x,y"),
    ],
)
def test_cli_errors_are_one_line(args, message):
    proc = run_mlkit("homography", "estimate", *args)
    assert proc.returncode == 1
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in proc.stderr and lines[0].startswith("mlkit homography estimate: error:")


def test_cli_bad_csv_header(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("a,b,c,d\n1,2,3,4\n")
    proc = run_mlkit("homography", "estimate", "--points", bad)
    assert proc.returncode == 1 and b"header" in proc.stderr


def test_cli_match_recovers_a_known_homography(tmp_path, astronaut_png):
    photo = read_image(astronaut_png).data
    H = np.array([[0.9, 0.1, 30], [-0.05, 1.0, 20], [1e-4, 5e-5, 1]])
    write_image(Image(data=cv2.warpPerspective(photo, H, (560, 560)), channels=True), str(tmp_path / "moved.png"))
    proc = run_mlkit("homography", "match", astronaut_png, tmp_path / "moved.png", "--draw", tmp_path / "m.png")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    corners = np.array([[0, 0], [511, 0], [511, 511], [0, 511.0]])
    homog = np.c_[corners, np.ones(4)] @ H.T
    assert errors(np.array(found["H"]), corners, homog[:, :2] / homog[:, 2:]).max() < 2
    assert found["matches"] >= 50 and (tmp_path / "m.png").exists()


def test_cli_volume_is_warped_slice_by_slice(anatomical, tmp_path):
    H = np.array([[1.0, 0.1, 2.0], [0.0, 1.0, -1.0], [0.001, 0.0, 1.0]])
    (tmp_path / "H.json").write_text(json.dumps({"H": H.tolist()}))
    proc = run_mlkit("homography", "warp", anatomical, "--matrix", tmp_path / "H.json", "--size", "41x33", "-o", tmp_path / "w.nii.gz")
    assert proc.returncode == 0, proc.stderr
    out = read_image(str(tmp_path / "w.nii.gz"))
    src = read_image(anatomical)
    assert out.data.shape == (33, 41, 25)
    spread = float(src.data.max() - src.data.min())
    for k in (0, 12, 24):
        ref = cv2.warpPerspective(src.data[:, :, k], H, (41, 33))
        diff = np.abs(out.data[:, :, k].astype(float) - ref) / spread
        assert diff.mean() < 0.002 and (diff > 0.01).mean() < 0.01
    np.testing.assert_array_equal(out.affine, src.affine)


# --- issue 9: every listed feature type works; bad inputs are one line in mlkit's words -------------


def test_the_cli_offers_exactly_the_library_features():
    from mlkit.commands.homography import match as match_command
    from mlkit.homography import FEATURES

    option = next(p for p in match_command.params if p.name == "features")
    assert tuple(option.type.choices) == FEATURES


@pytest.mark.parametrize("features", ["orb", "sift"])
def test_match_recovers_a_known_warp_with_every_feature_type(features):
    from mlkit.homography import FEATURES, match

    assert features in FEATURES
    photo = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)
    H = np.array([[0.9, 0.1, 30], [-0.05, 1.0, 20], [1e-4, 5e-5, 1]])
    moved = cv2.warpPerspective(photo, H, (560, 560))
    src, dst, _ = match(photo, moved, features)
    found = estimate(src, dst, robust="ransac").H
    reference, _ = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    corners = np.array([[0, 0], [511, 0], [511, 511], [0, 511.0]])
    homog = np.c_[corners, np.ones(4)] @ H.T
    truth = homog[:, :2] / homog[:, 2:]
    assert errors(found, corners, truth).max() < 2
    assert errors(found, corners, truth).max() <= errors(reference, corners, truth).max() + 0.5


def test_cli_match_with_sift(tmp_path, astronaut_png):
    photo = read_image(astronaut_png).data
    H = np.array([[1.05, 0.02, -15], [0.03, 0.97, 12], [5e-5, -4e-5, 1]])
    write_image(Image(data=cv2.warpPerspective(photo, H, (540, 540)), channels=True), str(tmp_path / "moved.png"))
    proc = run_mlkit("homography", "match", astronaut_png, tmp_path / "moved.png", "--features", "sift")
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    corners = np.array([[0, 0], [511, 0], [511, 511], [0, 511.0]])
    homog = np.c_[corners, np.ones(4)] @ H.T
    assert errors(np.array(json.loads(proc.stdout)["H"]), corners, homog[:, :2] / homog[:, 2:]).max() < 2
    assert run_mlkit("homography", "match", astronaut_png, astronaut_png, "--features", "akaze").returncode == 2


def one_line(proc, code=1):
    lines = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == code and len(lines) == 1 and b"Traceback" not in proc.stderr, proc.stderr
    assert "Error:" not in lines[0] and "np." not in lines[0]
    return lines[0]


def test_cli_match_refuses_nan_images(tmp_path, astronaut_png):
    gray = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gray[100:110, 50:60] = np.nan
    np.save(tmp_path / "nan.npy", gray)
    line = one_line(run_mlkit("homography", "match", astronaut_png, tmp_path / "nan.npy"))
    assert f"{tmp_path / 'nan.npy'}: " in line and "NaN or infinite" in line


@pytest.mark.parametrize(
    "src,dst,message",
    [
        ("0,0 1e200,0 0,1e200 1e200,1e200", "0,0 1,0 0,1 1,1", "1e+200 pixels"),
        ("0,0 1e300,0 0,1e300 1e300,1e300 5,7", "0,0 1,0 0,1 1,1 3,3", "1e+300 pixels"),
        ("0,0 1,0 0,1 inf,1", "0,0 1,0 0,1 1,1", "NaN or infinite"),
    ],
)
def test_cli_huge_or_infinite_points_are_one_line(src, dst, message):
    line = one_line(run_mlkit("homography", "estimate", "--src", src, "--dst", dst))
    assert message in line


def test_points_csv_with_nan_is_one_line(tmp_path):
    (tmp_path / "p.csv").write_text("src_x,src_y,dst_x,dst_y\n0,0,0,0\n1,0,1,0\n0,1,nan,1\n1,1,1,1\n")
    assert "NaN or infinite" in one_line(run_mlkit("homography", "estimate", "--points", tmp_path / "p.csv"))


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("h.json", '{"H": {"a": 1}}', "cannot read a 3x3 matrix"),
        ("h.json", '{"H": "x"}', "cannot read a 3x3 matrix"),
        ("h.json", '{"M": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}', 'no "H"'),
        ("h.json", "[" * 100_000 + "]" * 100_000, "cannot read a 3x3 matrix"),
        ("h.json", "[[1, 0], [0, 1]]", "its shape is 2x2"),
        ("h.json", "[[1, 0, 0], [0, 1, 0], [0, 0, NaN]]", "finite 3x3"),
        ("h.txt", "", "its shape is 0x1"),
        ("h.txt", "1 0 0\n0 1 0\n0 0 0\n", "singular"),
        ("h.txt", "1 0 0\n" * 200_000, "too big for a 3x3 matrix"),
        ("h.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8', 'fo", "cannot read a 3x3 matrix"),
    ],
)
def test_cli_bad_matrix_files_are_one_line(tmp_path, camera_png, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    line = one_line(run_mlkit("homography", "warp", camera_png, "--matrix", path, "--size", "10x10", "-o", tmp_path / "out.png"))
    assert line.startswith(f"mlkit homography warp: error: {path}: ") and message in line, line
    assert not (tmp_path / "out.png").exists()


def test_pickled_matrix_is_refused(tmp_path, camera_png):
    np.save(tmp_path / "h.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    line = one_line(run_mlkit("homography", "warp", camera_png, "--matrix", tmp_path / "h.npy", "--size", "10x10", "-o", tmp_path / "o.png"))
    assert "cannot read a 3x3 matrix" in line and not (tmp_path / "o.png").exists()


def test_fit_across_the_horizon_is_refused_and_a_horizon_in_view_is_quiet(tmp_path, camera_png):
    H = np.array([[1.0, 0, 0], [0, 1, 0], [-0.004, 0, 1]])  # w = 0 at x = 250, inside the 512-wide image
    (tmp_path / "H.json").write_text(json.dumps({"H": H.tolist()}))
    proc = run_mlkit("homography", "warp", camera_png, "--matrix", tmp_path / "H.json", "--fit", "-o", tmp_path / "w.png")
    assert proc.returncode == 1 and b"infinity" in proc.stderr and not (tmp_path / "w.png").exists()
    proc = run_mlkit("homography", "warp", camera_png, "--matrix", tmp_path / "H.json", "--size", "300x300", "-o", tmp_path / "w.png")
    assert proc.returncode == 0 and proc.stderr == b""  # no numpy divide warnings for pixels on the horizon
    ours = read_image(str(tmp_path / "w.png")).data
    theirs = cv2.warpPerspective(skimage.data.camera(), H, (300, 300))
    assert (np.abs(ours.astype(int) - theirs) > 1).mean() < 0.01


# --- issue 10: cv2.warpPerspective itself, --interp and --seed as in every command -----------------


def test_library_warp_is_opencv_exactly_for_uint8_rgb():
    photo = skimage.data.astronaut()
    for order in ("linear", 1):
        np.testing.assert_array_equal(warp(photo, H_TRUE, (600, 500), order), cv2.warpPerspective(photo, H_TRUE, (600, 500)))


def test_more_than_four_channels_and_volumes_equal_opencv_plane_by_plane():
    rng = np.random.default_rng(0)
    for channels in (2, 5, 6, 7):
        data = (rng.random((120, 90, channels)) * 1000).astype(np.float32)
        out = warp(data, H_TRUE, (100, 80), "cubic")
        planes = [cv2.warpPerspective(np.ascontiguousarray(data[..., k]), H_TRUE, (100, 80), flags=cv2.INTER_CUBIC) for k in range(channels)]
        np.testing.assert_array_equal(out, np.stack(planes, axis=-1))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "uint32", "int64", "float64"])
def test_library_nearest_warp_keeps_only_the_labels(dtype):
    labels = np.array([1, 2, 3, 100], dtype) if dtype in ("uint8", "int8") else np.array([1, 2, 2**31 - 7, 123456789], dtype)
    seg = labels[np.random.default_rng(1).integers(0, 4, (64, 48)).repeat(4, 0).repeat(4, 1)]
    out = warp(seg, H_TRUE, (230, 250), "nearest")
    assert out.dtype == seg.dtype and set(np.unique(out)) <= set(labels) | {0}
    assert set(np.unique(out)) >= set(labels)  # nothing lost either: each label covers many pixels


def test_cli_interp_nearest_keeps_only_the_labels(tmp_path):
    seg = np.random.default_rng(2).choice(np.array([3, 50, 201], np.uint8), (60, 80)).repeat(3, 0).repeat(3, 1)
    write_image(Image(data=seg), str(tmp_path / "seg.png"))
    (tmp_path / "H.json").write_text(json.dumps({"H": H_TRUE.tolist()}))
    proc = run_mlkit("homography", "warp", tmp_path / "seg.png", "--matrix", tmp_path / "H.json", "--size", "300x250", "--interp", "nearest", "-o", tmp_path / "w.png")
    assert proc.returncode == 0, proc.stderr
    out = read_image(str(tmp_path / "w.png")).data
    assert set(np.unique(out)) == {0, 3, 50, 201}
    np.testing.assert_array_equal(out, cv2.warpPerspective(seg, H_TRUE, (300, 250), flags=cv2.INTER_NEAREST))


def test_cli_warp_equals_the_library_call(tmp_path, camera_png):
    (tmp_path / "H.json").write_text(json.dumps({"H": H_TRUE.tolist()}))
    proc = run_mlkit("homography", "warp", camera_png, "--matrix", tmp_path / "H.json", "--size", "300x250", "--interp", "cubic", "-o", tmp_path / "w.nii")
    assert proc.returncode == 0, proc.stderr
    out = read_image(str(tmp_path / "w.nii"))
    np.testing.assert_array_equal(out.data, warp(read_image(camera_png).data, H_TRUE, (300, 250), order=3))
    assert out.history[-1]["params"]["order"] == 3 and out.history[-1]["seed"] is None  # no random samples
    assert run_mlkit("homography", "warp", camera_png, "--matrix", tmp_path / "H.json", "--size", "9x9", "--order", "2").returncode == 2


def test_a_drawn_seed_is_recorded_and_repeats_the_run(tmp_path, camera_png):
    src, dst, _ = pairs(60, 5, noise=0.5, outliers=0.3)
    text = {"--src": " ".join(f"{x},{y}" for x, y in src), "--dst": " ".join(f"{x},{y}" for x, y in dst)}
    args = ["homography", "estimate", *(v for kv in text.items() for v in kv)]
    first = json.loads(run_mlkit(*args).stdout)
    again = json.loads(run_mlkit(*args, "--seed", first["seed"]).stdout)
    assert isinstance(first["seed"], int) and again == first
    assert first == estimate(src, dst, seed=first["seed"]).as_dict()
    proc = run_mlkit("homography", "warp", camera_png, *list(args[2:]), "--size", "20x20", "-o", tmp_path / "w.nii")
    assert proc.returncode == 0, proc.stderr
    assert isinstance(read_image(str(tmp_path / "w.nii")).history[-1]["seed"], int)
