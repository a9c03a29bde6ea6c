"""PNG/JPEG/TIFF/BMP/.npy: read by content, written by extension, compared with OpenCV."""

import os
import shutil

import cv2
import numpy as np
import pytest
import skimage.data

from conftest import run_mlkit
from mlkit.errors import ImageFormatError
from mlkit.io import Image, read_image, write_image


def _photos():
    gray8 = skimage.data.camera()
    rgb8 = skimage.data.astronaut()
    rgba8 = np.dstack([rgb8, np.full(rgb8.shape[:2], 200, np.uint8)])
    gray16 = (gray8.astype(np.uint16) * 257)
    rgb16 = rgb8.astype(np.uint16) * 257
    return {"gray8": gray8, "rgb8": rgb8, "rgba8": rgba8, "gray16": gray16, "rgb16": rgb16}


@pytest.mark.parametrize("kind", ["gray8", "rgb8", "rgba8", "gray16", "rgb16"])
@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_lossless_roundtrip(tmp_path, kind, ext):
    data = _photos()[kind]
    img = Image(data=data, channels=data.ndim == 3, format="png")
    write_image(img, str(tmp_path / ("a" + ext)))
    back = read_image(str(tmp_path / ("a" + ext)))
    assert back.channels == (data.ndim == 3)
    assert back.data.dtype == data.dtype
    np.testing.assert_array_equal(back.data, data)


def test_rgb_order_agrees_with_opencv(astronaut_png):
    img = read_image(astronaut_png)
    np.testing.assert_array_equal(img.data, cv2.imread(astronaut_png)[:, :, ::-1])
    np.testing.assert_array_equal(img.data, skimage.data.astronaut())


@pytest.mark.parametrize("ext", [".jpg", ".bmp"])
def test_eight_bit_formats(tmp_path, ext):
    data = skimage.data.astronaut()
    write_image(Image(data=data, channels=True), str(tmp_path / ("a" + ext)))
    back = read_image(str(tmp_path / ("a" + ext)))
    ref = cv2.imread(str(tmp_path / ("a" + ext)))[:, :, ::-1]
    np.testing.assert_array_equal(back.data, ref)
    if ext == ".bmp":
        np.testing.assert_array_equal(back.data, data)
    else:
        assert np.abs(back.data.astype(int) - data).mean() < 3


def test_format_from_bytes_not_extension(tmp_path, camera_png):
    disguised = tmp_path / "really_a_png.nii"
    shutil.copy(camera_png, disguised)
    img = read_image(str(disguised))
    assert img.format == "png"
    np.testing.assert_array_equal(img.data, skimage.data.camera())


def test_png_keeps_history(tmp_path):
    img = Image(data=np.zeros((4, 4), np.uint8), history=[{"command": "transform log"}])
    write_image(img, str(tmp_path / "a.png"))
    assert read_image(str(tmp_path / "a.png")).history == [{"command": "transform log"}]
    assert cv2.imread(str(tmp_path / "a.png")) is not None  # still a valid PNG for other readers


def test_volume_to_png_is_a_clear_error(tmp_path):
    with pytest.raises(ImageFormatError, match="slice"):
        write_image(Image(data=np.zeros((4, 4, 4), np.uint8)), str(tmp_path / "a.png"))
    assert os.listdir(tmp_path) == []


def test_float_to_png_is_a_clear_error(tmp_path):
    with pytest.raises(ImageFormatError, match="uint8 or uint16"):
        write_image(Image(data=np.zeros((4, 4), np.float32)), str(tmp_path / "a.png"))


def test_single_slice_volume_writes_as_png(tmp_path):
    data = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    write_image(Image(data=data), str(tmp_path / "a.png"))
    np.testing.assert_array_equal(read_image(str(tmp_path / "a.png")).data, data[:, :, 0])


def test_npy_roundtrip_and_no_pickle(tmp_path):
    data = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    write_image(Image(data=data), str(tmp_path / "a.npy"))
    np.testing.assert_array_equal(read_image(str(tmp_path / "a.npy")).data, data)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ImageFormatError, match="npy"):
        read_image(str(tmp_path / "obj.npy"))


def test_unknown_output_suffix(tmp_path):
    from mlkit.errors import MlkitError

    with pytest.raises(MlkitError, match="output format"):
        write_image(Image(data=np.zeros((2, 2), np.uint8)), str(tmp_path / "a.xyz"))


def _corrupt_rasters(tmp_path):
    """Truncated and bit-flipped PNG and JPEG files of a real photo."""
    paths = []
    for ext in (".png", ".jpg"):
        ok, buf = cv2.imencode(ext, skimage.data.astronaut())
        raw = buf.tobytes()
        flipped = bytearray(raw)
        for i in range(2000, len(flipped), 997):
            flipped[i] ^= 0x55
        for kind, data in (("truncated", raw[: len(raw) // 2]), ("flipped", bytes(flipped))):
            path = tmp_path / f"{kind}{ext}"
            path.write_bytes(data)
            paths.append(path.name)
    return paths


def test_corrupt_rasters_give_mlkit_lines_only(tmp_path):
    for name in _corrupt_rasters(tmp_path):
        proc = run_mlkit("info", name, cwd=tmp_path)
        lines = proc.stderr.decode().splitlines()
        assert proc.returncode in (0, 1), name
        # libjpeg may decode a damaged JPEG (exit 0, silent); every failure is one mlkit line
        expected = 1 if proc.returncode else 0
        assert len(lines) == expected and all(line.startswith(f"mlkit info: error: {name}: ") for line in lines), lines


def test_debug_shows_library_chatter(tmp_path):
    _corrupt_rasters(tmp_path)
    env = dict(os.environ, MLKIT_DEBUG="1")
    proc = run_mlkit("info", "truncated.png", cwd=tmp_path, env=env)
    assert proc.returncode == 1 and b"libpng" in proc.stderr


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tif"])
def test_declared_size_covers_what_opencv_decodes(tmp_path, ext):
    """The size read from each header before decoding bounds OpenCV's decoded array."""
    from mlkit.io import raster

    for data in (skimage.data.camera(), skimage.data.astronaut(), np.dstack([skimage.data.astronaut()] * 2)[..., :4]):
        ok, buf = cv2.imencode(ext, data)
        raw = buf.tobytes()
        width, height, channels, sample = raster._DECLARED[raster.sniff(raw)](memoryview(raw))
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        assert (height, width) == decoded.shape[:2]
        assert width * height * channels * sample >= decoded.nbytes


def test_zero_sized_png_header_is_an_error(tmp_path):
    ok, buf = cv2.imencode(".png", skimage.data.camera())
    raw = bytearray(buf.tobytes())
    raw[16:20] = bytes(4)  # IHDR width 0
    (tmp_path / "zero.png").write_bytes(bytes(raw))
    with pytest.raises(ImageFormatError, match="0x512"):
        read_image(str(tmp_path / "zero.png"))
