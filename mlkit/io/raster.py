"""PNG, JPEG, TIFF and BMP through OpenCV, with mlkit's metadata kept in PNG."""

import json
import struct
import zlib

import numpy as np

from mlkit.errors import ImageFormatError
from mlkit.io.image import Image

MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
    b"BM": "bmp",
}
EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".bmp": "bmp"}
# What each format can hold, as OpenCV writes it.
DTYPES = {
    "png": ("uint8", "uint16"),
    "jpeg": ("uint8",),
    "bmp": ("uint8",),
    "tiff": ("uint8", "uint16", "float32"),
}
_TEXT_KEY = b"mlkit"


def sniff(head):
    for magic, fmt in MAGIC.items():
        if head.startswith(magic):
            return fmt
    return None


def decode(raw, fmt, name):
    import cv2

    data = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise ImageFormatError(f"corrupt or truncated {fmt.upper()} data")
    if data.ndim == 3:
        data = _swap_red_blue(data)
    meta = _png_meta(raw) if fmt == "png" else {}
    return Image(
        data=data,
        name=meta.get("name") or name,
        history=list(meta.get("history", [])),
        channels=data.ndim == 3,
        format=fmt,
    )


def encode(img, fmt):
    """The file bytes of `img` in raster format `fmt`."""
    import cv2

    data = _as_plane(img, fmt)
    if data.ndim == 3:
        data = _swap_red_blue(data)
    ok, buf = cv2.imencode("." + {"jpeg": "jpg"}.get(fmt, fmt), data)
    if not ok:
        raise ImageFormatError(f"OpenCV could not encode a {data.shape} {data.dtype} image as {fmt.upper()}")
    raw = buf.tobytes()
    if fmt == "png":
        raw = _with_png_meta(raw, {"name": img.name, "history": img.history})
    return raw


def _as_plane(img, fmt):
    data = img.data
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if not img.channels:
        data = data.reshape([n for i, n in enumerate(data.shape) if i < 2 or n != 1])
    ok_shape = data.ndim == 2 or (data.ndim == 3 and data.shape[2] in (1, 3, 4) and img.channels)
    if not ok_shape:
        shape = "x".join(map(str, img.data.shape))
        raise ImageFormatError(
            f"cannot write a {shape} image as {fmt.upper()}, which holds one 2D plane",
            "pick one with 'mlkit transform slice', or write .nii.gz",
        )
    if str(data.dtype) not in DTYPES[fmt]:
        allowed = " or ".join(DTYPES[fmt])
        raise ImageFormatError(
            f"{fmt.upper()} holds {allowed}, the image is {data.dtype}",
            "use --dtype uint8, or 'mlkit transform rescale --to uint8' first",
        )
    return data


def _swap_red_blue(data):
    order = [2, 1, 0, 3][: data.shape[2]] if data.shape[2] in (3, 4) else list(range(data.shape[2]))
    return np.ascontiguousarray(data[..., order])


def _chunks(raw):
    pos = 8
    while pos + 8 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        yield kind, raw[pos + 8 : pos + 8 + length]
        pos += 12 + length


def _png_meta(raw):
    for kind, body in _chunks(raw):
        if kind == b"tEXt" and body.startswith(_TEXT_KEY + b"\x00"):
            try:
                meta = json.loads(body[len(_TEXT_KEY) + 1 :])
            except ValueError:
                return {}
            return meta if isinstance(meta, dict) else {}
    return {}


def _with_png_meta(raw, meta):
    text = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("ascii")
    body = _TEXT_KEY + b"\x00" + text
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    end_of_ihdr = 8 + 8 + 13 + 4
    return raw[:end_of_ihdr] + chunk + raw[end_of_ihdr:]
