"""mlkit view and the bundled samples: display orientation, overlays, mosaics, samples."""

import os
import re

import cv2
import nibabel as nib
import numpy as np
import pytest

from conftest import pipeline, run_mlkit
from mlkit.io import Image
from mlkit.samples import SAMPLES, path
from mlkit.view import Settings, boundaries, picture
from mlkit.view.render import annotate, fit_caption, layout


def _ras_phantom():
    """A 20 x 24 x 16 RAS volume, 1 x 1 x 2 mm, bright towards anterior and superior and on
    the right, so any wrong turn of a plane shows."""
    i, j, k = np.meshgrid(np.arange(20), np.arange(24), np.arange(16), indexing="ij")
    data = (10 * i + 20 * j + 40 * k).astype(np.float32)
    data[2:5, 18:22, 10:14] = 5000  # a marker: left, anterior, superior
    return Image(data=data, affine=np.diag([1.0, 1.0, 2.0, 1.0]))


def _reoriented(img, flips, order):
    """The same anatomy stored another way: axes permuted by `order`, then flipped."""
    data, affine = img.data, img.affine.copy()
    perm = np.eye(4)[:, [*order, 3]]
    data, affine = np.transpose(data, order), affine @ perm
    for axis in flips:
        flip = np.eye(4)
        flip[axis, axis], flip[axis, 3] = -1, data.shape[axis] - 1
        data, affine = np.flip(data, axis), affine @ flip
    return Image(data=np.ascontiguousarray(data), affine=affine)


@pytest.mark.parametrize("flips, order", [((0, 1), (0, 1, 2)), ((), (2, 0, 1)), ((1,), (1, 2, 0))],
                         ids=["LPS", "axes swapped", "swapped and flipped"])
def test_a_reoriented_volume_gives_the_same_picture(flips, order):
    img = _ras_phantom()
    other = _reoriented(img, flips, order)
    assert nib.aff2axcodes(other.affine) != ("R", "A", "S")
    bare = Settings(labels=False)  # the slice numbers count the file's own axes, which differ
    np.testing.assert_array_equal(picture(other, settings=bare), picture(img, settings=bare))
    assert [letters for letters, _ in layout(other)] == [letters for letters, _ in layout(img)]


def test_anterior_is_at_the_top_of_the_axial_plane_and_superior_of_the_others():
    img = _ras_phantom()
    sagittal, coronal, axial = (picture(img, settings=Settings(slices=1, axis=a, labels=False)) for a in (0, 1, 2))
    for tile, where in [(axial, "anterior"), (coronal, "superior"), (sagittal, "superior")]:
        top, bottom = tile[: tile.shape[0] // 3].mean(), tile[-tile.shape[0] // 3 :].mean()
        assert top > bottom, where
    left, right = axial[:, : axial.shape[1] // 3].mean(), axial[:, -axial.shape[1] // 3 :].mean()
    assert right > left  # neurological: the patient's right on the right
    radiological = picture(img, settings=Settings(slices=1, axis=2, radiological=True, labels=False))
    np.testing.assert_array_equal(radiological, axial[:, ::-1])


def test_anisotropic_voxels_are_drawn_with_square_pixels():
    img = _ras_phantom()  # 20 x 24 x 16 voxels of 1 x 1 x 2 mm: 20 x 24 x 32 mm
    coronal = picture(img, settings=Settings(slices=1, axis=1))
    assert coronal.shape[0] / coronal.shape[1] == pytest.approx(32 / 20, rel=0.02)


def test_overlay_contours_lie_on_the_label_boundaries():
    img = _ras_phantom()
    seg = np.zeros(img.data.shape, np.uint8)
    seg[5:15, 6:18, 4:12] = 1
    seg[8:12, 9:14, 6:10] = 2
    settings = Settings(slices=1, axis=2, window=(0, 1e9), labels=False)  # black: only the contours have colour
    black = Image(data=np.zeros_like(img.data), affine=img.affine)
    drawn = picture(black, Image(data=seg, affine=img.affine), settings)
    plane = seg[:, ::-1, 8].T  # the middle axial plane (of 16, at 8): anterior up, right to the right
    labels = cv2.resize(plane, (drawn.shape[1], drawn.shape[0]), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(drawn.any(axis=2), boundaries(labels))
    assert set(map(tuple, drawn[boundaries(labels)].reshape(-1, 3))) == {(31, 119, 180), (255, 127, 14)}


def test_an_overlay_on_another_grid_is_refused(tmp_path):
    seg = tmp_path / "seg.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((5, 5, 5), np.uint8), np.eye(4)), str(seg))
    proc = run_mlkit("view", path("t1"), "--overlay", seg, "-o", tmp_path / "v.png")
    assert proc.returncode == 1 and "not on the image's voxel grid" in proc.stderr.decode()
    assert not (tmp_path / "v.png").exists()


def test_a_mosaic_of_augmented_copies_with_their_segmentations(tmp_path):
    codes, _, errs = pipeline(
        ["augment", path("t1"), "--seg", path("t1_seg"), "-n", "4", "--seed", "1", "-o", "-"],
        ["view", "-", "--pairs", "--columns", "2", "-o", tmp_path / "m.png"],
    )
    assert codes == [0, 0], errs
    one = picture(Image(data=np.asanyarray(nib.load(path("t1")).dataobj), affine=nib.load(path("t1")).affine))
    mosaic = cv2.imread(str(tmp_path / "m.png"))
    caption = 18
    assert mosaic.shape[:2] == (2 * (one.shape[0] + caption), 2 * one.shape[1])


def test_view_writes_png_to_a_pipe_and_refuses_other_formats(tmp_path):
    proc = run_mlkit("view", path("face"), "-o", "-")
    assert proc.returncode == 0 and proc.stdout.startswith(b"\x89PNG")
    shown = cv2.imdecode(np.frombuffer(proc.stdout, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(shown, cv2.imread(path("face")))  # a photo is shown as it is
    bad = run_mlkit("view", path("face"), "-o", tmp_path / "v.jpg")
    assert bad.returncode == 2 and not (tmp_path / "v.jpg").exists()


def test_inline_protocols():
    from mlkit.view import inline_bytes, inline_protocol

    assert inline_protocol({"TERM": "xterm-kitty"}) == "kitty"
    assert inline_protocol({"TERM_PROGRAM": "iTerm.app"}) == "iterm2"
    assert inline_protocol({"TERM": "xterm-256color"}, ask_terminal=lambda: False) is None
    assert inline_bytes(b"png", "iterm2").startswith(b"\x1b]1337;File=inline=1;size=3:cG5n")
    assert inline_bytes(b"png", "kitty") == b"\x1b_Ga=T,f=100,m=0;cG5n\x1b\\\n"


def _decode_sixel(data):
    """A plain reading of the DEC sixel format: palette, colour passes, $ and -, !n repeats."""
    body = data[data.index(b"q") + 1 : data.index(b"\x1b\\")]
    width, height, body = re.match(rb'"1;1;(\d+);(\d+)(.*)', body, re.S).groups()
    width, height = int(width), int(height)
    picture, colours = np.zeros((height + 6, width, 3)), {}
    x = y = 0
    colour = None
    for token in re.findall(rb"#\d+(?:;2;\d+;\d+;\d+)?|!\d+[?-~]|[?-~]|\$|-", body):
        if token.startswith(b"#"):
            number, *rgb = map(int, re.findall(rb"\d+", token)[:1] + re.findall(rb"\d+", token)[2:])
            if rgb:
                colours[number] = np.array(rgb) * 255 / 100
            colour = colours[number]
        elif token == b"$":
            x = 0
        elif token == b"-":
            x, y = 0, y + 6
        else:
            count, char = (int(token[1:-1]), token[-1]) if token.startswith(b"!") else (1, token[0])
            for bit in range(6):
                if (char - 63) >> bit & 1:
                    picture[y + bit, x : x + count] = colour
            x += count
    return picture[:height]


def test_sixel_shows_the_picture_in_256_colours():
    from mlkit.view.terminal import inline_bytes, palette, quantize

    photo = cv2.resize(cv2.imread(path("face")), (61, 47))[..., ::-1]  # odd sizes: a partial last band
    gray = np.repeat(np.linspace(0, 255, 61 * 47).reshape(47, 61, 1), 3, 2).astype(np.uint8)  # 40 greys
    shown = _decode_sixel(inline_bytes(cv2.imencode(".png", photo[..., ::-1])[1].tobytes(), "sixel"))
    np.testing.assert_allclose(shown, palette()[quantize(photo)], atol=1.3)  # the palette is given in percent
    error = np.linalg.norm(shown - photo, axis=-1)
    assert error.max() <= np.sqrt(3) * 25.5 + 2.6  # at worst half a cube step (51) per channel
    assert np.abs(shown - photo).mean() < 10
    assert np.abs(_decode_sixel(inline_bytes(cv2.imencode(".png", gray)[1].tobytes(), "sixel")) - gray).max() <= 3.3 + 1.3


def test_sixel_is_chosen_when_the_terminal_says_so():
    from mlkit.view import inline_protocol

    assert inline_protocol({"TERM": "xterm"}, ask_terminal=lambda: True) == "sixel"
    assert inline_protocol({"TERM": "xterm"}, ask_terminal=lambda: False) is None
    assert inline_protocol({"MLKIT_INLINE": "sixel", "TERM": "xterm-kitty"}) == "sixel"
    assert inline_protocol({"MLKIT_INLINE": "none", "TERM": "xterm-kitty"}) is None


def test_view_on_a_terminal_writes_sixel_inline():
    import pty
    import select
    import subprocess
    import sys

    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mlkit", "view", path("t1")], stdout=child,
                            stderr=subprocess.PIPE, env=dict(os.environ, MLKIT_INLINE="sixel"))
    os.close(child)
    shown = b""
    while select.select([main], [], [], 30)[0]:  # read as it comes: a pty holds only a few kB
        try:
            shown += os.read(main, 1 << 16)
        except OSError:  # the child closed its end
            break
    os.close(main)
    assert proc.wait(30) == 0 and proc.stderr.read() == b""
    assert shown.startswith(b'\x1bPq"1;1;') and _decode_sixel(shown).std() > 10


def test_samples_are_what_make_samples_makes(tmp_path):
    import make_samples

    t1 = np.asanyarray(nib.load(path("t1")).dataobj)
    np.testing.assert_array_equal(np.asanyarray(nib.load(path("t1_seg")).dataobj), make_samples.t1_seg(t1))
    assert set(np.unique(np.asanyarray(nib.load(path("t1_seg")).dataobj))) == {0, 1, 2, 3}
    functional = nib.load(os.path.join(os.path.dirname(nib.__file__), "tests", "data", "functional.nii"))
    np.testing.assert_array_equal(np.asanyarray(nib.load(path("fmri")).dataobj), np.asanyarray(functional.dataobj))
    document = cv2.imread(path("document"), cv2.IMREAD_GRAYSCALE).astype(float)
    assert np.abs(document - make_samples.document()).mean() < 2  # JPEG, quality 90
    assert cv2.imread(path("face")).shape == (256, 256, 3)
    np.testing.assert_array_equal(cv2.imread(path("faces"), cv2.IMREAD_UNCHANGED), make_samples.lfw())


def test_set_sample_is_lfw_subset_in_label_folders(tmp_path):
    import skimage.data

    assert run_mlkit("sample", "faces", "-o", f"{tmp_path}/lfw/").returncode == 0
    patches = np.round(skimage.data.lfw_subset() * 255).astype(np.uint8)  # faces first, then non-faces
    for k in (0, 57, 99):
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / "lfw" / "face" / f"face_{k:03d}.png"), 0), patches[k])
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / "lfw" / "nonface" / f"nonface_{k:03d}.png"), 0), patches[100 + k])
    assert len(os.listdir(tmp_path / "lfw" / "face")) == len(os.listdir(tmp_path / "lfw" / "nonface")) == 100
    bad = run_mlkit("sample", "faces", "-o", tmp_path / "one.png")
    assert bad.returncode == 2 and b"give a folder" in bad.stderr and not (tmp_path / "one.png").exists()


def test_sample_lists_and_writes(tmp_path):
    listing = run_mlkit("sample", "--list").stdout.decode()
    assert [line.split()[0] for line in listing.splitlines()] == list(SAMPLES)
    assert run_mlkit("sample", "face", "-o", tmp_path / "f.jpg").returncode == 0
    assert (tmp_path / "f.jpg").read_bytes() == open(path("face"), "rb").read()
    assert run_mlkit("sample", "t1_seg", "-o", tmp_path / "s.nii").returncode == 0
    np.testing.assert_array_equal(np.asanyarray(nib.load(str(tmp_path / "s.nii")).dataobj),
                                  np.asanyarray(nib.load(path("t1_seg")).dataobj))
    bad = run_mlkit("sample", "brain")
    assert bad.returncode == 2 and b"choose from t1, t1_seg" in bad.stderr


# ---------------------------------------------------------------- nonsense refused (issue 21)


def _no_picture(proc, out, code, *words):
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    assert not os.path.exists(out)


def test_an_intensity_image_as_overlay_is_refused_with_a_hint(tmp_path):
    out = tmp_path / "v.png"
    labels = np.count_nonzero(np.unique(nib.load(path("t1")).dataobj))  # 0 is the background
    proc = run_mlkit("view", path("t1"), "--overlay", path("t1"), "-o", out)
    _no_picture(proc, out, 1, f"error: {path('t1')}: the overlay holds {labels} distinct values", "(give a segmentation")


def test_an_overlay_with_non_integer_values_is_refused(tmp_path):
    t1 = nib.load(path("t1"))
    labels = np.asanyarray(nib.load(path("t1_seg")).dataobj).astype(np.float32)
    for name, data in (("half.nii", labels + 0.5), ("nan.nii", np.where(labels == 1, np.nan, labels))):
        nib.save(nib.Nifti1Image(data, t1.affine), tmp_path / name)
        proc = run_mlkit("view", path("t1"), "--overlay", tmp_path / name, "-o", tmp_path / "v.png")
        _no_picture(proc, tmp_path / "v.png", 1, f"{tmp_path / name}: the overlay holds", "integer labels")
    nib.save(nib.Nifti1Image(labels, t1.affine), tmp_path / "whole.nii")  # floats that are whole numbers: labels
    assert run_mlkit("view", path("t1"), "--overlay", tmp_path / "whole.nii", "-o", tmp_path / "v.png").returncode == 0


def test_an_atlas_of_1000_labels_is_drawn_and_1001_values_are_refused(tmp_path):
    from mlkit.errors import MlkitError
    from mlkit.view import MAX_LABELS, check_overlay

    atlas = np.arange(40 * 40 * 10, dtype=np.int16).reshape(40, 40, 10) % (MAX_LABELS + 1)  # 0..1000
    check_overlay(Image(data=atlas))
    with pytest.raises(MlkitError, match="1001 distinct values"):
        check_overlay(Image(data=atlas + 1))  # 1..1001: no background, 1001 labels
    check_overlay(Image(data=np.asanyarray(nib.load(path("t1_seg")).dataobj)))


@pytest.mark.parametrize("args", [["--volume", "3"], ["--volume", "0"]])
def test_volume_on_a_3d_image_is_a_usage_error(args, tmp_path):
    proc = run_mlkit("view", path("t1"), *args, "-o", tmp_path / "v.png")
    _no_picture(proc, tmp_path / "v.png", 2, "--volume applies to a 4D series, not to a 3D volume")


def test_volume_applies_when_one_input_of_the_mosaic_is_a_series(tmp_path):
    proc = run_mlkit("view", path("t1"), path("fmri"), "--volume", "3", "-o", tmp_path / "v.png")
    assert proc.returncode == 0, proc.stderr.decode()


@pytest.mark.parametrize("args,words", [
    (["--at", "1,2,3"], "--at applies to a volume, not to a 2D image"),
    (["--slices", "4"], "--slices applies to a volume"),
    (["--radiological"], "--radiological applies to a volume"),
    (["--tile", "64"], "--tile applies to a volume"),
    (["--volume", "1"], "--volume applies to a 4D series, not to a 2D image"),
    (["--axis", "1"], "--axis picks what --slices cut across"),
    (["--mm"], "--mm says --at is in millimetres"),
    (["--style", "fill"], "--style draws overlays"),
])
def test_options_that_apply_to_no_input_are_usage_errors(args, words, tmp_path):
    proc = run_mlkit("view", path("face"), *args, "-o", tmp_path / "v.png")
    _no_picture(proc, tmp_path / "v.png", 2, words)


def test_overlay_with_pairs_is_a_usage_error(tmp_path):
    proc = run_mlkit("view", path("t1"), path("t1_seg"), "--pairs", "--overlay", path("t1_seg"), "-o", tmp_path / "v.png")
    _no_picture(proc, tmp_path / "v.png", 2, "--pairs takes the segmentations from the inputs")


NEUROLOGICAL = [{"top": "S", "bottom": "I", "left": "A", "right": "P"},  # sagittal
                {"top": "S", "bottom": "I", "left": "L", "right": "R"},  # coronal
                {"top": "A", "bottom": "P", "left": "L", "right": "R"}]  # axial


def _rotated_about_z(img, degrees):
    turn = np.eye(4)
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    turn[:2, :2] = [[c, -s], [s, c]]
    return img.replace(affine=turn @ img.affine)


@pytest.mark.parametrize("flips, order, degrees", [((), (0, 1, 2), 0), ((0,), (0, 1, 2), 0), ((0, 1), (2, 0, 1), 0),
                                                   ((), (0, 1, 2), 25), ((1,), (1, 2, 0), -30)],
                         ids=["RAS", "LAS", "LPS swapped", "oblique 25", "swapped oblique -30"])
def test_orientation_letters_name_the_nearest_axes(flips, order, degrees):
    img = _rotated_about_z(_reoriented(_ras_phantom(), flips, order), degrees)
    assert [letters for letters, _ in layout(img)] == NEUROLOGICAL
    radiological = [letters for letters, _ in layout(img, Settings(radiological=True))]
    swap = {"L": "R", "R": "L"}
    assert radiological == [NEUROLOGICAL[0]] + [{k: swap.get(v, v) for k, v in d.items()} for d in NEUROLOGICAL[1:]]
    from mlkit.transform.geometry import display_plane, to_ras

    for (normal, letters) in zip((0, 1, 2), radiological):  # the trusted reference: nibabel's codes of each plane
        plane = display_plane(to_ras(img), normal, 3, radiological=True)
        down, right, _ = nib.aff2axcodes(plane.affine)
        assert (letters["bottom"], letters["right"]) == (down, right)


def test_slice_numbers_count_the_files_own_axes():
    img = _ras_phantom()  # 20 x 24 x 16
    assert [label for _, label in layout(img)] == ["x=10", "y=12", "z=8"]
    assert [label for _, label in layout(img, Settings(at=(3, 4, 5)))] == ["x=3", "y=4", "z=5"]
    flipped = _reoriented(img, (0,), (0, 1, 2))  # x stored right to left: RAS index 10 is stored 9
    assert [label for _, label in layout(flipped)] == ["x=9", "y=12", "z=8"]
    swapped = _reoriented(img, (), (2, 0, 1))  # stored axes: S, R, A
    assert [label for _, label in layout(swapped)] == ["y=10", "z=12", "x=8"]
    assert [label for _, label in layout(img, Settings(slices=3, axis=2))] == ["z=4", "z=8", "z=11"]


def _strokes(pixels):
    """The white pixels, cut to their bounding box."""
    white = pixels.min(axis=2) > 200
    ys, xs = np.nonzero(white)
    return white[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _read_letter(patch):
    """Which of the six letters, drawn by OpenCV at view's size, has the white strokes of `patch`."""
    seen = _strokes(patch)
    for letter in "LRAPSI":
        drawn = np.zeros((40, 40, 3), np.uint8)
        cv2.putText(drawn, letter, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        if _strokes(drawn).shape == seen.shape and (_strokes(drawn) == seen).mean() > 0.95:
            return letter
    return None


def test_the_letters_are_drawn_on_the_edges():
    img = _ras_phantom()
    bare = picture(img, settings=Settings(slices=1, axis=2, labels=False, window=(0, 1e9)))
    drawn = picture(img, settings=Settings(slices=1, axis=2, window=(0, 1e9)))  # black planes: only labels show
    h, w = drawn.shape[:2]
    assert not bare.any() and drawn.shape == bare.shape
    edges = {"top": drawn[: h // 6, w // 3 : 2 * w // 3], "bottom": drawn[-h // 6 :, w // 3 : 2 * w // 3],
             "left": drawn[h // 3 : 2 * h // 3, : w // 6], "right": drawn[h // 3 : 2 * h // 3, -w // 6 :]}
    assert {edge: _read_letter(patch) for edge, patch in edges.items()} == NEUROLOGICAL[2]
    centre = drawn[h // 6 : -h // 6, w // 6 : -w // 6]
    assert not centre.any()  # nothing drawn over the middle of the plane
    np.testing.assert_array_equal(annotate(bare, NEUROLOGICAL[2], "z=8"), drawn)


def test_radiological_says_so_and_long_captions_end_with_an_ellipsis(tmp_path):
    img = _ras_phantom()
    plain = picture(img)
    radiological = picture(img, settings=Settings(radiological=True))
    assert radiological.shape[0] == plain.shape[0] + 18  # a bar that says "radiological"
    assert radiological[:18, -90:].any() and not radiological[:18, :-90].any()  # on the right of the bar
    assert picture(img, settings=Settings(radiological=True, labels=False)).shape == plain.shape
    assert fit_caption("face_aug001_crop", 1000) == "face_aug001_crop"
    cut = fit_caption("face_aug001_crop", 60)
    assert cut.endswith("...") and "face_aug001_crop".startswith(cut[:-3]) and len(cut) > 3
    assert cv2.getTextSize(cut, cv2.FONT_HERSHEY_PLAIN, 0.9, 1)[0][0] <= 60
