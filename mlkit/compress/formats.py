"""The .mlz container: the codes of an image set, tied to the model that made them.

    offset size  field
    0      4     magic b"\\x89MLZ"
    4      1     version (2; version 1 is still read)
    5      8     the model's fingerprint (mlkit.deep.models.fingerprint, 16 hex digits as 8 bytes)
    13     1     entropy coder of the body: 0 stored, 1 zlib (raw deflate, level 9), 2 lzma (raw LZMA2, preset 9e)
    14     4     body size once decoded (uint32, little-endian)
    18     4     coded body size (uint32)
    22     4     CRC-32 of the coded body
    26     ...   the coded body; nothing after it

Version 2 (what encode writes): the body is a uint32 header size, the header (UTF-8 JSON, with
`model` "rd", "hyper" or "ae" and the counts `numbers` and `words`; "hyper" adds `zwords`, how
many of the words code the side map z, the rest coding y), `numbers` float32 values (the
autoencoders' per-number scale, offset, mean and spread; none for rd) and `words`, the range
coder's uint32 words (mlkit.compress.entropy), decoded with the model's frozen integer tables.

Version 1: the body is a uint32 header size, the header (UTF-8 JSON), `scale` then `offset` (float32
little-endian, one per code number: value = offset + level * scale) and the codes. The header
holds `bits`, `latent`, `size` [h, w, c] of the model and `images`: per image name, shape, dtype, affine
(16 numbers, row-major; null for the identity), intensity scaling lo/hi, volume, slice_axis,
suffix and format. The codes are the quantised levels, one byte each (two, little-endian, above
8 bits), stored number by number (all images' first number, then the second...), which lets the
entropy coder see the runs and the small spread within one number.

Encoding tries both coders and keeps the smaller body (lzma wins on large sets, deflate's smaller
framing on tiny ones). Reading checks every field before using it and every size against
mlkit.io.limits, so a damaged file is one message and nothing is written.
"""

import dataclasses
import json
import lzma
import math
import struct
import zlib

import numpy as np

from mlkit.compress.planes import Meta
from mlkit.errors import ImageFormatError, MlkitError
from mlkit.io import jsonfile, limits

MAGIC = b"\x89MLZ"
VERSION = 2
VERSIONS = (1, 2)
HEAD = struct.Struct("<4sB8sBIII")
CODERS = {0: "stored", 1: "zlib", 2: "lzma"}
_LZMA = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
_DTYPES = ("bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float16", "float32", "float64")


def pack(fingerprint, header, scale, offset, levels):
    """The container's bytes. levels: N x latent unsigned integers below 2**bits; scale and
    offset: one float32 per code number."""
    width = "<u1" if header["bits"] <= 8 else "<u2"
    codes = np.ascontiguousarray(np.asarray(levels).T, dtype=width).tobytes()
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    numbers = np.asarray(scale, "<f4").tobytes() + np.asarray(offset, "<f4").tobytes()
    body = struct.pack("<I", len(text)) + text + numbers + codes
    return _frame(1, fingerprint, body)


def pack_coded(fingerprint, header, numbers, words):
    """A version-2 container: the header, `numbers` (float32) and the range coder's words."""
    header = {**header, "numbers": len(numbers), "words": len(words)}
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    body = struct.pack("<I", len(text)) + text + np.asarray(numbers, "<f4").tobytes() + np.asarray(words, "<u4").tobytes()
    return _frame(2, fingerprint, body)


def _frame(version, fingerprint, body):
    coder, coded = min(((k, _code(k, body)) for k in CODERS), key=lambda kv: len(kv[1]))
    return HEAD.pack(MAGIC, version, bytes.fromhex(fingerprint), coder, len(body), len(coded), zlib.crc32(coded)) + coded


def _code(coder, body):
    if coder == 1:
        return zlib.compress(body, 9, wbits=-15)
    if coder == 2:
        return lzma.compress(body, format=lzma.FORMAT_RAW, filters=_LZMA)
    return body


def unpack(raw, fingerprint=None):
    """The container's contents, checked; refused if `fingerprint` differs. A dict: version,
    header, fingerprint (the model's, hex) and, for version 1, scale, offset, levels (N x latent); for version 2, numbers
    (float32) and words (uint32, the range coder's)."""
    if len(raw) < HEAD.size:
        raise ImageFormatError(f"not an .mlz container: {len(raw)} bytes, shorter than its {HEAD.size}-byte head")
    magic, version, stamp, coder, size, coded_size, crc = HEAD.unpack_from(raw)
    if magic != MAGIC:
        raise ImageFormatError("not an .mlz container (wrong magic)", "give a file written by mlkit compress encode")
    if version not in VERSIONS:
        raise ImageFormatError(f".mlz version {version}, this mlkit reads versions 1 and 2", "upgrade mlkit")
    check_fingerprint(stamp.hex(), fingerprint)
    if coder not in CODERS:
        raise ImageFormatError(f"damaged .mlz container: unknown coder {coder}")
    coded = raw[HEAD.size :]
    if len(coded) != coded_size:
        raise ImageFormatError(f"truncated or padded .mlz container: {len(coded)} body bytes, the head says {coded_size}")
    if zlib.crc32(coded) != crc:
        raise ImageFormatError("damaged .mlz container: the body fails its CRC-32 check")
    limits.check(size, "the .mlz body")
    body = _Inflater(coder, coded, size)
    try:
        box = _split(body) if version == 1 else _split_coded(body)
    except (zlib.error, lzma.LZMAError) as exc:
        raise ImageFormatError(f"damaged .mlz container: the {CODERS[coder]} body does not decode ({exc})") from None
    return {**box, "fingerprint": stamp.hex()}


def check_fingerprint(stamp, fingerprint):
    """Refuse a container whose model `stamp` (hex) is not `fingerprint` (None: any model)."""
    if fingerprint is not None and stamp != fingerprint:
        raise ImageFormatError(f"made with another model (fingerprint {stamp}, this model is {fingerprint})",
                               "decode with the model that encoded it")


class _Inflater:
    """The decoded body read piece by piece, so the header is checked (and the memory the
    rest will take) before the rest is inflated."""

    def __init__(self, coder, coded, size):
        self.coder, self.left, self.size = coder, coded, size
        if coder == 1:
            self.engine = zlib.decompressobj(wbits=-15)
        elif coder == 2:
            self.engine = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA)

    def read(self, n):
        """The next n bytes of the body, or fewer at its end."""
        if n <= 0:
            return b""  # zlib takes a max_length of 0 as no limit at all
        if self.coder == 0:
            out, self.left = self.left[:n], self.left[n:]
        elif self.coder == 1:
            out = self.engine.decompress(self.left, n)
            self.left = self.engine.unconsumed_tail
        elif self.engine.eof:
            out = b""
        else:
            out = self.engine.decompress(self.left, max_length=n)
            self.left = b""
        return out

    def rest(self, text_size, expected, header):
        """The `expected` bytes after the header, once the memory decoding takes is allowed;
        refused when the body decodes to more or fewer than the head says."""
        if 4 + text_size + expected != self.size:
            raise ImageFormatError(f"damaged .mlz container: {self.size - 4 - text_size} bytes after the header, "
                                   f"the header needs {expected}")
        limits.check(decode_bytes(header, self.size), "decoding the .mlz container")
        out = self.read(expected)
        if len(out) != expected:
            raise ImageFormatError(f"damaged .mlz container: the body decodes to {4 + text_size + len(out)} bytes, "
                                   f"the head says {self.size}")
        if self.read(1):
            raise ImageFormatError(f"damaged .mlz container: the body decodes to more than the {self.size} bytes the head says")
        return out


def _header(body):
    """(header, its size in bytes), read and checked before anything after it is inflated."""
    head = body.read(4)
    if len(head) < 4:
        raise ImageFormatError("damaged .mlz container: no header")
    (text_size,) = struct.unpack("<I", head)
    if 4 + text_size > body.size:
        raise ImageFormatError("damaged .mlz container: the header runs past the body")
    limits.check(text_size * HEADER_COPIES, "the .mlz header, parsed")
    try:
        header = jsonfile.loads(body.read(text_size), "damaged .mlz container: the header")
    except MlkitError as exc:
        raise ImageFormatError(exc.message, exc.hint) from None
    check_header(header)
    return header, text_size


def _split(body):
    header, text_size = _header(body)
    if header.get("model", "ae") != "ae":  # version 1 holds autoencoder levels only; rd came with version 2
        _fail("model", "is not ae in a version-1 container")
    n = sum(meta_from(img).count for img in header["images"])
    latent, width = header["latent"], 1 if header["bits"] <= 8 else 2
    rest = body.rest(text_size, 8 * latent + n * latent * width, header)
    numbers = np.frombuffer(rest, "<f4", count=2 * latent).astype(np.float32)
    if not np.isfinite(numbers).all():
        raise ImageFormatError("damaged .mlz container: a code scale or offset is not finite")
    levels = np.frombuffer(rest, "<u1" if width == 1 else "<u2", offset=8 * latent).reshape(latent, n).T
    if levels.size and int(levels.max()) >= 1 << header["bits"]:
        raise ImageFormatError(f"damaged .mlz container: a code level is over {header['bits']} bits")
    return {"version": 1, "header": header, "scale": numbers[:latent], "offset": numbers[latent:], "levels": levels}


def _split_coded(body):
    header, text_size = _header(body)
    numbers, words = _int(header.get("numbers"), "numbers", 0, 1 << 24), _int(header.get("words"), "words", 0, 1 << 31)
    if header.get("model") not in ("rd", "hyper", "ae"):
        _fail("model", "is not rd, hyper or ae")
    if header["model"] == "hyper" and header["zwords"] > words:
        _fail("zwords", f"is more than the {words} words")
    rest = body.rest(text_size, 4 * (numbers + words), header)
    values = np.frombuffer(rest, "<f4", count=numbers).astype(np.float32)
    if not np.isfinite(values).all():
        raise ImageFormatError("damaged .mlz container: a stored number is not finite")
    return {"version": 2, "header": header, "numbers": values,
            "words": np.frombuffer(rest, "<u4", offset=4 * numbers).astype(np.uint32)}


HEADER_COPIES = 10  # parsed JSON (dicts, lists, strings) takes several times the bytes of its text
# Bytes per voxel while one image is put back (compress.planes): its float32 planes, their
# stack, the float64 rescaling and its temporary.
_VOXEL_WORK = 4 + 4 + 8 + 8
# Bytes per stored integer while decoding: the coder's output and its int64 stack, then float32.
_CODE_WORK = 8 + 8 + 4


def decode_bytes(header, body_size):
    """The memory decoding a checked header takes at its peak: the body, the integers (and their
    working copies), the model-size reconstructions, every decoded image (all are held until
    written) and the working copies of the largest one."""
    metas = [meta_from(img) for img in header["images"]]
    planes = sum(m.count for m in metas)
    # hyper: y, z (a sixteenth of y's numbers) and y's scale levels: under twice rd's
    factor = {"rd": 1, "hyper": 2}.get(header.get("model"), 0)
    per_plane = header["latent"] * (factor * math.prod(header["grid"]) if factor else 1)
    model_plane = math.prod(header["size"])
    outputs = sum(_voxels(m) * np.dtype(m.dtype).itemsize for m in metas)
    work = max(_voxels(m) for m in metas) * _VOXEL_WORK
    return body_size + planes * per_plane * _CODE_WORK + planes * model_plane * 4 + outputs + work


def _voxels(meta):
    return math.prod(meta.shape)  # checked integers: exact, and far quicker than numpy on short lists


def _fail(field, why):
    raise ImageFormatError(f"damaged .mlz container: header field {field} {why}")


def _int(value, field, low, high):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        _fail(field, f"is not an integer in {low}..{high}")
    return value


def _float(value, field):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
        _fail(field, "is not a finite number")
    return float(value)


def _floats(value, field, count):
    if not isinstance(value, list) or len(value) != count:
        _fail(field, f"is not a list of {count} numbers")
    return [_float(v, field) for v in value]


def check_header(header):
    """Every field present and of the right type and range, or one clear error."""
    if not isinstance(header, dict):
        _fail("(top)", "is not an object")
    rd = header.get("model") in ("rd", "hyper")
    hyper = header.get("model") == "hyper"
    for key in ("latent", "size", "images") + (("grid",) if rd else ("bits",)) + (("zwords",) if hyper else ()):
        if key not in header:
            _fail(key, "is missing")
    if hyper:
        _int(header["zwords"], "zwords", 0, 1 << 31)
    if rd:
        grid = header["grid"]
        if not isinstance(grid, list) or len(grid) != 2:
            _fail("grid", "is not [h, w]")
        for n in grid:
            _int(n, "grid", 1, 1 << 16)
    else:
        _int(header["bits"], "bits", 1, 16)
    _int(header["latent"], "latent", 1, 1 << 16)
    size = header["size"]
    if not isinstance(size, list) or len(size) != 3:
        _fail("size", "is not [h, w, c]")
    for n in size:
        _int(n, "size", 1, 1 << 16)
    if not isinstance(header["images"], list) or not header["images"]:
        _fail("images", "is not a non-empty list")
    for i, img in enumerate(header["images"]):
        _check_image(img, f"images[{i}]")


def _check_image(img, where):
    if not isinstance(img, dict):
        _fail(where, "is not an object")
    for key in ("name", "shape", "dtype", "affine", "lo", "hi", "volume", "slice_axis", "suffix", "format"):
        if key not in img:
            _fail(f"{where}.{key}", "is missing")
    for key in ("name", "suffix", "format"):
        if not isinstance(img[key], str) or len(img[key]) > 255:
            _fail(f"{where}.{key}", "is not a short string")
    if img["dtype"] not in _DTYPES:
        _fail(f"{where}.dtype", f"is not one of {', '.join(_DTYPES)}")
    shape = img["shape"]
    if not isinstance(shape, list) or not 2 <= len(shape) <= 7:
        _fail(f"{where}.shape", "is not a list of 2 to 7 sizes")
    for n in shape:
        _int(n, f"{where}.shape", 1, 1 << 31)
    limits.check(math.prod(shape) * np.dtype(img["dtype"]).itemsize, f"{img['name']}")
    if img["affine"] is not None:
        _floats(img["affine"], f"{where}.affine", 16)
    lo, hi = _float(img["lo"], f"{where}.lo"), _float(img["hi"], f"{where}.hi")
    if hi <= lo:
        _fail(f"{where}.hi", "is not above lo")
    top = float(np.finfo(img["dtype"]).max) if img["dtype"].startswith("float") else np.finfo(np.float64).max
    if not np.isfinite(hi - lo) or max(-lo, hi) > top:  # the decoded values would overflow
        _fail(f"{where}.lo/hi", f"span more than {img['dtype']} holds")
    if not isinstance(img["volume"], bool):
        _fail(f"{where}.volume", "is not true or false")
    _int(img["slice_axis"], f"{where}.slice_axis", 0, 2)
    if img.get("nifti") is not None:
        _check_nifti(img["nifti"], f"{where}.nifti")
    if img["volume"] and len(shape) < 3 or not img["volume"] and (len(shape) > 3 or len(shape) == 3 and shape[2] > 4):
        _fail(f"{where}.shape", "does not fit an image or a volume")
    _check_suffix(img, where)


def _check_suffix(img, where):
    """A raster suffix (.png, .jpg...) only for a photo of a dtype that format holds: the
    image is written back under it."""
    from mlkit.io.raster import DTYPES, EXTENSIONS

    fmt = EXTENSIONS.get(img["suffix"].lower())
    if fmt and (img["volume"] or img["dtype"] not in DTYPES[fmt] + ("bool",)):
        _fail(f"{where}.suffix", f"{img['suffix']} cannot hold this {img['dtype']} {'volume' if img['volume'] else 'image'}")


def _check_nifti(fields, where):
    from mlkit.compress.planes import NIFTI_FLOATS, NIFTI_INTS

    if not isinstance(fields, dict) or set(fields) != set(NIFTI_INTS) | set(NIFTI_FLOATS):
        _fail(where, "is not the NIfTI geometry fields")
    for key in NIFTI_INTS:
        _int(fields[key], f"{where}.{key}", 0, 255)
    for key, n in NIFTI_FLOATS.items():
        if n > 1:
            _floats(fields[key], f"{where}.{key}", n)
        else:
            _float(fields[key], f"{where}.{key}")


def meta_from(img):
    """A checked header entry as the planes.Meta it was written from."""
    known = {field.name for field in dataclasses.fields(Meta)}  # fields a later mlkit adds are left out
    return Meta(**{key: value for key, value in img.items() if key in known} | {"shape": tuple(img["shape"])})
