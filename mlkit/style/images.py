"""Pictures in and out of VGG19's space: RGB 0-255 floats, sizes, the start image, colours."""

import numpy as np

from mlkit.errors import MlkitError
from mlkit.io import limits

MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)  # ImageNet's, as keras.applications.vgg19
YUV = np.array([[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]], np.float32)


def rgb(img):
    """An mlkit Image (a photo, a gray picture, or one 2D slice) as H x W x 3 floats in 0-255,
    and whether it was gray."""
    from mlkit.deep.data import planes, to_channels

    found = planes(img)
    if len(found) != 1:
        raise MlkitError(f"it holds {len(found)} non-empty 2D slices, expected one picture",
                         "give a 2D image, or cut one slice out of the volume first")
    plane = found[0]
    return to_channels(plane, 3) * np.float32(255), plane.shape[2] == 1


def resize(picture, longest):
    """`picture` scaled so its longest side is `longest` pixels (aspect ratio kept)."""
    h, w = picture.shape[:2]
    scale = longest / max(h, w)
    return resize_to(picture, (max(1, round(h * scale)), max(1, round(w * scale))))


def resize_to(picture, shape):
    import cv2

    h, w = shape[:2]
    limits.check(h * w * 3 * 4, "the resized picture")
    shrink = h < picture.shape[0] or w < picture.shape[1]
    out = cv2.resize(picture.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return out.reshape(h, w, 3)


def to_vgg(picture):
    """RGB 0-255 -> VGG19's input: BGR with the ImageNet mean subtracted."""
    return picture[..., ::-1] - MEAN_BGR


def from_vgg(x):
    return (x + MEAN_BGR)[..., ::-1]


def bounds(shape):
    """Per-pixel (low, high) in VGG space that keep every RGB value inside 0-255."""
    return np.broadcast_to(-MEAN_BGR, shape), np.broadcast_to(255 - MEAN_BGR, shape)


def start(kind, content, style, rng):
    """The first image (RGB 0-255): white noise around mid-grey, the content, or the style
    resized to the content's shape."""
    if kind == "content":
        return content.copy()
    if kind == "style":
        return resize_to(style, content.shape)
    return np.clip(127.5 + 32.0 * rng.standard_normal(content.shape), 0, 255).astype(np.float32)


def keep_colors(picture, content):
    """The luminance of `picture` with the colours (YUV chroma) of `content`."""
    y = picture @ YUV[0]
    uv = resize_to(content, picture.shape) @ YUV[1:].T
    return np.concatenate([y[..., None], uv], axis=2) @ np.linalg.inv(YUV).T


def to_uint8(picture, gray=False):
    """0-255 floats -> uint8 H x W x 3, or H x W (the luminance) when `gray`."""
    if gray:
        picture = picture @ YUV[0]
    return np.rint(np.clip(picture, 0, 255)).astype(np.uint8)
