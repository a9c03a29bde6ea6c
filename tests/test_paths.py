"""One answer on every path (issue 21): a file, the same bytes on stdin and the mlkit stream from
another command are the same input, so every command that takes images gives the same output
from each, in the same display orientation whatever format it is written in.

The stream comes from real processes (`transform flip` there and back: exact, so it holds the
file's pixels after a round trip through the NIfTI stream); outputs are compared exactly where
the math is deterministic (all of it here), affines to float32's precision, the type NIfTI
stores them in.
"""

import io
import json
import subprocess
import sys

import cv2
import nibabel as nib
import numpy as np
import pytest
import skimage.data

from conftest import pipeline, run_mlkit
from mlkit import samples
from mlkit.io import read_image
from mlkit.io.orientation import PHOTO_AFFINE

FACE = samples.path("face")  # colour JPEG, 256 x 256
T1 = samples.path("t1")  # 33 x 41 x 25 int16, 2 mm
T1_SEG = samples.path("t1_seg")
WAYS = ("file", "stdin", "stream")


def _stream(src):
    codes, out, errs = pipeline(
        ["transform", "flip", "--axis", "0", src, "-o", "-"],
        ["transform", "flip", "--axis", "0", "-", "-o", "-"],
    )
    assert codes == [0, 0], errs
    return out


@pytest.fixture(scope="module")
def gray_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("gray") / "camera.png"
    cv2.imwrite(str(path), skimage.data.camera()[::2, ::2])  # 256 x 256 uint8
    return str(path)


@pytest.fixture(scope="module")
def streams(gray_png):
    return {src: _stream(src) for src in (FACE, T1, gray_png)}


def _inputs(src, streams):
    """(way, the input argument, stdin bytes) for the three ways in."""
    with open(src, "rb") as f:
        raw = f.read()
    return [("file", src, None), ("stdin", "-", raw), ("stream", "-", streams[src])]


def _file_inputs(src, streams, tmp_path):
    """For options that need file inputs (--seg): the file, and the stream saved as a file."""
    saved = tmp_path / "saved_stream.nii"
    saved.write_bytes(streams[src])
    return [("file", src, None), ("stream", str(saved), None)]


def three_ways(args, src, streams, tmp_path, ext=".nii", inputs=None):
    """`mlkit ARGS` with '{}' replaced by the input, once per way, outputs in a folder as `ext`:
    {way: the output images, in file order}."""
    found = {}
    for way, arg, stdin in inputs or _inputs(src, streams):
        out = tmp_path / way
        proc = run_mlkit(*[arg if a == "{}" else a for a in args], "-o", f"{out}/", "--ext", ext, stdin=stdin)
        assert proc.returncode == 0, proc.stderr.decode()
        found[way] = [read_image(str(p)) for p in sorted(out.iterdir())]
    return found


def assert_same(found):
    first = found["file"]
    assert first
    for way in [w for w in found if w != "file"]:
        assert len(found[way]) == len(first), way
        for a, b in zip(first, found[way]):
            assert a.data.dtype == b.data.dtype, way
            np.testing.assert_array_equal(b.data, a.data, err_msg=way)
            np.testing.assert_allclose(b.affine, a.affine, rtol=0, atol=1e-5 * np.abs(a.affine).max(), err_msg=way)


# ---------------------------------------------------------------- the flip example of the issue


def _mirrors(path, source):
    """How far the output at `path` is from a left-right and from a top-bottom mirror of `source`."""
    out = cv2.imread(str(path)).astype(int)
    return np.abs(out - source[:, ::-1]).mean(), np.abs(out - source[::-1]).mean()


def test_the_flip_example_mirrors_left_right_on_all_three_paths(tmp_path):
    args = ["-n", "1", "--seed", "2", "--transforms", "flip"]
    assert run_mlkit("augment", FACE, *args, "-o", f"{tmp_path}/fa/", check=True).returncode == 0
    codes, _, errs = pipeline(["sample", "face"], ["augment", "-", *args, "-o", f"{tmp_path}/fb/"])
    assert codes == [0, 0], errs
    with open(FACE, "rb") as f:
        run_mlkit("augment", "-", *args, "-o", f"{tmp_path}/fc/", stdin=f.read(), check=True)
    source = cv2.imread(FACE).astype(int)
    outputs = [next((tmp_path / d).iterdir()) for d in ("fa", "fb", "fc")]
    pixels = [cv2.imread(str(p)) for p in outputs]
    for path, out in zip(outputs, pixels):
        left_right, top_bottom = _mirrors(path, source)
        assert left_right < 2 < 50 < top_bottom, (path, left_right, top_bottom)  # 2: JPEG's loss on re-encoding
        np.testing.assert_array_equal(out, pixels[0])  # the same pixels, the same encoder


def test_the_flip_is_exact_in_png_on_all_three_paths(streams, tmp_path):
    found = three_ways(["augment", "{}", "-n", "1", "--seed", "2", "--transforms", "flip"], FACE, streams, tmp_path,
                       ext=".png")
    assert_same(found)
    np.testing.assert_array_equal(found["file"][0].data, read_image(FACE).data[:, ::-1])
    for way in WAYS:
        assert found[way][0].history[-1]["params"]["transforms"]["flip"] == {"axes": [1]}, way


@pytest.mark.parametrize("way", WAYS)
def test_info_gives_a_photo_one_orientation_on_every_path(streams, way):
    arg, stdin = {"file": (FACE, None), "stdin": ("-", open(FACE, "rb").read()), "stream": ("-", streams[FACE])}[way]
    facts = json.loads(run_mlkit("info", arg, "--format", "json", stdin=stdin, check=True).stdout)[0]
    assert facts["orientation"] == "PR"  # rows run down (posterior, as an axial plane is shown), columns right
    assert facts["affine"] == PHOTO_AFFINE.tolist()


# ---------------------------------------------------------------- display orientation in every format


def test_a_photo_written_as_nifti_opens_upright_in_a_viewer(tmp_path):
    """A viewer shows the axial plane of the RAS-reoriented volume with anterior at the top and
    the right on the right (as FSLeyes does): that must be the photo, in PNG, JPEG and NIfTI."""
    for ext in (".png", ".jpg", ".nii", ".nii.gz"):  # a crop keeps the axes: the window as it was
        run_mlkit("transform", "crop", "--shape", "200,180", FACE, "-o", tmp_path / f"m{ext}", check=True)
    png = cv2.imread(str(tmp_path / "m.png"))[..., ::-1]
    np.testing.assert_array_equal(png, read_image(FACE).data[28:228, 38:218])
    jpeg = cv2.imread(str(tmp_path / "m.jpg"))[..., ::-1].astype(int)
    assert np.abs(jpeg - png).mean() < 2  # lossy, but no turn or mirror
    for ext in (".nii", ".nii.gz"):
        img = nib.load(str(tmp_path / f"m{ext}"))
        assert nib.aff2axcodes(img.affine)[:2] == ("P", "R")
        canonical = nib.as_closest_canonical(img)  # axes now x (right), y (anterior), z
        shown = np.swapaxes(np.asanyarray(canonical.dataobj), 0, 1)[::-1]  # rows: anterior first; columns: x
        np.testing.assert_array_equal(shown, png)


# ---------------------------------------------------------------- transform, each op

PHOTO_OPS = [
    ["negative"], ["log"], ["gamma", "--gamma", "0.5"], ["normalize"], ["rescale", "--to", "uint16"],
    ["clip", "--min", "10", "--max", "200"], ["threshold", "--otsu"], ["flip", "--axis", "1"],
    ["rotate", "--angle", "15"], ["shift", "--by", "3.5,-2"], ["zoom", "--factor", "1.2"],
    ["resample", "--shape", "100,120"], ["crop", "--shape", "100,120"], ["pad", "--shape", "300,280"],
]


@pytest.mark.parametrize("op", PHOTO_OPS, ids=lambda op: op[0])
def test_every_transform_op_gives_one_answer_for_a_colour_photo(op, streams, tmp_path):
    assert_same(three_ways(["transform", *op, "{}"], FACE, streams, tmp_path))


@pytest.mark.parametrize("op", [["flip", "--axis", "1"], ["rotate", "--angle", "-20", "--interp", "cubic"]],
                         ids=lambda op: op[0])
def test_transform_gives_one_answer_for_a_gray_png(op, gray_png, streams, tmp_path):
    assert_same(three_ways(["transform", *op, "{}"], gray_png, streams, tmp_path, ext=".png"))


@pytest.mark.parametrize("op", [["slice", "--axis", "2"], ["rotate", "--angle", "10"], ["flip", "--axis", "0"]],
                         ids=lambda op: op[0])
def test_transform_gives_one_answer_for_a_volume(op, streams, tmp_path):
    assert_same(three_ways(["transform", *op, "{}"], T1, streams, tmp_path))


# ---------------------------------------------------------------- the other commands


def test_augment_draws_and_renders_the_same_copies_on_every_path(streams, tmp_path):
    args = ["augment", "{}", "-n", "3", "--seed", "7", "--transforms", "rotate,scale,flip,translate,intensity"]
    found = three_ways(args, FACE, streams, tmp_path)
    assert_same(found)
    params = {way: [img.history[-1]["params"] for img in found[way]] for way in WAYS}
    assert params["stdin"] == params["file"] == params["stream"]


def test_augment_with_a_segmentation_gives_one_answer_for_a_volume(streams, tmp_path):
    # --seg pairs files by name and order, so it takes no stdin: the stream comes saved as a file
    args = ["augment", "{}", "--seg", T1_SEG, "-n", "2", "--seed", "3"]
    found = three_ways(args, T1, streams, tmp_path, inputs=_file_inputs(T1, streams, tmp_path))
    assert len(found["file"]) == 4  # two copies and their two segmentations
    assert_same(found)


@pytest.mark.parametrize("mode", [["--mode", "center", "--crop", "200", "--size", "64"],
                                  ["--mode", "foreground", "--size", "64"]], ids=["center", "foreground"])
def test_crop_align_gives_one_answer_for_a_photo(mode, streams, tmp_path):
    assert_same(three_ways(["crop-align", "{}", *mode], FACE, streams, tmp_path))


def test_crop_align_seg_mode_gives_one_answer_for_a_volume(streams, tmp_path):
    args = ["crop-align", "{}", "--seg", T1_SEG, "--margin", "2"]
    found = three_ways(args, T1, streams, tmp_path, inputs=_file_inputs(T1, streams, tmp_path))
    assert len(found["file"]) == 2  # the crop and its segmentation
    assert_same(found)


def test_homography_warp_gives_one_answer(streams, tmp_path):
    args = ["homography", "warp", "{}", "--src", "10,20 240,15 250,240 5,250", "--dst", "0,0 199,0 199,199 0,199"]
    found = three_ways(args, FACE, streams, tmp_path, ext=".png")
    assert_same(found)
    # the warp is OpenCV's, x right and y down in the photo as it is shown
    H = cv2.getPerspectiveTransform(np.float32([[10, 20], [240, 15], [250, 240], [5, 250]]),
                                    np.float32([[0, 0], [199, 0], [199, 199], [0, 199]]))
    ref = cv2.warpPerspective(cv2.imread(FACE), H, (200, 200), flags=cv2.INTER_LINEAR)[..., ::-1]
    assert np.abs(found["file"][0].data.astype(int) - ref).mean() < 1


@pytest.mark.parametrize("src", [FACE, T1], ids=["photo", "volume"])
def test_view_draws_the_same_picture_on_every_path(src, streams, tmp_path):
    pictures = []
    for way, arg, stdin in _inputs(src, streams):
        run_mlkit("view", arg, "-o", tmp_path / f"{way}.png", stdin=stdin, check=True)
        pictures.append(cv2.imread(str(tmp_path / f"{way}.png")))
    for picture in pictures[1:]:
        np.testing.assert_array_equal(picture, pictures[0])
    if src == FACE:  # a 2D image is drawn as it is shown: the photo itself
        np.testing.assert_array_equal(pictures[0], cv2.imread(FACE))


@pytest.fixture(scope="module")
def face_space(tmp_path_factory):
    root = tmp_path_factory.mktemp("eigen")
    run_mlkit("sample", "faces", "-o", f"{root}/lfw/", check=True)
    run_mlkit("eigenfaces", "train", root / "lfw" / "face", "-o", root / "model.npz", "-k", "8", check=True)
    return str(root / "model.npz"), str(root / "lfw" / "face" / "face_003.png")


def test_eigenfaces_reconstruct_and_detect_give_one_answer(face_space, tmp_path):
    model, probe = face_space
    streams = {probe: _stream(probe)}
    assert_same(three_ways(["eigenfaces", "reconstruct", model, "{}"], probe, streams, tmp_path))
    reports = []
    for way, arg, stdin in _inputs(probe, streams):
        facts = json.loads(run_mlkit("eigenfaces", "detect", model, arg, "--format", "json", stdin=stdin, check=True).stdout)
        reports.append({k: v for k, v in facts[0].items() if k not in ("input", "name", "image")})
    assert reports[0] and reports[1] == reports[0] == reports[2]


# The data loader of train-gan and the content loader of stylize, in a process of their own so
# that '-' is a real pipe: the arrays the networks would be given, as .npy on stdout.
LOADER = """import io, sys
import numpy as np
from mlkit.deep.data import load_image_set
from mlkit.style.images import rgb
from mlkit.style.transfer import _read
if sys.argv[2] == "gan":
    array = load_image_set([sys.argv[1]], (32, 32))[0]
else:
    array = rgb(_read(sys.argv[1]))[0]
buf = io.BytesIO()
np.save(buf, array)
sys.stdout.buffer.write(buf.getvalue())
"""


@pytest.mark.parametrize("loader", ["gan", "stylize"])
@pytest.mark.parametrize("src", [FACE, "gray"], ids=["colour", "gray"])
def test_the_deep_commands_load_the_same_arrays_on_every_path(loader, src, gray_png, streams):
    src = gray_png if src == "gray" else src
    arrays = []
    for way, arg, stdin in _inputs(src, streams):
        proc = subprocess.run([sys.executable, "-c", LOADER, arg, loader], input=stdin, capture_output=True)
        assert proc.returncode == 0, proc.stderr.decode()
        arrays.append(np.load(io.BytesIO(proc.stdout), allow_pickle=False))
    assert arrays[0].size
    for array in arrays[1:]:
        np.testing.assert_array_equal(array, arrays[0])
    if loader == "stylize":  # the content as VGG is given it: the photo's own rows and columns
        photo = read_image(src).data.astype(np.float32)
        np.testing.assert_array_equal(arrays[0], photo if photo.ndim == 3 else np.repeat(photo[..., None], 3, axis=2))


def test_every_2d_raster_is_placed_as_a_photo_and_its_left_right_axis_is_the_columns(gray_png, tmp_path):
    from mlkit.io import Image
    from mlkit.io.orientation import left_right_axis

    np.save(tmp_path / "plane.npy", np.arange(12.0).reshape(3, 4))
    made = Image(data=np.zeros((3, 4, 3), np.uint8), channels=True)
    for img in (read_image(FACE), read_image(gray_png), read_image(str(tmp_path / "plane.npy")), made):
        np.testing.assert_array_equal(img.affine, PHOTO_AFFINE)
        assert left_right_axis(img) == 1
    volume = read_image(T1)
    assert left_right_axis(volume) == int(np.argmax(np.abs(volume.affine[0, :3])))
    sagittal = volume.replace(data=volume.data[0], affine=volume.affine[:, [1, 2, 0, 3]])  # no x in the plane
    assert left_right_axis(sagittal) == 1
