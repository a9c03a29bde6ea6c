"""PNG, JPEG, TIFF and BMP through OpenCV, with mlkit's metadata (name and history) kept in PNG
(a tEXt chunk), JPEG (COM segments) and TIFF (the ImageDescription tag). BMP has no place for it."""

import json
import os
import struct
import zlib

import numpy as np

from mlkit.errors import ImageFormatError
from mlkit.io import limits
from mlkit.io.image import Image, UnreadableHistory, json_type
from mlkit.io.quiet import silenced

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
_COMMENT_KEY = b"mlkit:"  # starts each JPEG COM segment and the TIFF ImageDescription mlkit writes
_COM_PIECE = 0xFFFF - 2 - len(_COMMENT_KEY)  # a segment's length field counts itself (2 bytes)


def sniff(head):
    for magic, fmt in MAGIC.items():
        if head.startswith(magic):
            return fmt
    return None


def decode(raw, fmt, name, warn=None):
    """Decode `raw` after checking the size its header declares against the memory limit.

    mlkit's metadata is read with bounds checks (the file is untrusted): a damaged block is
    ignored and reported through `warn(message)`; unreadable JSON becomes an UnreadableHistory,
    which the reader reports."""
    _check_declared_size(raw, fmt)
    if fmt == "png":
        _check_png_chunks(raw)
    # OpenCV's own pixel cap, a backstop for a header this module cannot parse; it is read
    # when cv2 loads, so it only counts when this is the first import.
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(limits.max_bytes()))
    import cv2

    with silenced():  # libpng/libjpeg print from C on corrupt data; mlkit says it once
        data = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise ImageFormatError(f"corrupt or truncated {fmt.upper()} data")
    if data.ndim == 3:
        data = _swap_red_blue(data)
    meta = _read_meta(raw, fmt, warn or (lambda message: None))
    return Image(
        data=data,
        name=meta.get("name") or name,
        history=meta.get("history", []),  # the reader keeps it only if it is a list of dicts
        channels=data.ndim == 3,
        format=fmt,
    )


def _check_declared_size(raw, fmt):
    dims = _DECLARED[fmt](memoryview(raw).cast("B"))
    if dims is None:
        return  # a header too damaged to parse: OpenCV refuses it, within its pixel cap
    width, height, channels, sample_bytes = dims
    if width < 1 or height < 1:
        raise ImageFormatError(f"corrupt {fmt.upper()} header: it declares a {width}x{height} image")
    limits.check(width * height * channels * sample_bytes, f"the {width}x{height} {fmt.upper()} image")


def _png_dims(head):
    if len(head) < 26 or bytes(head[12:16]) != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    depth, color = head[24], head[25]
    channels = {0: 1, 2: 3}.get(color, 4)  # palette and gray+alpha may decode to 4 channels
    return width, height, channels, 2 if depth == 16 else 1


def _jpeg_dims(head):
    """The frame header's size, found by walking every segment before it (EXIF, ICC and
    padding can put it anywhere: a cap on the scan would let a padded file past the check)."""
    head = bytes(head)  # indexing bytes is several times faster than a memoryview
    pos = 2
    while pos + 4 <= len(head) and head[pos] == 0xFF:  # each step moves on: at most len/2 steps
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker == 0xDA:  # the scan's data begins, and no frame header came before it
            raise ImageFormatError("corrupt JPEG: image data before any frame header")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame
            if pos + 10 > len(head):
                return None
            height, width = struct.unpack(">HH", head[pos + 5 : pos + 9])
            return width, height, max(head[pos + 9], 1), 1
        pos += 2 + (head[pos + 2] << 8 | head[pos + 3])
    return None


def _bmp_dims(head):
    if len(head) < 30:
        return None
    if struct.unpack("<I", head[14:18])[0] == 12:  # OS/2 core header: 16-bit sizes
        width, height = struct.unpack("<HH", head[18:22])
    else:
        width, height = struct.unpack("<ii", head[18:26])
    bits = struct.unpack("<H", head[28:30])[0]
    return width, abs(height), 4 if bits == 32 else 3, 1


def _tiff_dims(head):
    """Width, height, samples and bytes per sample from the first IFD (classic TIFF)."""
    order = "<" if bytes(head[:2]) == b"II" else ">"
    try:
        (ifd,) = struct.unpack(order + "I", head[4:8])
        (count,) = struct.unpack(order + "H", head[ifd : ifd + 2])
        tags = {}
        for k in range(count):
            tag, kind, n, value = struct.unpack(order + "HHI4s", head[ifd + 2 + 12 * k : ifd + 14 + 12 * k])
            short = kind == 3
            if short and n > 2:  # several values (BitsPerSample per sample): the field is an offset
                value = head[struct.unpack(order + "I", value)[0] :][:2]
            tags[tag] = struct.unpack(order + ("H" if short else "I"), value[: 2 if short else 4])[0]
    except struct.error:
        return None  # the IFD lies beyond what was scanned
    if 256 not in tags or 257 not in tags:
        return None
    return tags[256], tags[257], tags.get(277, 1), max(1, -(-tags.get(258, 8) // 8))


_DECLARED = {"png": _png_dims, "jpeg": _jpeg_dims, "bmp": _bmp_dims, "tiff": _tiff_dims}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD9)}  # markers without a length: TEM, RSTn, SOI


def encode(img, fmt):
    """The file bytes of `img` in raster format `fmt`."""
    import cv2

    data = _as_plane(img, fmt)
    if data.ndim == 3:
        data = _swap_red_blue(data)
    with silenced():  # libpng prints its refusals (a width over its limit) from C
        ok, buf = _imencode(cv2, "." + {"jpeg": "jpg"}.get(fmt, fmt), data)
    if not ok:
        raise ImageFormatError(f"OpenCV could not encode a {data.shape} {data.dtype} image as {fmt.upper()}",
                               "PNG and JPEG hold at most 1000000 pixels a side: write .tif or .nii.gz")
    raw = buf.tobytes()
    meta = {"name": img.name, "history": img.history}
    if fmt == "png":
        raw = _with_png_meta(raw, meta)
    elif fmt == "jpeg":
        raw = _with_jpeg_comment(raw, _meta_text(meta))
    elif fmt == "tiff":
        raw = _with_tiff_description(raw, _COMMENT_KEY + _meta_text(meta))
    return raw


def _imencode(cv2, ext, data):
    try:
        return cv2.imencode(ext, data)
    except cv2.error:  # OpenCV raises rather than returns False for some sizes
        return False, None


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
            "write .nii.gz instead, or convert first with 'mlkit transform rescale --to uint8'",  # true of every command
        )
    return data


def _swap_red_blue(data):
    """RGB(A) <-> BGR(A), OpenCV's channel order. cv2.cvtColor does it about 15x faster than
    fancy indexing for the types it takes (a third of a 4000 x 3000 photo's read and write)."""
    import cv2

    channels = data.shape[2]
    if channels in (3, 4) and data.dtype in (np.uint8, np.uint16, np.float32):
        return cv2.cvtColor(np.ascontiguousarray(data), cv2.COLOR_BGR2RGB if channels == 3 else cv2.COLOR_BGRA2RGBA)
    order = [2, 1, 0, 3][:channels] if channels in (3, 4) else list(range(channels))
    return np.ascontiguousarray(data[..., order])


def _chunks(raw):
    pos = 8
    while pos + 8 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        yield kind, raw[pos + 8 : pos + 8 + length]
        pos += 12 + length


def _check_png_chunks(raw):
    """libpng allocates what a chunk's length declares (all but image data, which it streams):
    a length past the PNG maximum, or a chunk other than IDAT running past the end, is refused."""
    pos = 8
    while pos + 8 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        if length > 2**31 - 1 or (kind != b"IDAT" and length > len(raw) - pos - 12):
            raise ImageFormatError(f"corrupt PNG: its {kind.decode('latin-1')!r} chunk declares {length} bytes, "
                                   f"more than the file holds")
        if kind == b"IEND":
            return
        pos += 12 + length


def _meta_text(meta):
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("ascii")


def _parse_meta(text):
    """{'name', 'history'} from mlkit's JSON text; unreadable JSON keeps its reason as the history."""
    try:
        meta = json.loads(text)
    except RecursionError:
        return {"history": UnreadableHistory("its JSON is nested too deeply")}
    except ValueError:  # UnicodeDecodeError included
        return {"history": UnreadableHistory("it is not valid JSON")}
    if not isinstance(meta, dict):
        return {"history": UnreadableHistory(f"it is a JSON {json_type(meta)}, not an object")}
    return meta


def _read_meta(raw, fmt, warn):
    if fmt == "png":
        text = _png_meta(raw)
    elif fmt == "jpeg":
        text = _jpeg_comment(memoryview(raw).cast("B"), warn)
    elif fmt == "tiff":
        text = _tiff_description(memoryview(raw).cast("B"), warn)
    else:
        text = None
    return {} if text is None else _parse_meta(bytes(text))


def _png_meta(raw):
    for kind, body in _chunks(raw):
        if kind == b"tEXt" and body.startswith(_TEXT_KEY + b"\x00"):
            return body[len(_TEXT_KEY) + 1 :]
    return None


def _jpeg_comment(raw, warn):
    """The text of mlkit's COM segments (one or more, concatenated), or None. Segments are
    walked up to the start of scan; a length past the end stops the walk, with a warning
    when that segment is mlkit's."""
    pieces, pos = [], 2
    while pos + 4 <= len(raw) and raw[pos] == 0xFF:
        marker = raw[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # TEM, RSTn, SOI: no length field
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image: no more metadata
            break
        length = struct.unpack(">H", raw[pos + 2 : pos + 4])[0]
        end = pos + 2 + length
        ours = marker == 0xFE and bytes(raw[pos + 4 : pos + 4 + len(_COMMENT_KEY)]) == _COMMENT_KEY
        if length < 2 or end > len(raw):
            if ours:
                warn(f"its mlkit comment segment declares {length} bytes, more than the file holds; "
                     "the history is ignored")
                return None
            break
        if ours:
            pieces.append(raw[pos + 4 + len(_COMMENT_KEY) : end])
        pos = end
    return b"".join(pieces) if pieces else None


def _with_jpeg_comment(raw, text):
    """`raw` with `text` in COM segments (65,527 bytes each) after SOI and the APPn segments
    that follow it: JFIF and EXIF readers expect their APP0/APP1 first."""
    pos = 2
    while pos + 4 <= len(raw) and raw[pos] == 0xFF and 0xE0 <= raw[pos + 1] <= 0xEF:
        pos += 2 + struct.unpack(">H", raw[pos + 2 : pos + 4])[0]
    pieces = [text[i : i + _COM_PIECE] for i in range(0, len(text), _COM_PIECE)] or [b""]
    segments = b"".join(b"\xff\xfe" + struct.pack(">H", 2 + len(_COMMENT_KEY) + len(p)) + _COMMENT_KEY + p
                        for p in pieces)
    return raw[:pos] + segments + raw[pos:]


def _tiff_description(raw, warn):
    """mlkit's text from the first IFD's ImageDescription (tag 270), or None. mlkit's text is
    longer than 4 bytes, so the field holds its offset."""
    kind, count, field = _tiff_entries(raw).get(270, (None, 0, b""))
    if kind != 2 or count <= len(_COMMENT_KEY):
        return None
    order = "<" if bytes(raw[:2]) == b"II" else ">"
    start = struct.unpack(order + "I", field)[0]
    if start + count > len(raw):
        warn(f"its TIFF ImageDescription declares {count} bytes at offset {start}, past the end of the file; ignored")
        return None
    text = bytes(raw[start : start + count]).rstrip(b"\x00")
    return text[len(_COMMENT_KEY) :] if text.startswith(_COMMENT_KEY) else None


def _tiff_entries(raw):
    """{tag: (type, count, 4-byte value field)} of the first IFD of a classic TIFF; {} when it
    lies outside the file."""
    order = "<" if bytes(raw[:2]) == b"II" else ">"
    if len(raw) < 8 or bytes(raw[2:4]) != (b"*\x00" if order == "<" else b"\x00*"):
        return {}
    ifd = struct.unpack(order + "I", raw[4:8])[0]
    if ifd + 2 > len(raw):
        return {}
    count = struct.unpack(order + "H", raw[ifd : ifd + 2])[0]
    if ifd + 2 + 12 * count > len(raw):
        return {}
    entries = {}
    for k in range(count):
        tag, kind, n = struct.unpack(order + "HHI", raw[ifd + 2 + 12 * k : ifd + 10 + 12 * k])
        entries.setdefault(tag, (kind, n, raw[ifd + 10 + 12 * k : ifd + 14 + 12 * k]))
    return entries


def _with_tiff_description(raw, text):
    """`raw` (a classic TIFF) whose first IFD also holds `text` as its ImageDescription: the
    IFD is copied to the end with the new entry (tags stay sorted) and the header points to
    the copy; nothing else moves, so every other offset stays valid."""
    order = "<" if raw[:2] == b"II" else ">"
    if raw[2:4] != (b"*\x00" if order == "<" else b"\x00*"):
        return raw  # BigTIFF (OpenCV writes it past 4 GiB only): left without the history
    ifd = struct.unpack(order + "I", raw[4:8])[0]
    count = struct.unpack(order + "H", raw[ifd : ifd + 2])[0]
    entries = [raw[ifd + 2 + 12 * k : ifd + 14 + 12 * k] for k in range(count)]
    entries = [e for e in entries if struct.unpack(order + "H", e[:2])[0] != 270]
    following = raw[ifd + 2 + 12 * count : ifd + 6 + 12 * count]
    out = bytearray(raw) + b"\x00" * (len(raw) % 2)  # IFDs and values start on a word boundary
    value = text + b"\x00"
    start = len(out)
    out += value + b"\x00" * (len(value) % 2)
    entries.append(struct.pack(order + "HHII", 270, 2, len(value), start))
    entries.sort(key=lambda e: struct.unpack(order + "H", e[:2])[0])
    out[4:8] = struct.pack(order + "I", len(out))
    out += struct.pack(order + "H", len(entries)) + b"".join(entries) + following
    return bytes(out)


def _with_png_meta(raw, meta):
    text = _meta_text(meta)
    body = _TEXT_KEY + b"\x00" + text
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    end_of_ihdr = 8 + 8 + 13 + 4
    return raw[:end_of_ihdr] + chunk + raw[end_of_ihdr:]
