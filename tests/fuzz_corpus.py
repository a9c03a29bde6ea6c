"""Corrupted inputs for tests/test_fuzz.py, generated deterministically.

A Case is a recipe: the files to write into a case folder and the mlkit command that reads
them. Offsets, bits and bytes come from random.Random seeded with SEED and the family's name,
so the corpus is the same on every machine and every run. A case folder holds

    in/        the inputs
    work/      the command's working folder; its -o folder is work/a/b/

Names that try to escape (`../../evil_<case>`, `../../../../evil_<case>`, an absolute path
into <case>/abs/) name the case, so a stray file says who wrote it.

Reproduce one case by hand (it prints the command to run):

    PYTHONPATH=. python tests/fuzz_corpus.py CASE_ID /tmp/repro
"""

import dataclasses
import functools
import gzip
import io
import json
import os
import pickle
import random
import struct
import subprocess
import sys
import zipfile
import zlib

import nibabel as nib
import numpy as np

SEED = 20269
NIB_DATA = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
IN = "../in"  # the inputs, as the command sees them from work/
OUT = "a/b/"  # the -o folder, relative to work/
LIMIT_ENV = "MLKIT_MAX_IMAGE_BYTES"
NAN, INF = float("nan"), float("inf")

NIFTI_SOURCES = ("anatomical.nii", "functional.nii", "example4d.nii.gz", "example_nifti2.nii.gz", "stream3.nii.gz")
RASTER_SOURCES = (
    "camera.png", "astronaut.png", "camera16.png", "camera.jpg", "astronaut.jpg",
    "camera.tif", "astronaut.tif", "astronaut.bmp", "camera.npy", "astronaut.npy",
)
# Where each source's header ends (in the uncompressed bytes for .nii.gz).
HEADER_BYTES = {".nii": 352, ".png": 33, ".jpg": 160, ".tif": 16, ".bmp": 54, ".npy": 128}
KINDS = ("info", "transform", "stdin", "json")
STDIN_NAMES = ("stdin", "error: -")  # how an error line may name standard input


@dataclasses.dataclass(frozen=True, repr=False)
class Case:
    id: str
    group: str  # the class of malformed input, for the report
    make: object  # make(case_dir, bases) -> {file name in in/: bytes}
    args: tuple  # mlkit's arguments, run in <case>/work
    stdin: str = ""  # a file in in/ fed to stdin
    names: tuple = ()  # an error line must name one of these
    real: bool = False  # its own process: real pipes, memory from os.wait4
    bomb: bool = False  # must be refused fast, in little memory
    limit_message: bool = False  # the refusal must say the size limit
    marker: bool = False  # in/../marker appears only if a pickle ran
    stem: str = ""  # outputs of a file input are named after it
    must_fail: bool = False  # invalid by the issue's own rules (a pickle, a model with NaN...): exit 1
    env: tuple = ()  # (name, value) pairs for the command's environment

    @property
    def command(self):
        """The command's name as its error prefix shows it: 'transform negative'."""
        words = []
        for arg in self.args:
            if arg.startswith("-") or "/" in arg or "." in arg:
                break
            words.append(arg)
        return " ".join(words)

    def __repr__(self):
        return f"<case {self.id}>"

    def shell(self):
        env = "".join(f"{k}={v} " for k, v in self.env)
        redirect = f" < {IN}/{self.stdin}" if self.stdin else ""
        return f"{env}mlkit {' '.join(self.args)}{redirect}"


def _read(kind, name):
    """(args, stdin, names, stem) that make mlkit read in/<name> one of five ways."""
    path = f"{IN}/{name}"
    stem = name.split(".")[0]
    return {
        "info": (("info", path), "", (name,), ""),
        "json": (("info", "--json", path), "", (name,), ""),
        "transform": (("transform", "negative", path, "-o", OUT), "", (name,), stem),
        "stdin": (("transform", "negative", "-", "-o", OUT), name, STDIN_NAMES, ""),
        "stdin-info": (("info", "-"), name, STDIN_NAMES, ""),
    }[kind]


def _case(cid, group, kind, name, data, **extra):
    """A case reading one file `name` whose bytes are data() (or data(case_dir))."""
    args, stdin, names, stem = _read(kind, name)
    takes_dir = getattr(data, "takes_dir", False)

    def make(case_dir, bases):
        return {name: data(case_dir) if takes_dir else data()}

    return Case(cid, group, make, args, stdin, names, stem=stem, **extra)


def _per_dir(fn):
    """Mark a data function that needs the case folder (absolute names, markers)."""
    fn.takes_dir = True
    return fn


def _rng(family):
    return random.Random(f"{SEED}-{family}")


# ---------------------------------------------------------------- sources


@functools.cache
def source(name):
    """The bytes of a clean input: nibabel's test files and rasters made from skimage.data."""
    if name == "stream3.nii.gz":
        return gzip.compress(_stream(3), mtime=0)
    if name == "example_nifti2.nii":
        return gzip.decompress(source("example_nifti2.nii.gz"))
    if name.endswith((".nii", ".nii.gz")):
        return _read_bytes(os.path.join(NIB_DATA, name))
    return _raster(name)


def _raster(name):
    import cv2
    import skimage.data

    stem, ext = name.split(".")
    camera = skimage.data.camera()[::4, ::4]
    pixels = {
        "camera": camera,
        "astronaut": np.ascontiguousarray(skimage.data.astronaut()[::4, ::4, ::-1]),
        "camera16": camera.astype(np.uint16) * 257,
    }[stem]
    if ext == "npy":
        return _npy_bytes(pixels.astype(np.float32) if pixels.ndim == 2 else pixels)
    ok, buf = cv2.imencode("." + ext, pixels)
    assert ok, name
    return buf.tobytes()


def _npy_bytes(array, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def _nifti1(data, extensions=()):
    """A single-file NIfTI-1 image (nibabel's bytes), with (ecode, content) extensions."""
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]))
    for code, content in extensions:
        img.header.extensions.append(nib.nifti1.Nifti1Extension(code, content))
    return img.to_bytes()


def _stream(count):
    """`count` small NIfTI-1 images one after another: an mlkit stream."""
    return b"".join(_nifti1(np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4) + k) for k in range(count))


def _suffix(name):
    return "." + name.split(".")[1]


def _header_end(name):
    if name.startswith("example_nifti2"):
        return 544
    return HEADER_BYTES[_suffix(name)]


def _through_gzip(name, change):
    """Apply change(bytes) to the uncompressed bytes of `name`, gzip'd again if it was."""
    raw = source(name)
    if not name.endswith(".gz"):
        return change(raw)
    return gzip.compress(change(gzip.decompress(raw)), compresslevel=1, mtime=0)


# ---------------------------------------------------------------- truncation and bit flips


def _truncations():
    yield _case("truncate-empty-file", "truncation", "info", "empty.nii", lambda: b"")
    yield _case("truncate-empty-stdin", "truncation", "stdin", "empty.nii", lambda: b"")
    for name in NIFTI_SOURCES + RASTER_SOURCES:
        size = len(source(name))
        rng = _rng(f"truncate-{name}")
        head = 10 if name.endswith(".gz") else _header_end(name)
        offsets = {1, 7, head - 1, head + 3, size - 1, *(rng.randrange(head, size) for _ in range(3))}
        for i, offset in enumerate(sorted(o for o in offsets if 0 < o < size)):
            data = functools.partial(lambda n, o: source(n)[:o], name, offset)
            yield _case(f"truncate-{name}-at{offset}", "truncation", KINDS[i % len(KINDS)], name, data)


def _flip(raw, position, bit):
    out = bytearray(raw)
    out[position] ^= 1 << bit
    return bytes(out)


def _bit_flips():
    for name in NIFTI_SOURCES + RASTER_SOURCES:
        rng = _rng(f"flip-{name}")
        head = _header_end(name)
        for i in range(4):  # in the header: of the NIfTI inside a .nii.gz
            pos, bit = rng.randrange(head), rng.randrange(8)
            data = functools.partial(lambda n, p, b: _through_gzip(n, lambda r: _flip(r, p, b)), name, pos, bit)
            yield _case(f"flip-header-{name}-{pos}.{bit}", "bitflip-header", KINDS[i % len(KINDS)], name, data)
        size = len(source(name))
        start = 10 if name.endswith(".gz") else head  # in a .nii.gz: the deflate stream
        for i in range(3):
            pos, bit = rng.randrange(start, size), rng.randrange(8)
            data = functools.partial(lambda n, p, b: _flip(source(n), p, b), name, pos, bit)
            yield _case(f"flip-data-{name}-{pos}.{bit}", "bitflip-data", KINDS[(i + 1) % len(KINDS)], name, data)


# ---------------------------------------------------------------- NIfTI header fields


def set_fields(raw, changes):
    """NIfTI-1/2 bytes with header fields changed: {field: value} or {(field, index): value}."""
    version = 2 if raw[4:7] == b"n+2" or struct.unpack("<i", raw[:4])[0] == 540 else 1
    size, dtype = (540, nib.nifti2.header_dtype) if version == 2 else (348, nib.nifti1.header_dtype)
    if struct.unpack("<i", raw[:4])[0] != size:
        dtype = dtype.newbyteorder(">")
    hdr = np.frombuffer(raw[:size], dtype).copy()
    for key, value in changes.items():
        field, index = key if isinstance(key, tuple) else (key, None)
        if index is None:
            hdr[field] = value
        else:
            hdr[field][0, index] = value
    return hdr.tobytes() + raw[size:]


NIFTI1_MUTATIONS = [
    ("sizeof_hdr-0", {"sizeof_hdr": 0}), ("sizeof_hdr-349", {"sizeof_hdr": 349}),
    ("sizeof_hdr-540", {"sizeof_hdr": 540}), ("sizeof_hdr-neg", {"sizeof_hdr": -348}),
    ("magic-pair", {"magic": b"ni1\x00"}), ("magic-n+2", {"magic": b"n+2\x00"}),
    ("magic-n+1x", {"magic": b"n+1\x07"}), ("magic-zero", {"magic": b"\x00\x00\x00\x00"}),
    ("dim0-0", {("dim", 0): 0}), ("dim0-neg", {("dim", 0): -1}), ("dim0-8", {("dim", 0): 8}),
    ("dim0-255", {("dim", 0): 255}), ("dim0-1", {("dim", 0): 1}), ("dim0-2", {("dim", 0): 2}),
    ("dim1-0", {("dim", 1): 0}), ("dim1-neg", {("dim", 1): -1}), ("dim1-min", {("dim", 1): -32768}),
    ("dim3-max", {("dim", 3): 32767}), ("dim2-small", {("dim", 2): 2}),
    ("dims-all-max", {"dim": [7] + [32767] * 7}), ("dim0-4-dim4-0", {("dim", 0): 4, ("dim", 4): 0}),
    ("pixdim1-nan", {("pixdim", 1): NAN}), ("pixdim1-inf", {("pixdim", 1): INF}),
    ("pixdim1-neginf", {("pixdim", 1): -INF}), ("pixdim1-0", {("pixdim", 1): 0.0}),
    ("pixdim2-neg", {("pixdim", 2): -2.0}), ("pixdim3-huge", {("pixdim", 3): 3.4e38}),
    ("qfac-nan", {("pixdim", 0): NAN}), ("qfac-5", {("pixdim", 0): 5.0}), ("pixdim4-nan", {("pixdim", 4): NAN}),
    ("datatype-0", {"datatype": 0}), ("datatype-binary", {"datatype": 1, "bitpix": 1}),
    ("datatype-3", {"datatype": 3}), ("datatype-rgb-bitpix16", {"datatype": 128}),
    ("datatype-rgba", {"datatype": 2304, "bitpix": 32}), ("datatype-float128", {"datatype": 1536, "bitpix": 128}),
    ("datatype-complex64", {"datatype": 32, "bitpix": 64}), ("datatype-complex128", {"datatype": 1792, "bitpix": 128}),
    ("datatype-complex256", {"datatype": 2048, "bitpix": 256}), ("datatype-511", {"datatype": 511}),
    ("datatype-neg", {"datatype": -1}), ("datatype-float32-bitpix8", {"datatype": 16, "bitpix": 8}),
    ("bitpix-0", {"bitpix": 0}), ("bitpix-7", {"bitpix": 7}), ("bitpix-neg", {"bitpix": -16}),
    ("vox_offset-1", {"vox_offset": 1}), ("vox_offset-100", {"vox_offset": 100}),
    ("vox_offset-347", {"vox_offset": 347}), ("vox_offset-353", {"vox_offset": 353}),
    ("vox_offset-neg", {"vox_offset": -352}), ("vox_offset-1e10", {"vox_offset": 1e10}),
    ("vox_offset-2e31", {"vox_offset": 2.0**31}), ("vox_offset-nan", {"vox_offset": NAN}),
    ("vox_offset-inf", {"vox_offset": INF}), ("vox_offset-past-end", {"vox_offset": 70000}),
    ("scl_slope-nan", {"scl_slope": NAN}), ("scl_slope-inf", {"scl_slope": INF}),
    ("scl_slope-neginf", {"scl_slope": -INF}), ("scl_slope-0", {"scl_slope": 0.0}),
    ("scl_slope-huge", {"scl_slope": 3e38}), ("scl_slope-denormal", {"scl_slope": 1e-45}),
    ("scl_inter-nan", {"scl_slope": 2.0, "scl_inter": NAN}), ("scl_inter-inf", {"scl_slope": 1.0, "scl_inter": INF}),
    ("srow-nan", {"sform_code": 1, ("srow_x", 0): NAN}), ("srow-inf", {"sform_code": 1, ("srow_y", 3): INF}),
    ("srow-singular", {"sform_code": 1, "srow_x": [0] * 4, "srow_y": [0] * 4, "srow_z": [0] * 4}),
    ("quatern-nan", {"qform_code": 1, "sform_code": 0, "quatern_b": NAN}),
    ("quatern-2", {"qform_code": 1, "sform_code": 0, "quatern_b": 2.0, "quatern_c": 2.0}),
    ("qoffset-inf", {"qform_code": 1, "sform_code": 0, "qoffset_x": INF}),
    ("form-codes-bad", {"qform_code": 255, "sform_code": -1}), ("xyzt_units-255", {"xyzt_units": 255}),
    ("intent_code-9999", {"intent_code": 9999}),
    ("slice-fields-bad", {"slice_code": 255, "slice_start": -1, "slice_end": 32767}),
    ("cal-nan-inf", {"cal_min": NAN, "cal_max": INF}), ("toffset-nan", {"toffset": NAN}),
    ("descrip-binary", {"descrip": b"\xff\xfe\x00\x81evil\x1b[31m"}), ("dim_info-255", {"dim_info": 255}),
]

NIFTI2_MUTATIONS = [
    ("sizeof_hdr-348", {"sizeof_hdr": 348}), ("sizeof_hdr-0", {"sizeof_hdr": 0}),
    ("magic-n+1", {"magic": b"n+1\x00"}), ("magic-zero", {"magic": b"\x00\x00\x00\x00"}),
    ("dim1-2e62", {("dim", 1): 2**62}), ("dim1-neg", {("dim", 1): -1}), ("dim0-8", {("dim", 0): 8}),
    ("dim1-2e31", {("dim", 1): 2**31}), ("dims-overflow", {"dim": [7] + [2**20] * 7}), ("dim0-0", {("dim", 0): 0}),
    ("pixdim1-nan", {("pixdim", 1): NAN}), ("pixdim2-inf", {("pixdim", 2): INF}),
    ("vox_offset-2e62", {"vox_offset": 2**62}), ("vox_offset-neg", {"vox_offset": -1}),
    ("vox_offset-0", {"vox_offset": 0}), ("vox_offset-545", {"vox_offset": 545}),
    ("datatype-0", {"datatype": 0}), ("datatype-float128", {"datatype": 1536, "bitpix": 128}),
    ("datatype-neg", {"datatype": -1}), ("bitpix-0", {"bitpix": 0}),
    ("scl_slope-inf", {"scl_slope": INF}), ("scl_inter-nan", {"scl_slope": 3.0, "scl_inter": NAN}),
    ("srow-nan", {"sform_code": 1, ("srow_z", 2): NAN}),
    ("quatern-nan", {"qform_code": 1, "sform_code": 0, "quatern_c": NAN}),
    ("eol_check-bad", {"eol_check": [0, 0, 0, 0]}),
]


def _with_fields(name, changes):
    return _through_gzip(name, lambda raw: set_fields(raw, changes))


def _header_fields():
    families = (
        (1, NIFTI1_MUTATIONS, ("anatomical.nii", "example4d.nii.gz")),
        (2, NIFTI2_MUTATIONS, ("example_nifti2.nii.gz", "example_nifti2.nii")),
    )
    for version, mutations, targets in families:
        for i, (label, changes) in enumerate(mutations):
            name = targets[i % 2]
            data = functools.partial(_with_fields, name, changes)
            kind = KINDS[(i // 2) % len(KINDS)]
            yield _case(f"nifti{version}-{label}-{name}", f"nifti{version}-fields", kind, name, data)


# ---------------------------------------------------------------- header extensions


def _ext_image():
    meta = json.dumps({"mlkit": {"name": "ext", "history": []}}).encode()
    return _nifti1(np.arange(64, dtype=np.float32).reshape(4, 4, 4), [(6, meta)])


def _patch(raw, offset, fmt, value):
    out = bytearray(raw)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


# (label, function of the bytes of _ext_image(): esize at 352, ecode at 356, flag at 348)
EXTENSION_MUTATIONS = [
    ("esize-0", lambda r: _patch(r, 352, "<i", 0)), ("esize-7", lambda r: _patch(r, 352, "<i", 7)),
    ("esize-8", lambda r: _patch(r, 352, "<i", 8)), ("esize-neg", lambda r: _patch(r, 352, "<i", -16)),
    ("esize-max", lambda r: _patch(r, 352, "<i", 2**31 - 1)), ("esize-17", lambda r: _patch(r, 352, "<i", 17)),
    ("esize-past-data", lambda r: _patch(r, 352, "<i", 4096)),
    ("ecode-neg", lambda r: _patch(r, 356, "<i", -1)), ("ecode-max", lambda r: _patch(r, 356, "<i", 2**31 - 1)),
    ("ecode-dicom", lambda r: _patch(r, 356, "<i", 2)), ("ecode-afni", lambda r: _patch(r, 356, "<i", 4)),
    ("ecode-cifti", lambda r: _patch(r, 356, "<i", 32)),
    ("flag-set-no-ext", lambda r: _without_extension()[:348] + b"\x01\x00\x00\x00" + bytes(256)),
    ("flag-clear", lambda r: r[:348] + b"\x00" + r[349:]),
    ("two-overlapping", lambda r: _patch(_patch(r, 352, "<i", 16), 368, "<i", 2**20)),
    ("vox_offset-inside-ext", lambda r: set_fields(r, {"vox_offset": 360})),
]


def _without_extension():
    return set_fields(_nifti1(np.ones((4, 4, 4), np.float32)), {"vox_offset": 352})


def _extensions():
    for i, (label, change) in enumerate(EXTENSION_MUTATIONS):
        data = functools.partial(lambda c: c(_ext_image()), change)
        yield _case(f"extension-{label}", "nifti1-extension", KINDS[i % len(KINDS)], "ext.nii", data)


# ---------------------------------------------------------------- mlkit metadata (JSON extension, PNG text)


def _fields(**fields):
    """content() for metadata with these fields."""
    return lambda case_dir, case_id: json.dumps(fields)


def _text(text):
    return lambda case_dir, case_id: text


def _escaping(key, template):
    """content() whose `key` escapes the -o folder: template takes the case folder and id."""
    return lambda case_dir, case_id: json.dumps({key: template.format(dir=case_dir, id=case_id)})


DEEP_LIST = "[" * 100000 + "]" * 100000
DEEP_DICT = '{"a":' * 50000 + "1" + "}" * 50000

# (label, group, read kinds, content(case_dir, case_id) -> the JSON text under "mlkit")
META_VARIANTS = [
    ("name-parent", "traversal", ("stdin", "transform", "info"), _escaping("name", "../../evil_{id}")),
    ("name-grandparent", "traversal", ("stdin", "transform"), _escaping("name", "../../../../evil_{id}")),
    ("name-absolute", "traversal", ("stdin", "transform", "info"), _escaping("name", "{dir}/abs/evil_{id}")),
    ("name-subfolder", "traversal", ("stdin",), _escaping("name", "sub/evil_{id}")),
    ("suffix-traversal", "traversal", ("stdin",), _escaping("suffix", "/../../evil_{id}.nii")),
    ("name-dotdot", "traversal", ("stdin",), _fields(name="..")),
    ("name-dot", "traversal", ("stdin",), _fields(name=".")),
    ("name-hidden", "traversal", ("stdin",), _fields(name=".hidden")),
    ("name-backslash", "traversal", ("stdin",), _fields(name="..\\..\\evil")),
    ("name-nul", "traversal", ("stdin",), _fields(name="a\x00b")),
    ("name-control", "traversal", ("stdin",), _fields(name="a\nb\x1b[31m\r")),
    ("name-long", "traversal", ("stdin",), _fields(name="n" * 5000)),
    ("name-empty", "traversal", ("stdin",), _fields(name="")),
    ("name-home", "traversal", ("stdin",), _fields(name="~/evil")),
    ("name-slash-only", "traversal", ("stdin",), _fields(name="/")),
    ("name-int", "mlkit-json", ("stdin", "info"), _fields(name=5)),
    ("name-list", "mlkit-json", ("stdin", "info"), _fields(name=["a", "b"])),
    ("name-dict", "mlkit-json", ("stdin",), _fields(name={"a": 1})),
    ("name-deep", "mlkit-json", ("stdin", "info"), _text('{"name":' + DEEP_LIST + "}")),
    ("history-deep", "mlkit-json", ("info", "stdin"), _text('{"history":' + DEEP_LIST + "}")),
    ("history-deep-dict", "mlkit-json", ("info",), _text('{"history":[' + DEEP_DICT + "]}")),
    ("history-string", "mlkit-json", ("info", "stdin", "transform"), _fields(history="not a list")),
    ("history-int", "mlkit-json", ("info", "stdin"), _fields(history=5)),
    ("history-dict", "mlkit-json", ("info", "stdin"), _fields(history={"command": "x"})),
    ("history-ints", "mlkit-json", ("info", "transform"), _fields(history=[1, 2, 3])),
    ("history-nulls", "mlkit-json", ("info",), _fields(history=[None])),
    ("history-bad-entry", "mlkit-json", ("info", "stdin"), _fields(history=[{"command": 5, "params": "x"}])),
    ("history-inf", "mlkit-json", ("info", "json"), _text('{"history":[{"seed":1e999,"params":{"x":NaN}}]}')),
    ("suffix-exe", "mlkit-json", ("stdin",), _fields(suffix=".exe")),
    ("suffix-int", "mlkit-json", ("stdin",), _fields(suffix=5)),
    ("channels-string", "mlkit-json", ("stdin", "info"), _fields(channels="no")),
    ("channels-list", "mlkit-json", ("info",), _fields(channels=[1])),
]

# Whole extension payloads that are not {"mlkit": {...}}.
RAW_META = [
    ("not-json", b"{not json"),
    ("invalid-utf8", b'{"mlkit":{"name":"\xff\xfe"}}'),
    ("top-list", b'[{"mlkit":{}}]'),
    ("mlkit-string", b'{"mlkit":"x"}'),
    ("mlkit-null", b'{"mlkit":null}'),
    ("duplicate-keys", b'{"mlkit":{"name":"a"},"mlkit":{"name":"b","history":7}}'),
    ("nan-literals", b'{"mlkit":{"name":NaN,"history":Infinity}}'),
    ("binary", bytes(range(256)) * 4),
]


def _meta_nifti(content):
    """A small float image whose mlkit extension holds `content` (bytes as they are)."""
    raw = content if isinstance(content, bytes) else ('{"mlkit":' + content + "}").encode()
    return _nifti1(np.arange(64, dtype=np.float32).reshape(4, 4, 4), [(6, raw)])


def _metadata():
    for label, group, kinds, content in META_VARIANTS:
        for kind in kinds:
            cid = f"meta-{label}-{kind}"
            data = _per_dir(functools.partial(lambda f, c, d: _meta_nifti(f(d, c)), content, cid))
            yield _case(cid, group, kind, "e.nii", data)
    for i, (label, content) in enumerate(RAW_META):
        data = functools.partial(_meta_nifti, content)
        yield _case(f"meta-raw-{label}", "mlkit-json", ("stdin", "stdin-info")[i % 2], "e.nii", data)
    yield from _png_metadata()


def _png_with_chunk(raw, kind, body, length=None):
    """`raw` PNG with a chunk right after IHDR (CRC correct; `length` may lie)."""
    size = struct.pack(">I", len(body) if length is None else length)
    return raw[:33] + size + kind + body + struct.pack(">I", zlib.crc32(kind + body)) + raw[33:]


# (label, group, content(case_dir, case_id) -> the JSON text of the "mlkit" tEXt chunk)
PNG_META = [
    ("name-parent", "traversal", _escaping("name", "../../evil_{id}")),
    ("name-absolute", "traversal", _escaping("name", "{dir}/abs/evil_{id}")),
    ("name-hidden", "traversal", _fields(name=".x")),
    ("history-string", "mlkit-json", _fields(history="x")),
    ("history-deep", "mlkit-json", _text('{"history":' + DEEP_LIST + "}")),
    ("name-list", "mlkit-json", _fields(name=[1])),
    ("not-dict", "mlkit-json", _text("[1,2]")),
    ("invalid-utf8", "mlkit-json", lambda d, c: b'{"name":"\xff"}'),
]


def _png_text(content, case_id, case_dir):
    text = content(case_dir, case_id)
    body = b"mlkit\x00" + (text if isinstance(text, bytes) else text.encode())
    return _png_with_chunk(source("camera.png"), b"tEXt", body)


def _png_metadata():
    for label, group, content in PNG_META:
        for kind in ("stdin", "transform"):
            cid = f"png-meta-{label}-{kind}"
            yield _case(cid, group, kind, "p.png", _per_dir(functools.partial(_png_text, content, cid)))
    huge = functools.partial(_png_with_chunk, source("camera.png"), b"tEXt", b"mlkit\x00{}", 0xFFFFFFF0)
    yield _case("png-meta-chunk-length-huge", "mlkit-json", "stdin", "p.png", huge)
    yield from _jpeg_tiff_metadata()


def _jpeg_with_comment(body, length=None):
    """camera.jpg with a COM segment right after SOI (`length` may lie)."""
    raw = source("camera.jpg")
    size = struct.pack(">H", (len(body) + 2 if length is None else length) & 0xFFFF)
    return raw[:2] + b"\xff\xfe" + size + body + raw[2:]


def _tiff_with_description(text, count=None, offset=None):
    """camera.tif whose first IFD also holds an ImageDescription (its count or offset may lie)."""
    from mlkit.io import raster

    raw = bytearray(raster._with_tiff_description(source("camera.tif"), text))
    ifd = struct.unpack("<I", raw[4:8])[0]
    for k in range(struct.unpack("<H", raw[ifd : ifd + 2])[0]):
        at = ifd + 2 + 12 * k
        if struct.unpack("<H", raw[at : at + 2])[0] == 270:
            raw[at + 4 : at + 8] = struct.pack("<I", count) if count is not None else raw[at + 4 : at + 8]
            raw[at + 8 : at + 12] = struct.pack("<I", offset) if offset is not None else raw[at + 8 : at + 12]
    return bytes(raw)


# (label, bytes()) of JPEG COM segments and TIFF ImageDescriptions holding mlkit's metadata, bad
JPEG_TIFF_META = [
    ("jpeg-history-string", "j.jpg", lambda: _jpeg_with_comment(b'mlkit:{"history":"x"}')),
    ("jpeg-history-deep", "j.jpg", lambda: _jpeg_with_comment(b'mlkit:{"history":' + b"[" * 60000 + b"}")),
    ("jpeg-name-parent", "j.jpg", lambda: _jpeg_with_comment(b'mlkit:{"name":"../../evil","history":[]}')),
    ("jpeg-invalid-utf8", "j.jpg", lambda: _jpeg_with_comment(b'mlkit:{"name":"\xff"}')),
    ("jpeg-com-length-huge", "j.jpg", lambda: _jpeg_with_comment(b'mlkit:{"history":[]}', 0xFFFF)),
    ("jpeg-com-length-0", "j.jpg", lambda: _jpeg_with_comment(b'mlkit:{"history":[]}', 0)),
    ("tiff-history-number", "t.tif", lambda: _tiff_with_description(b'mlkit:{"history":5}')),
    ("tiff-description-past-end", "t.tif", lambda: _tiff_with_description(b'mlkit:{"history":[]}', offset=2**31)),
    ("tiff-description-count-huge", "t.tif", lambda: _tiff_with_description(b'mlkit:{"history":[]}', count=2**32 - 1)),
    ("tiff-description-not-ascii", "t.tif", lambda: _tiff_with_description(b'mlkit:{"name":"\xff\xfe"}')),
]


def _jpeg_tiff_metadata():
    for i, (label, name, data) in enumerate(JPEG_TIFF_META):
        yield _case(f"meta-{label}", "mlkit-json", ("stdin", "transform")[i % 2], name, data)


# ---------------------------------------------------------------- gzip


def _gzip_header_flags(raw, flags):
    return raw[:3] + bytes([raw[3] | flags]) + raw[4:]


GZIP_MUTATIONS = [
    ("crc", lambda r: _flip(r, len(r) - 8, 0)), ("isize", lambda r: _flip(r, len(r) - 4, 1)),
    ("trailer-zero", lambda r: r[:-8] + bytes(8)), ("trailer-cut-4", lambda r: r[:-4]),
    ("trailer-cut-8", lambda r: r[:-8]), ("trailer-cut-1", lambda r: r[:-1]),
    ("member-cut-half", lambda r: r[: len(r) // 2]), ("member-cut-90", lambda r: r[: len(r) * 9 // 10]),
    ("garbage-junk", lambda r: r + b"junk"), ("garbage-random", lambda r: r + random.Random(SEED).randbytes(100)),
    ("garbage-magic", lambda r: r + b"\x1f\x8b"), ("garbage-header", lambda r: r + b"\x1f\x8b\x08\x00" + bytes(20)),
    ("garbage-member", lambda r: r + gzip.compress(random.Random(SEED).randbytes(200), mtime=0)),
    ("garbage-zeros", lambda r: r + bytes(1000)), ("second-member-cut", lambda r: r + r[: len(r) // 2]),
    ("method-9", lambda r: r[:2] + b"\x09" + r[3:]), ("flags-reserved", lambda r: _gzip_header_flags(r, 0xE0)),
    ("flags-fextra", lambda r: _gzip_header_flags(r, 0x04)), ("flags-fname", lambda r: _gzip_header_flags(r, 0x08)),
    ("flags-fhcrc", lambda r: _gzip_header_flags(r, 0x02)),
    ("deflate-block-type-3", lambda r: r[:10] + bytes([r[10] | 0x06]) + r[11:]),
]


def _gzip_cases():
    for name in ("example4d.nii.gz", "example_nifti2.nii.gz", "stream3.nii.gz"):
        for i, (label, change) in enumerate(GZIP_MUTATIONS):
            data = functools.partial(lambda n, c: c(source(n)), name, change)
            yield _case(f"gzip-{label}-{name}", "gzip", KINDS[i % len(KINDS)], name, data)


# ---------------------------------------------------------------- .npy headers and pickles


def _npy(header, version=(1, 0), length=None, data=bytes(64 * 64 * 4)):
    """.npy bytes with this header text; `length` overrides the header length field."""
    text = header.encode("latin1")
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    size_fmt = "<H" if version[0] == 1 else "<I"
    size = struct.pack(size_fmt, len(text) if length is None else length)
    return b"\x93NUMPY" + bytes(version) + size + text + data


def _npy_dict(descr="'<f4'", fortran="False", shape="(64, 64)"):
    return "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


NPY_MUTATIONS = [
    ("unterminated-dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (64, 64), "),
    ("unterminated-tuple", "{'descr': '<f4', 'fortran_order': False, 'shape': (64, 64"),
    ("unterminated-string", "{'descr': '<f4, 'fortran_order': False, 'shape': (64, 64), }"),
    ("descr-bogus", _npy_dict("'<q99'")), ("descr-object", _npy_dict("'|O'")), ("descr-void0", _npy_dict("'|V0'")),
    ("descr-unicode", _npy_dict("'<U4'")), ("descr-bytes", _npy_dict("'S4'")), ("descr-int", _npy_dict("5")),
    ("descr-struct-object", _npy_dict("[('a', '<f4'), ('b', '|O')]")), ("descr-timedelta", _npy_dict("'<m8[s]'")),
    ("descr-datetime", _npy_dict("'<M8[D]'")), ("descr-complex", _npy_dict("'<c8'", shape="(32, 64)")),
    ("descr-float16", _npy_dict("'<f2'", shape="(64, 128)")), ("descr-bigendian", _npy_dict("'>f4'")),
    ("descr-bool", _npy_dict("'|b1'", shape="(64, 256)")),
    ("shape-neg", _npy_dict(shape="(-1, 64)")), ("shape-huge", _npy_dict(shape="(1099511627776, 1099511627776)")),
    ("shape-overflow", _npy_dict(shape="(4611686018427387904, 4)")), ("shape-1d", _npy_dict(shape="(4096,)")),
    ("shape-0d", _npy_dict(shape="()")), ("shape-float", _npy_dict(shape="(64, 64.5)")),
    ("shape-int", _npy_dict(shape="4096")), ("shape-empty", _npy_dict(shape="(0, 64)")),
    ("shape-many-dims", _npy_dict(shape="(4, 4, 4, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)")),
    ("shape-string", _npy_dict(shape="'64,64'")), ("fortran-string", _npy_dict(fortran="'yes'")),
    ("fortran-none", _npy_dict(fortran="None")), ("missing-shape", "{'descr': '<f4', 'fortran_order': False}"),
    ("extra-key", "{'descr': '<f4', 'fortran_order': False, 'shape': (64, 64), 'evil': 1}"),
    ("not-dict", "[1, 2, 3]"), ("code", "__import__('os').system('touch npy-code-ran')"),
    ("deep-tuple", _npy_dict(shape="(" * 1000 + ")" * 1000)), ("binary-header", "\x00\xff\x01{}"),
]


def _npy_cases():
    for i, (label, header) in enumerate(NPY_MUTATIONS):
        data = functools.partial(_npy, header)
        yield _case(f"npy-header-{label}", "npy-header", KINDS[i % len(KINDS)], "a.npy", data)

    def good(*args, **kwargs):
        return functools.partial(_npy, _npy_dict(), *args, **kwargs)

    raw = [
        ("length-beyond-file", good(length=65535)), ("length-zero", good(length=0)), ("length-odd", good(length=77)),
        ("version-3", good((3, 0))), ("version-9", good((9, 9))), ("version-2-length-huge", good((2, 0), 2**31)),
        ("data-short", good(data=bytes(100))), ("magic-only", lambda: b"\x93NUMPY"),
    ]
    for i, (label, data) in enumerate(raw):
        yield _case(f"npy-{label}", "npy-header", KINDS[i % len(KINDS)], "a.npy", data)


class _Payload:
    """Unpickling this creates the file at `path`: proof that a pickle ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _marker(case_dir):
    return os.path.join(case_dir, "marker")


def _pickle_npy(case_dir):
    array = np.empty((2, 2), dtype=object)
    array.flat[0] = _Payload(_marker(case_dir))
    return _npy_bytes(array, allow_pickle=True)


def _pickle_struct(case_dir):
    array = np.zeros((4, 4), dtype=[("a", "<f4"), ("b", "O")])
    array["b"][0, 0] = _Payload(_marker(case_dir))
    return _npy_bytes(array, allow_pickle=True)


def _pickle_cases():
    npy = _per_dir(_pickle_npy)
    gz = _per_dir(lambda d: gzip.compress(_pickle_npy(d), mtime=0))
    plain = _per_dir(lambda d: pickle.dumps(_Payload(_marker(d))))
    refused = {"marker": True, "must_fail": True}
    yield _case("pickle-npy-info", "pickle", "info", "p.npy", npy, **refused)
    yield _case("pickle-npy-transform", "pickle", "transform", "p.npy", npy, **refused)
    yield _case("pickle-npy-stdin", "pickle", "stdin", "p.npy", npy, **refused)
    yield _case("pickle-npy-gzip", "pickle", "info", "p.npy", gz, **refused)
    yield _case("pickle-npy-struct", "pickle", "info", "p.npy", _per_dir(_pickle_struct), **refused)
    yield _case("pickle-raw-as-npy", "pickle", "info", "p.npy", plain, **refused)
    yield _case("pickle-raw-stdin", "pickle", "stdin", "p.npy", plain, **refused)
    for label, change in (("labels", _pickled_labels), ("all-fields", _pickled_everything), ("raw-pickle", None)):
        make = _model_make(change, pickled=True) if change else _raw_model(plain)
        yield _model_case(f"pickle-eigenfaces-{label}", "pickle", make, **refused)


# ---------------------------------------------------------------- raster headers


def _png_chunk_patch(raw, offset, fmt, value):
    """Patch IHDR (which starts at byte 16) and fix its CRC."""
    out = bytearray(_patch(raw, offset, fmt, value))
    struct.pack_into(">I", out, 29, zlib.crc32(bytes(out[12:29])))
    return bytes(out)


def _idat_crc(raw):
    """Where the first IDAT chunk's CRC is."""
    start = raw.index(b"IDAT")
    return start + 4 + struct.unpack(">I", raw[start - 4 : start])[0]


def _jpeg_sof(raw):
    return raw.index(b"\xff\xc0")


RASTER_MUTATIONS = [
    ("png-width-0", "camera.png", lambda r: _png_chunk_patch(r, 16, ">I", 0)),
    ("png-height-0", "camera.png", lambda r: _png_chunk_patch(r, 20, ">I", 0)),
    ("png-width-2e31", "camera.png", lambda r: _png_chunk_patch(r, 16, ">I", 2**31 - 1)),
    ("png-depth-3", "camera.png", lambda r: _png_chunk_patch(r, 24, ">B", 3)),
    ("png-palette-16bit", "camera.png", lambda r: _png_chunk_patch(_png_chunk_patch(r, 25, ">B", 3), 24, ">B", 16)),
    ("png-colortype-7", "astronaut.png", lambda r: _png_chunk_patch(r, 25, ">B", 7)),
    ("png-compression-1", "camera.png", lambda r: _png_chunk_patch(r, 26, ">B", 1)),
    ("png-interlace-5", "camera.png", lambda r: _png_chunk_patch(r, 28, ">B", 5)),
    ("png-ihdr-crc", "camera.png", lambda r: _flip(r, 30, 3)),
    ("png-no-iend", "camera.png", lambda r: r[:-12]), ("png-signature-only", "camera.png", lambda r: r[:8]),
    ("png-idat-crc", "camera16.png", lambda r: _flip(r, _idat_crc(r), 0)),
    ("jpeg-height-0", "camera.jpg", lambda r: _patch(r, _jpeg_sof(r) + 5, ">H", 0)),
    ("jpeg-width-0", "astronaut.jpg", lambda r: _patch(r, _jpeg_sof(r) + 7, ">H", 0)),
    ("jpeg-components-0", "astronaut.jpg", lambda r: _patch(r, _jpeg_sof(r) + 9, ">B", 0)),
    ("jpeg-components-5", "camera.jpg", lambda r: _patch(r, _jpeg_sof(r) + 9, ">B", 5)),
    ("jpeg-precision-12", "camera.jpg", lambda r: _patch(r, _jpeg_sof(r) + 4, ">B", 12)),
    ("jpeg-no-eoi", "camera.jpg", lambda r: r[:-2]),
    ("jpeg-sof-length-0", "camera.jpg", lambda r: _patch(r, _jpeg_sof(r) + 2, ">H", 0)),
    ("tiff-ifd-beyond", "camera.tif", lambda r: _patch(r, 4, "<I", 0xFFFFFFF0)),
    ("tiff-ifd-0", "camera.tif", lambda r: _patch(r, 4, "<I", 0)),
    ("tiff-ifd-loop", "astronaut.tif", lambda r: _patch(r, 4, "<I", 4)),
    ("tiff-bigendian-flag", "camera.tif", lambda r: b"MM" + r[2:]),
    ("bmp-width-neg", "astronaut.bmp", lambda r: _patch(r, 18, "<i", -1)),
    ("bmp-height-0", "astronaut.bmp", lambda r: _patch(r, 22, "<i", 0)),
    ("bmp-bpp-7", "astronaut.bmp", lambda r: _patch(r, 28, "<H", 7)),
    ("bmp-bpp-0", "astronaut.bmp", lambda r: _patch(r, 28, "<H", 0)),
    ("bmp-compression-9", "astronaut.bmp", lambda r: _patch(r, 30, "<I", 9)),
    ("bmp-offset-beyond", "astronaut.bmp", lambda r: _patch(r, 10, "<I", 2**31)),
    ("bmp-dib-size-0", "astronaut.bmp", lambda r: _patch(r, 14, "<I", 0)),
    ("bmp-colors-huge", "astronaut.bmp", lambda r: _patch(r, 46, "<I", 2**31)),
]


def _raster_cases():
    for i, (label, name, change) in enumerate(RASTER_MUTATIONS):
        data = functools.partial(lambda n, c: c(source(n)), name, change)
        yield _case(f"raster-{label}", "raster-fields", KINDS[i % len(KINDS)], name, data)


# ---------------------------------------------------------------- bombs


def _deflate_zeros(total, wbits):
    """A deflate stream (zlib: wbits 15, raw: -15) of `total` zero bytes, built from one
    compressed block repeated: after a full flush zlib starts afresh, so blocks repeat."""
    chunk = 1 << 20
    count, rest = divmod(total, chunk)
    comp = zlib.compressobj(9, zlib.DEFLATED, wbits)
    first = comp.compress(bytes(chunk)) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(bytes(chunk)) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.compress(bytes(rest)) + comp.flush()
    if wbits > 0:  # the trailer is adler32, which for n zeros is (n mod 65521) << 16 | 1
        tail = tail[:-4] + struct.pack(">I", (total % 65521) << 16 | 1)
    return first + block * (count - 1) + tail


@functools.cache
def _gzip_zeros_member():
    return gzip.compress(bytes(16 << 20), compresslevel=9, mtime=0)


def _gzip_bomb(head):
    """gzip members: `head`, then 4 GiB of zeros in 16 MiB members (about 4 MB in all)."""
    return gzip.compress(head, mtime=0) + _gzip_zeros_member() * 256


def _png_bomb(width, height):
    """A valid 16-bit gray PNG of zeros, width x height."""
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    idat = _deflate_zeros((1 + 2 * width) * height, 15)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _bmp_bomb():
    header = b"BM" + struct.pack("<IHHI", 54 + 1024, 0, 0, 54)
    dib = struct.pack("<IiiHHIIiiII", 40, 30000, 30000, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return header + dib + bytes(1024)


def _jpeg_bomb():
    raw = source("astronaut.jpg")
    sof = _jpeg_sof(raw)
    return _patch(_patch(raw, sof + 5, ">H", 30000), sof + 7, ">H", 30000)


def _anatomical_declaring(shape):
    return set_fields(source("anatomical.nii"), {"dim": [len(shape), *shape] + [1] * (7 - len(shape))})


def _npy_header(shape):
    return _npy(_npy_dict(shape=str(tuple(shape))), data=b"")


def _gzip_nifti_bomb():
    """A NIfTI header declaring 4 GiB of int16, then the 4 GiB: 4 MB of gzip."""
    return _gzip_bomb(_anatomical_declaring((2048, 2048, 512))[:352])


def _gzip_npy_bomb():
    return _gzip_bomb(_npy_header((32768, 32768)))


def _npy_declaring_4gib():
    return _npy_header((32768, 32768)) + bytes(1024)


def _bomb_cases():
    """Each runs in its own process, its peak memory and time measured."""
    big = functools.partial(_anatomical_declaring, (2048, 2048, 768))  # the issue's 68 KB file
    short = functools.partial(_anatomical_declaring, (1024, 1024, 400))  # 800 MiB: under the limit, truncated
    trailing = functools.partial(_gzip_bomb, source("anatomical.nii"))
    png = functools.partial(_png_bomb, 30000, 30000)
    bomb = {"real": True, "bomb": True}
    limited = {**bomb, "limit_message": True}
    yield _case("bomb-nifti-68KB-declares-6GiB", "bomb", "info", "big.nii", big, **bomb)
    yield _case("bomb-nifti-68KB-declares-6GiB-stdin", "bomb", "stdin", "big.nii", big, **limited)
    yield _case("bomb-nifti-68KB-declares-800MiB", "bomb", "info", "big.nii", short, **bomb)
    yield _case("bomb-nifti-68KB-declares-800MiB-stdin", "bomb", "stdin", "big.nii", short, **bomb)
    yield _case("bomb-gzip-nifti-4GiB", "bomb", "info", "big.nii.gz", _gzip_nifti_bomb, **limited)
    yield _case("bomb-gzip-nifti-4GiB-stdin", "bomb", "stdin", "big.nii.gz", _gzip_nifti_bomb, **limited)
    yield _case("bomb-gzip-trailing-4GiB", "bomb", "info", "big.nii.gz", trailing, **bomb)
    yield _case("bomb-gzip-npy-4GiB", "bomb", "info", "big.npy", _gzip_npy_bomb, **limited)
    yield _case("bomb-npy-declares-4GiB", "bomb", "info", "big.npy", _npy_declaring_4gib, **bomb)
    yield _case("bomb-png-30000x30000", "bomb", "info", "big.png", png, **limited)
    yield _case("bomb-png-30000x30000-stdin", "bomb", "stdin", "big.png", png, **limited)
    yield _case("bomb-jpeg-30000x30000-rgb", "bomb", "info", "big.jpg", _jpeg_bomb, **bomb)
    yield _case("bomb-bmp-30000x30000", "bomb", "transform", "big.bmp", _bmp_bomb, **bomb)
    example = functools.partial(source, "example4d.nii.gz")  # 1.1 MiB of voxels, over a 1M limit
    small_limit = ((LIMIT_ENV, "1M"),)
    yield _case("bomb-limit-1M-example4d", "bomb", "info", "example4d.nii.gz", example, env=small_limit, **limited)
    yield _model_case("bomb-eigenfaces-model-1.25GiB-array", "bomb", _model_bomb, **limited)


# ---------------------------------------------------------------- models (built with the CLI, then corrupted)


def build_bases(folder):
    """Valid inputs made with mlkit itself: an eigenfaces model, regress models, a probe, a CSV."""
    import cv2
    import skimage.data

    os.makedirs(folder, exist_ok=True)
    faces = (skimage.data.lfw_subset() * 255).astype(np.uint8)
    for i in range(8):
        person = os.path.join(folder, "people", "ann" if i < 4 else "bob")
        os.makedirs(person, exist_ok=True)
        cv2.imwrite(os.path.join(person, f"f{i}.png"), faces[i])
    cv2.imwrite(os.path.join(folder, "probe.png"), faces[8])
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(40, 2))
    y = 1 + 2 * X[:, 0] - 3 * X[:, 1] + rng.normal(scale=0.1, size=40)
    _write_csv(os.path.join(folder, "data.csv"), ["x1", "x2", "y"], np.column_stack([X, y]))
    _write_csv(os.path.join(folder, "new.csv"), ["x1", "x2"], X[:5])
    _mlkit(folder, "eigenfaces", "train", "people/", "-o", "model.npz")
    _mlkit(folder, "regress", "data.csv", "--save", "model.json")
    with open(os.path.join(folder, "model.json")) as f:
        linear = json.load(f)
    with open(os.path.join(folder, "mlp.json"), "w") as f:
        json.dump(_mlp_model(linear), f)
    names = ("model.npz", "model.json", "mlp.json", "probe.png", "new.csv")
    return {n: _read_bytes(os.path.join(folder, n)) for n in names}


def _read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n" + "".join(",".join(f"{v:.5f}" for v in row) + "\n" for row in rows))


def _mlkit(cwd, *args):
    proc = subprocess.run([sys.executable, "-m", "mlkit", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"mlkit {' '.join(args)} failed: {proc.stderr}")


def _mlp_model(linear):
    """A small network in the saved-model format (what --method mlp saves), written by hand:
    training one needs TensorFlow, predicting with it does not."""
    network = {
        "x_mean": [0.0, 0.0], "x_std": [1.0, 1.0], "y_mean": 1.0, "y_std": 2.0,
        "layers": [
            {"W": [[0.5, -0.25, 0.1], [0.3, 0.2, -0.4]], "b": [0.0, 0.1, -0.1], "activation": "relu"},
            {"W": [[1.0], [-1.0], [0.5]], "b": [0.2], "activation": None},
        ],
    }
    return {**linear, "method": "mlp", "coef": [], "intercept": 0.0, "network": network}


def _npz_bytes(fields):
    buf = io.BytesIO()
    np.savez(buf, **fields)
    return buf.getvalue()


def _model_fields(bases):
    with np.load(io.BytesIO(bases["model.npz"]), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _model_case(cid, group, make, **extra):
    args = ("eigenfaces", "recognize", f"{IN}/model.npz", f"{IN}/probe.png")
    return Case(cid, group, make, args, names=("model.npz",), **extra)


def _model_make(change, pickled=False):
    """make() for a model whose fields dict is changed by change(fields[, case_dir])."""

    def make(case_dir, bases):
        fields = _model_fields(bases)
        if pickled:
            change(fields, case_dir)
        else:
            change(fields)
        return {"model.npz": _npz_bytes(fields), "probe.png": bases["probe.png"]}

    return make


def _raw_model(data):
    """make() for a model file whose bytes are data(bases) (or data(case_dir) for pickles)."""

    def make(case_dir, bases):
        raw = data(case_dir) if getattr(data, "takes_dir", False) else data(bases)
        return {"model.npz": raw, "probe.png": bases["probe.png"]}

    return make


def _pickled_labels(fields, case_dir):
    labels = np.empty(len(fields["labels"]), dtype=object)
    labels[:] = [_Payload(_marker(case_dir))] * len(labels)
    fields["labels"] = labels


def _pickled_everything(fields, case_dir):
    for key in fields:
        fields[key] = np.array([_Payload(_marker(case_dir))], dtype=object)


def _drop(key):
    return lambda f: f.pop(key)


def _set(key, value):
    def change(fields):
        fields[key] = value(fields[key]) if callable(value) else np.asarray(value)

    return change


def _nan_at(a):
    a = a.astype(np.float64)
    a.flat[0] = NAN
    return a


MODEL_FIELDS = (
    "mean", "eigenfaces", "eigenvalues", "weights", "labels", "size", "normalize", "detect_k", "face_threshold",
    "class_threshold",
)
MODEL_MUTATIONS = [(f"drop-{k}", _drop(k)) for k in MODEL_FIELDS] + [
    ("mean-nan", _set("mean", _nan_at)), ("mean-inf", _set("mean", lambda a: a * INF)),
    ("mean-short", _set("mean", lambda a: a[:-1])), ("mean-2d", _set("mean", lambda a: a.reshape(25, 25))),
    ("mean-string", _set("mean", lambda a: a.astype(str))), ("eigenfaces-nan", _set("eigenfaces", _nan_at)),
    ("eigenfaces-transposed", _set("eigenfaces", lambda a: a.T)), ("eigenfaces-1d", _set("eigenfaces", lambda a: a[0])),
    ("eigenfaces-empty", _set("eigenfaces", lambda a: a[:0])), ("eigenfaces-3d", _set("eigenfaces", lambda a: a[None])),
    ("eigenvalues-nan", _set("eigenvalues", _nan_at)), ("eigenvalues-negative", _set("eigenvalues", lambda a: -a)),
    ("eigenvalues-empty", _set("eigenvalues", lambda a: a[:0])), ("weights-nan", _set("weights", _nan_at)),
    ("weights-wrong-shape", _set("weights", lambda a: a[:, :-1])),
    ("weights-complex", _set("weights", lambda a: a * 1j)),
    ("labels-int", _set("labels", lambda a: np.arange(len(a)))), ("labels-empty", _set("labels", lambda a: a[:0])),
    ("labels-short", _set("labels", lambda a: a[:-1])), ("labels-2d", _set("labels", lambda a: a.reshape(2, -1))),
    ("labels-bytes", _set("labels", lambda a: a.astype("S3"))), ("size-zero", _set("size", [0, 0])),
    ("size-neg", _set("size", [-25, -25])), ("size-huge", _set("size", [10**9, 10**9])),
    ("size-overflow", _set("size", [2**32, 2**32])),
    ("size-one", _set("size", [25])),
    ("size-three", _set("size", [5, 5, 25])),
    ("size-float", _set("size", [25.5, 24.5])),
    ("size-string", _set("size", "25x25")),
    ("size-nan", _set("size", [NAN, 25.0])),
    ("normalize-string", _set("normalize", "yes")), ("normalize-array", _set("normalize", [True, False])),
    ("detect_k-0", _set("detect_k", 0)),
    ("detect_k-neg", _set("detect_k", -1)),
    ("detect_k-huge", _set("detect_k", 10**9)),
    ("detect_k-nan", _set("detect_k", NAN)),
    ("detect_k-string", _set("detect_k", "a")),
    ("detect_k-array", _set("detect_k", [1, 2])),
    ("face_threshold-nan", _set("face_threshold", NAN)), ("face_threshold-inf", _set("face_threshold", INF)),
    ("face_threshold-neg", _set("face_threshold", -1.0)), ("face_threshold-string", _set("face_threshold", "x")),
    ("face_threshold-array", _set("face_threshold", [1.0, 2.0])), ("class_threshold-nan", _set("class_threshold", NAN)),
    ("class_threshold-inf", _set("class_threshold", INF)), ("class_threshold-neg", _set("class_threshold", -1.0)),
]


# Odd but usable: every other mutation breaks a rule the issue states (finite values,
# expected shapes and types, no missing field), so the model must be refused.
MODEL_LENIENT = {
    "labels-int", "labels-bytes", "normalize-string", "mean-string", "weights-complex", "eigenvalues-negative",
    "face_threshold-neg", "class_threshold-neg",
    "face_threshold-inf", "class_threshold-inf",  # +inf is "no limit": what train writes for fewer than 10 faces
}


def _model_member_header(bases):
    """The model with its mean.npy member given a corrupt .npy header."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bases["model.npz"])) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            dst.writestr(item, _npy(NPY_MUTATIONS[0][1]) if item.filename == "mean.npy" else body)
    return out.getvalue()


def _model_traversal_member(bases):
    import zipfile

    out = io.BytesIO(bases["model.npz"])
    with zipfile.ZipFile(out, "a") as dst:
        dst.writestr("../../evil.npy", _npy_bytes(np.zeros(3)))
    return out.getvalue()


def _model_cut(percent, bases):
    model = bases["model.npz"]
    return model[: len(model) * percent // 100]


def _model_flip(where, bit, bases):
    model = bases["model.npz"]
    return _flip(model, int(where * len(model)), bit)


def _model_file_cases():
    rng = _rng("model-bytes")
    raw = [
        ("empty", lambda b: b""),
        ("not-zip", lambda b: source("camera.png")),
        ("npy-not-npz", lambda b: source("camera.npy")),
        ("member-header", _model_member_header), ("member-traversal", _model_traversal_member),
    ]
    for pct in (5, 30, 60, 95):
        raw.append((f"truncate-{pct}pct", functools.partial(_model_cut, pct)))
    for _ in range(4):
        where, bit = rng.random(), rng.randrange(8)
        raw.append((f"flip-{where:.3f}.{bit}", functools.partial(_model_flip, where, bit)))
    for label, data in raw:
        must_fail = not label.startswith(("flip-", "member-traversal"))  # a flip may hit a harmless zip field
        yield _model_case(f"eigenfaces-model-{label}", "eigenfaces-model", _raw_model(data), must_fail=must_fail)


def _model_cases():
    for label, change in MODEL_MUTATIONS:
        make = _model_make(change)
        yield _model_case(f"eigenfaces-model-{label}", "eigenfaces-model", make, must_fail=label not in MODEL_LENIENT)
    yield from _model_file_cases()


def _model_bomb(case_dir, bases):
    """The model with a 1.25 GiB eigenfaces array (about 1.3 MB of deflate): a zip by hand,
    since zipfile would take seconds to compress the zeros."""
    fields = _model_fields(bases)
    members = [(f"{k}.npy", _npy_bytes(v)) for k, v in fields.items() if k != "eigenfaces"]
    shape = (10, 1 << 24)
    head = _npy(_npy_dict("'<f8'", shape=str(shape)), data=b"")
    size = len(head) + 8 * shape[0] * shape[1]
    crc = zlib.crc32(head)
    zeros = bytes(1 << 24)
    for _ in range((size - len(head)) // len(zeros)):  # exact: 80 blocks of 16 MiB
        crc = zlib.crc32(zeros, crc)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH) + _deflate_zeros(size - len(head), -15)
    entries = [(n, zlib.compress(r, 9)[2:-4], zlib.crc32(r), len(r)) for n, r in members]
    entries.append(("eigenfaces.npy", body, crc, size))
    return {"model.npz": _zip(entries), "probe.png": bases["probe.png"]}


def _zip(entries):
    """A zip archive of already-deflated members: (name, deflate bytes, crc32, size)."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, body, crc, size in entries:
        offset = out.tell()
        fixed = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0x21, crc, len(body), size)
        out.write(b"PK\x03\x04" + fixed + struct.pack("<HH", len(name), 0) + name.encode() + body)
        tail = struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, offset)
        central.write(b"PK\x01\x02" + struct.pack("<H", 20) + fixed + tail + name.encode())
    start, table = out.tell(), central.getvalue()
    out.write(table + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(entries), len(entries), len(table), start, 0))
    return out.getvalue()


def _regress_case(cid, group, make, must_fail=False):
    args = ("regress", f"{IN}/model.json", "--predict", f"{IN}/new.csv")
    return Case(cid, group, make, args, names=("model.json",), must_fail=must_fail)


def _regress_make(base, change):
    def make(case_dir, bases):
        payload = json.loads(bases[base])
        text = change(payload)
        raw = text if isinstance(text, bytes) else json.dumps(payload).encode()
        return {"model.json": raw, "new.csv": bases["new.csv"]}

    return make


def _put(path, value):
    """change() that sets payload[path[0]][path[1]]... = value (or deletes it: value is _DELETE)."""

    def change(payload):
        node = payload
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return change


_DELETE = object()


def _intercept_overflows(payload):
    """The model with an intercept of 1e999, which JSON parsers read as inf."""
    return json.dumps(payload).replace('"intercept": ', '"intercept": 1e999, "x": ').encode()

REGRESS_KEYS = ("format", "method", "x_cols", "coef", "intercept", "y_col")
REGRESS_MUTATIONS = [(f"drop-{k}", "model.json", _put([k], _DELETE)) for k in REGRESS_KEYS] + [
    ("coef-string", "model.json", _put(["coef"], "abc")), ("coef-strings", "model.json", _put(["coef"], ["a", "b"])),
    ("coef-nulls", "model.json", _put(["coef"], [None, None])), ("coef-dict", "model.json", _put(["coef"], {"x1": 1})),
    ("coef-nested", "model.json", _put(["coef"], [[1.0], [2.0]])),
    ("coef-nan", "model.json", _put(["coef"], [NAN, 1.0])),
    ("coef-inf", "model.json", _put(["coef"], [INF, 1.0])), ("coef-short", "model.json", _put(["coef"], [1.0])),
    ("coef-bool", "model.json", _put(["coef"], [True, False])),
    ("intercept-string", "model.json", _put(["intercept"], "x")),
    ("intercept-null", "model.json", _put(["intercept"], None)),
    ("intercept-list", "model.json", _put(["intercept"], [1.0])),
    ("intercept-nan", "model.json", _put(["intercept"], NAN)),
    ("intercept-dict", "model.json", _put(["intercept"], {})),
    ("x_cols-string", "model.json", _put(["x_cols"], "x1")), ("x_cols-ints", "model.json", _put(["x_cols"], [1, 2])),
    ("x_cols-empty", "model.json", lambda p: p.update(x_cols=[], coef=[])),
    ("x_cols-unknown", "model.json", _put(["x_cols"], ["x1", "zz"])),
    ("x_cols-duplicate", "model.json", _put(["x_cols"], ["x1", "x1"])),
    ("method-unknown", "model.json", _put(["method"], "evil")), ("method-int", "model.json", _put(["method"], 5)),
    ("format-wrong", "model.json", _put(["format"], "mlkit-regress-99")),
    ("format-list", "model.json", _put(["format"], ["mlkit-regress-1"])),
    ("y_col-list", "model.json", _put(["y_col"], ["y"])),
    ("top-list", "model.json", lambda p: b'[{"format": "mlkit-regress-1"}]'),
    ("top-string", "model.json", lambda p: b'"mlkit-regress-1"'),
    ("empty", "model.json", lambda p: b""), ("not-json", "model.json", lambda p: b"{format: mlkit"),
    ("invalid-utf8", "model.json", lambda p: b'{"format": "mlkit-regress-1", "method": "\xff\xfe"}'),
    ("deep", "model.json", lambda p: ('{"format":"mlkit-regress-1","coef":' + DEEP_LIST + "}").encode()),
    ("huge-number", "model.json", _intercept_overflows),
    ("binary", "model.json", lambda p: bytes(range(256))),
    ("network-string", "mlp.json", _put(["network"], "evil")), ("network-list", "mlp.json", _put(["network"], [1, 2])),
    ("network-no-layers", "mlp.json", _put(["network", "layers"], _DELETE)),
    ("network-layers-string", "mlp.json", _put(["network", "layers"], "x")),
    ("network-x_std-zero", "mlp.json", _put(["network", "x_std"], [0.0, 1.0])),
    ("network-x_std-nan", "mlp.json", _put(["network", "x_std"], [NAN, 1.0])),
    ("network-x_mean-short", "mlp.json", _put(["network", "x_mean"], [0.0])),
    ("network-W-wrong-shape", "mlp.json", _put(["network", "layers", 0, "W"], [[1.0, 2.0]])),
    ("network-W-strings", "mlp.json", _put(["network", "layers", 0, "W"], [["a", "b", "c"], ["d", "e", "f"]])),
    ("network-W-nan", "mlp.json", _put(["network", "layers", 1, "W"], [[NAN], [1.0], [1.0]])),
    ("network-b-missing", "mlp.json", _put(["network", "layers", 0, "b"], _DELETE)),
    ("network-activation-unknown", "mlp.json", _put(["network", "layers", 0, "activation"], "evil")),
    ("network-prelu-no-slopes", "mlp.json", _put(["network", "layers", 0, "activation"], "prelu")),
    ("network-y_std-string", "mlp.json", _put(["network", "y_std"], "a")),
    ("network-y_mean-inf", "mlp.json", _put(["network", "y_mean"], INF)),
    ("network-last-layer-wide", "mlp.json", _put(["network", "layers", 1, "W"], [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])),
    ("network-empty-layers", "mlp.json", _put(["network", "layers"], [])),
]


REGRESS_LENIENT = {"drop-y_col", "x_cols-empty", "x_cols-duplicate"}


def _regress_cases():
    for label, base, change in REGRESS_MUTATIONS:
        make = _regress_make(base, change)
        yield _regress_case(f"regress-model-{label}", "regress-model", make, must_fail=label not in REGRESS_LENIENT)


# ---------------------------------------------------------------- model, run and container files (issue 25, 5-9)
#
# Side files and declared sizes: JSON that nests or lies, sizes that pass one check and blow
# up later (working copies, renderings, columns squared), text that is not UTF-8, environment
# limits that are no limits. Every case here is refused before TensorFlow would load. Four
# classes (limits, side-files, regress-csv, view-geometry), so four extra processes.


def _padded_jpeg(segments, channels=3, side=30000):
    """A JPEG declaring side x side after `segments` (bytes of COM/APP segments) before its frame header."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, channels), np.uint8))
    raw = buf.tobytes()
    sof = raw.index(b"\xff\xc0")
    raw = raw[: sof + 5] + struct.pack(">HH", side, side) + raw[sof + 9 :]
    return raw[:2] + segments + raw[2:]


def _com(size, marker=b"\xff\xfe"):
    return marker + struct.pack(">H", size + 2) + bytes(size)


JPEG_PADDINGS = [
    ("1MiB-of-64KiB-comments", lambda: _com(65533) * 17),
    ("300k-empty-comments", lambda: _com(0) * 300000),
    ("app1-app2-fill-bytes", lambda: (_com(65533, b"\xff\xe1") + b"\xff\xff\xff" + _com(65533, b"\xff\xe2")) * 9),
]


def _jpeg_padding_cases():
    for i, (label, padding) in enumerate(JPEG_PADDINGS):
        data = functools.partial(lambda p: _padded_jpeg(p()), padding)
        measured = {"real": True, "bomb": True, "limit_message": True} if i == 0 else {"must_fail": True}
        yield _case(f"jpeg-sof-after-{label}", "limits", "info", "pad.jpg", data, **measured)
    yield _case("jpeg-sof-after-padding-stdin", "limits", "stdin", "pad.jpg",
                functools.partial(lambda: _padded_jpeg(_com(65533) * 17)), must_fail=True)
    yield _case("jpeg-scan-before-frame", "limits", "info", "scan.jpg",
                lambda: b"\xff\xd8" + _com(10) + b"\xff\xda\x00\x08" + bytes(600), must_fail=True)


LIMIT_VALUES = ("inf", "1e400", "-inf", "nan", "1e30", "0.1", "-5M", "12Q", "1e19")


def _limit_env_cases():
    for i, value in enumerate(LIMIT_VALUES):
        kind = ("info", "transform", "stdin")[i % 3]
        yield _case(f"limit-env-{value}-{kind}", "limits", kind, "camera.png",
                    functools.partial(source, "camera.png"), env=((LIMIT_ENV, value),), must_fail=True)


def _csv_bytes(header, rows, edit=None):
    lines = [",".join(header).encode()] + [",".join(f"{v:g}" for v in row).encode() for row in rows]
    if edit:
        edit(lines)
    return b"\n".join(lines) + b"\n"


def _table(edit=None, cols=4, rows=60):
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(rows, cols - 1))
    data = np.column_stack([X, X @ np.arange(1, cols) + 0.5])
    return _csv_bytes([f"x{i}" for i in range(cols - 1)] + ["y"], data, edit)


def _set_line(k, text):
    return lambda lines: lines.__setitem__(k, text)


def _append(k, text):
    return lambda lines: lines.__setitem__(k, lines[k] + text)


CSV_MUTATIONS = [
    ("surrogate-in-used-cell", _set_line(30, b"1,\xed\xa0\x80,2,3")),
    ("surrogate-after-a-number", _append(30, b"\xed\xb2\x80")),
    ("surrogate-in-header", _set_line(0, b"x0,x\xed\xa0\x801,x2,y")),
    ("latin1-byte", _set_line(12, b"1,2,3,\xe9")),
    ("extra-cell", _append(30, b",7")),
    ("extra-cell-first-row", _append(1, b",7,8")),
    ("extra-empty-cell", _append(59, b",")),
    ("nul-byte", _set_line(5, b"1,2\x00,3,4")),
    ("binary-line", _set_line(20, bytes(range(256)))),
    ("field-over-131072", _set_line(7, b"1,2,3," + b"x" * 140000)),
    ("quoted-field-over-131072", _set_line(7, b'1,2,3,"' + b"x" * 140000 + b'"')),
    ("header-field-over-131072", _set_line(0, b"x0,x1,x2," + b"y" * 140000)),
]


def _csv_cases():
    for label, edit in CSV_MUTATIONS:
        data = functools.partial(_table, edit)
        yield Case(f"regress-csv-{label}", "regress-csv", _files({"d.csv": data}), ("regress", f"{IN}/d.csv"),
                   names=("d.csv",), must_fail=True)
    wide = functools.partial(_table, None, 20000, 3)  # 120 KB: a scatter matrix of 20000^2 doubles
    yield Case("regress-csv-20000-columns-3-rows", "regress-csv", _files({"d.csv": wide}), ("regress", f"{IN}/d.csv"),
               names=("d.csv",), must_fail=True, real=True, bomb=True)
    some = functools.partial(_table, None, 3000, 3000 // 200)  # under the limit, but too few rows
    yield Case("regress-csv-3000-columns-15-rows", "regress-csv", _files({"d.csv": some}),
               ("regress", f"{IN}/d.csv", "--method", "ridge"), names=("d.csv",), must_fail=True,
               env=((LIMIT_ENV, "64M"),))


def _files(makers):
    """make() writing in/<name> = maker() for each entry."""
    return lambda case_dir, bases: {name: make() for name, make in makers.items()}


# .keras archives written by hand (no TensorFlow): a Sequential config and an empty weights member.


def _keras_config(units=4, width=3, build=True, extra=None):
    layer = {"module": "keras.layers", "class_name": "Dense", "name": "dense",
             "config": {"name": "dense", "units": units, "activation": "linear", "use_bias": True, **(extra or {})}}
    if build:
        layer["build_config"] = {"input_shape": [None, width]}
    layers = [{"module": "keras.layers", "class_name": "InputLayer",
               "config": {"batch_shape": [None, width], "dtype": "float32", "name": "input_layer"}}, layer]
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "mlkit_regress_", "layers": layers}}


def _keras_zip(config_bytes, method=zipfile.ZIP_DEFLATED, flags=0, members=("metadata.json", "model.weights.h5")):
    out = io.BytesIO()
    written = method if method in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_LZMA) else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("config.json"), config_bytes, compress_type=written)
        for name in members:
            archive.writestr(name, b"{}" if name.endswith(".json") else b"")
    raw = bytearray(out.getvalue())
    if flags or method not in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_LZMA):
        _patch_zip(raw, b"config.json", flags, method)
    return bytes(raw)


def _patch_zip(raw, name, flags, method):
    """Set the general-purpose flags and the method of member `name` in both its headers."""
    for signature, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = raw.find(signature)
        while pos >= 0:
            name_at = pos + (30 if signature == b"PK\x03\x04" else 46)
            if raw[name_at : name_at + len(name)] == name:
                struct.pack_into("<H", raw, pos + at, struct.unpack_from("<H", raw, pos + at)[0] | flags)
                struct.pack_into("<H", raw, pos + at + 2, method)
            pos = raw.find(signature, pos + 4)


def _bad_lzma(config_bytes):
    raw = bytearray(_keras_zip(config_bytes, zipfile.ZIP_LZMA))
    start = raw.find(b"PK\x03\x04") + 30 + len("config.json")
    raw[start + 9 : start + 40] = bytes(31)  # the LZMA stream after its properties
    return bytes(raw)


def _json(obj):
    return json.dumps(obj).encode()


KERAS_MUTATIONS = [
    ("dense-3000000-units", lambda: _keras_zip(_json(_keras_config(3_000_000, 2000)))),
    ("dense-3000000-units-no-build-config", lambda: _keras_zip(_json(
        {**_keras_config(), "config": {"name": "m", "layers": [_keras_config(3000, 8)["config"]["layers"][1],
                                                                _keras_config(3_000_000, 1, build=False)["config"]["layers"][1]]}}))),
    ("conv-filters-huge", lambda: _keras_zip(_json(_keras_config(
        70000, 70000, extra={"filters": 70000, "kernel_size": [5, 5]})))),
    ("config-deep", lambda: _keras_zip(b'{"config":' + DEEP_LIST.encode() + b"}")),
    ("config-deep-dict", lambda: _keras_zip(DEEP_DICT.encode())),
    ("config-nan", lambda: _keras_zip(b'{"class_name":"Sequential","config":{"layers":[{"class_name":"Dense","config":{"units":NaN}}]}}')),
    ("config-not-utf8", lambda: _keras_zip(b'{"class_name":"\xff\xfe"}')),
    ("config-encrypted", lambda: _keras_zip(_json(_keras_config()), flags=0x1)),
    ("config-method-99", lambda: _keras_zip(_json(_keras_config()), method=99)),
    ("config-bad-lzma", lambda: _bad_lzma(_json(_keras_config()))),
    ("no-weights", lambda: _keras_zip(_json(_keras_config()), members=("metadata.json",))),
]


def _keras_cases():
    for label, make in KERAS_MUTATIONS:
        files = _files({"model.keras": make, "new.csv": functools.partial(_table, None, 3, 5)})
        yield Case(f"keras-{label}", "side-files", files, ("regress", f"{IN}/model.keras", "--predict", f"{IN}/new.csv"),
                   names=("model.keras",), must_fail=True)


# train-gan / generate run folders: run.json, metrics.jsonl, a checkpoint folder (empty: every
# case is refused before TensorFlow would read it).

GAN_CONFIG = {"image_size": 16, "channels": 1, "z_dim": 8, "gf_dim": 4, "df_dim": 4, "batch_size": 4, "lr": 0.0002,
              "d_lr": None, "beta1": 0.5, "g_steps": 2, "label_smoothing": 0.1, "slice_axis": 2, "seed": 1, "images": 8}


def _run_json(**change):
    return _json({"kind": "gan", "config": {**GAN_CONFIG, **change}})


def _run_folder(run_json=None, metrics=None, link=None):
    """make() for a run folder in/run/ with run.json (bytes, or a link to `link`) and metrics.jsonl."""

    def make(case_dir, bases):
        run = os.path.join(case_dir, "in", "run")
        os.makedirs(os.path.join(run, "ckpt-00000002"), exist_ok=True)
        files = {"face.png": source("camera.png")}
        if link:
            os.symlink(link, os.path.join(run, "run.json"))
        else:
            files["run/run.json"] = run_json if run_json is not None else _run_json()
        if metrics is not None:
            files["run/metrics.jsonl"] = metrics
        return files

    return make


def _metrics(*records):
    return b"".join((r if isinstance(r, bytes) else _json(r)) + b"\n" for r in records)


GOOD_STEP = {"step": 1, "d_loss": 1.2, "g_loss": 0.7, "d_real": 0.5, "d_fake": 0.5}
GENERATE = ("generate", "-c", f"{IN}/run", "-n", "4", "-o", OUT)
TRAIN = ("train-gan", f"{IN}/face.png", "-c", f"{IN}/run", "--steps", "3", "--image-size", "16", "--channels", "1",
         "--z-dim", "8", "--gf-dim", "4", "--df-dim", "4", "--batch-size", "4")
RUN_MUTATIONS = [
    ("generate", "run-json-deep", _run_folder(b'{"kind":"gan","config":' + DEEP_LIST.encode() + b"}")),
    ("generate", "run-json-deep-dict", _run_folder(DEEP_DICT.encode())),
    ("generate", "run-json-nan-lr", _run_folder(_run_json().replace(b'"lr": 0.0002', b'"lr": NaN'))),
    ("generate", "run-json-infinity-seed", _run_folder(_run_json().replace(b'"seed": 1', b'"seed": Infinity'))),
    ("generate", "run-json-1e999", _run_folder(_run_json().replace(b'"beta1": 0.5', b'"beta1": 1e999'))),
    ("generate", "run-json-gf-dim-100000", _run_folder(_run_json(gf_dim=100000, image_size=64))),
    ("generate", "run-json-z-dim-100000-df-dim-100000", _run_folder(_run_json(z_dim=100000, df_dim=100000, gf_dim=100000))),
    ("generate", "run-json-link-to-dev-zero", _run_folder(link="/dev/zero")),
    ("generate", "run-json-link-to-a-folder", _run_folder(link="/")),
    ("generate", "run-json-not-utf8", _run_folder(b'{"kind":"gan","config":{"x":"\xff"}}')),
    ("generate-grid", "grid-100000x100000", _run_folder()),
    ("train-gan", "metrics-d-loss-string", _run_folder(metrics=_metrics(GOOD_STEP, {**GOOD_STEP, "step": 2, "d_loss": "abc"}))),
    ("train-gan", "metrics-deep", _run_folder(metrics=_metrics(GOOD_STEP, b'{"step":2,"x":' + DEEP_LIST.encode() + b"}"))),
    ("train-gan", "metrics-nan", _run_folder(metrics=_metrics(b'{"step":1,"d_loss":NaN}', GOOD_STEP))),
    ("train-gan", "metrics-no-step", _run_folder(metrics=_metrics({"d_loss": 1.0}, GOOD_STEP))),
    ("train-gan", "metrics-binary", _run_folder(metrics=bytes(range(256)) + b"\n")),
    ("train-gan", "run-json-deep", _run_folder(b'{"kind":"gan","config":' + DEEP_LIST.encode() + b"}")),
    ("train-gan", "run-json-link-to-dev-zero", _run_folder(link="/dev/zero")),
]


def _run_cases():
    for command, label, make in RUN_MUTATIONS:
        args = {"generate": GENERATE, "train-gan": TRAIN,
                "generate-grid": GENERATE[:3] + ("--grid", "100000x100000", "-o", OUT + "grid.png")}[command]
        yield Case(f"{command}-{label}", "side-files", make, args, names=("run",), must_fail=True)


# view on hostile geometry, and writing what PNG cannot hold


def _nifti_with(data, affine=None, zooms=None):
    """NIfTI-1 bytes with this sform (no qform), or with only these pixdims (no sform or qform)."""
    header = nib.Nifti1Header()
    header.set_data_dtype(data.dtype)
    header.set_data_shape(data.shape)
    if zooms is not None:
        header.set_zooms(zooms)
    else:
        with np.errstate(over="ignore"):  # 1e300 becomes inf in the header's float32: that is the case
            header.set_sform(np.eye(4) if affine is None else affine, code=1)
    return nib.Nifti1Image(data, None, header).to_bytes()


_PLANE = np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
VIEW_MUTATIONS = [
    ("pixdim-5000-0.001", lambda: _nifti_with(_PLANE, zooms=(5000, 0.001, 1)), True),
    ("pixdim-1e-30", lambda: _nifti_with(_PLANE, zooms=(1e-30, 1, 1)), True),
    ("sform-1e30", lambda: _nifti_with(_PLANE, np.diag([1e30, 1e30, 1e30, 1])), False),
    ("sform-1e30-anisotropic", lambda: _nifti_with(_PLANE, np.diag([1e30, 1e-30, 1, 1])), True),
    ("sform-1e300", lambda: _nifti_with(_PLANE, np.diag([1e300, 1e-300, 1, 1])), True),
    ("complex64", lambda: _nifti_with(_PLANE.astype(np.complex64) * 1j), True),
    ("complex128-2d", lambda: _nifti_with(np.ones((6, 5, 1), np.complex128)), True),
]


def _view_cases():
    for label, data, must_fail in VIEW_MUTATIONS:
        files = _files({"v.nii": data})
        yield Case(f"view-{label}", "view-geometry", files, ("view", f"{IN}/v.nii", "-o", OUT + "v.png"),
                   names=("v",), must_fail=must_fail)
    many = _files({"a.png": functools.partial(source, "camera.png")})
    yield Case("view-columns-100000", "view-geometry", many,
               ("view", f"{IN}/a.png", f"{IN}/a.png", "--columns", "100000", "-o", OUT + "v.png"), names=("a",))
    yield Case("view-tile-4096-limit-64M", "view-geometry", _files({"v.nii": lambda: _nifti_with(_PLANE)}),
               ("view", f"{IN}/v.nii", "--tile", "4096", "-o", OUT + "v.png"), names=("v",), must_fail=True,
               env=((LIMIT_ENV, "64M"),))
    wide = functools.partial(_npy_bytes, np.zeros((1, 1000001), np.uint8))
    yield Case("png-1000001-wide", "view-geometry", _files({"wide.npy": wide}),
               ("transform", "negative", f"{IN}/wide.npy", "-o", OUT + "wide.png"), names=("wide.png",), must_fail=True)
    yield Case("crop-center-size-60000", "view-geometry", _files({"c.png": functools.partial(source, "camera.png")}),
               ("crop-align", "--mode", "center", "--size", "60000", f"{IN}/c.png", "-o", OUT), names=("c.png",),
               must_fail=True)


# eigenfaces: a uint8 member that loading widens to float64


def _uint8_widened(case_dir, bases):
    """eigenfaces.npy as 10 x 19,000,000 uint8 (190 MB, under a 200M limit; 1.5 GB as float64)."""
    fields = _model_fields(bases)
    members = [(f"{k}.npy", _npy_bytes(v)) for k, v in fields.items() if k != "eigenfaces"]
    shape = (10, 19_000_000)
    head = _npy(_npy_dict("'|u1'", shape=str(shape)), data=b"")
    size = len(head) + shape[0] * shape[1]
    crc = zlib.crc32(bytes(size - len(head)), zlib.crc32(head))
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH) + _deflate_zeros(size - len(head), -15)
    entries = [(n, zlib.compress(r, 9)[2:-4], zlib.crc32(r), len(r)) for n, r in members]
    entries.append(("eigenfaces.npy", body, crc, size))
    return {"model.npz": _zip(entries), "probe.png": bases["probe.png"]}


def _names_cases():
    cjk = _fields(name="漢" * 90)
    for kind in ("stdin", "transform"):
        cid = f"name-90-cjk-characters-{kind}"
        data = _per_dir(functools.partial(lambda f, c, d: _meta_nifti(f(d, c)), cjk, cid))
        yield _case(cid, "control", kind, "e.nii", data)  # must pass quietly: the stem is cut by bytes
    yield _case("name-200-two-byte-characters-stdin", "control", "stdin", "e.nii",
                _per_dir(lambda d: _meta_nifti(_fields(name="é" * 200)(d, ""))))


def _linked(name, target, extra):
    """make() with in/<name> a link to `target` (/dev/zero: no size, no end), beside `extra`."""

    def make(case_dir, bases):
        os.makedirs(os.path.join(case_dir, "in"), exist_ok=True)
        if target == "fifo":  # a named pipe nobody writes to: opening it would wait for ever
            os.mkfifo(os.path.join(case_dir, "in", name))
        else:
            os.symlink(target, os.path.join(case_dir, "in", name))
        return {k: bases[k] if k in bases else source(k) for k in extra}

    return make


def _link_cases():
    for target in ("/dev/zero", "fifo"):
        label = target.strip("/").replace("/", "-")
        yield Case(f"link-to-{label}-regress-model", "side-files", _linked("m.json", target, ("new.csv",)),
                   ("regress", f"{IN}/m.json", "--predict", f"{IN}/new.csv"), names=("m.json",), must_fail=True)
        yield Case(f"link-to-{label}-homography-matrix", "side-files", _linked("h.json", target, ("camera.png",)),
                   ("homography", "warp", "--matrix", f"{IN}/h.json", f"{IN}/camera.png", "-o", OUT),
                   names=("h.json",), must_fail=True)


def _side_file_cases():
    yield from _link_cases()
    yield from _limit_env_cases()
    yield from _jpeg_padding_cases()
    yield from _csv_cases()
    yield from _keras_cases()
    yield from _run_cases()
    yield from _view_cases()
    yield from _names_cases()
    yield _model_case("eigenfaces-uint8-member-widened-200M", "bomb", _uint8_widened, real=True, bomb=True,
                      limit_message=True, env=((LIMIT_ENV, "200M"),))


# ---------------------------------------------------------------- the corpus


def controls():
    """Clean inputs: each must be read without a word on stderr (proves the harness fair)."""
    for i, name in enumerate(NIFTI_SOURCES + RASTER_SOURCES):
        kind = KINDS[i % len(KINDS)]
        yield _case(f"control-{name}-{kind}", "control", kind, name, functools.partial(source, name))
    yield _model_case("control-eigenfaces-model", "control", _model_make(lambda f: None))
    yield _regress_case("control-regress-model", "control", _regress_make("model.json", lambda p: None))
    yield _regress_case("control-regress-mlp", "control", _regress_make("mlp.json", lambda p: None))


FAMILIES = (
    _truncations, _bit_flips, _header_fields, _extensions, _metadata, _gzip_cases, _npy_cases,
    _pickle_cases, _raster_cases, _model_cases, _regress_cases, _bomb_cases, _side_file_cases,
)


@functools.cache
def cases():
    """Every case, controls first; the first case of each class also runs as its own process."""
    out, seen = [], set()
    for family in (controls, *FAMILIES):
        for case in family():
            if case.group not in seen and not case.real:
                seen.add(case.group)
                out.append(dataclasses.replace(case, id=case.id + "-process", real=True))
            out.append(case)
    ids = [c.id for c in out]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return tuple(out)


def materialize(case, case_dir, bases):
    """Write the case's inputs; return the paths the command may write to (work/a/b)."""
    for sub in ("in", os.path.join("work", OUT)):
        os.makedirs(os.path.join(case_dir, sub), exist_ok=True)
    for name, data in case.make(str(case_dir), bases).items():
        with open(os.path.join(case_dir, "in", name), "wb") as f:
            f.write(data)
    return os.path.join(case_dir, "work", OUT)


def main(argv):
    """Write one case under FOLDER/CASE_ID and print its command; --run also runs it there."""
    case_id, folder, *run = argv
    case = next(c for c in cases() if c.id == case_id)
    bases = build_bases(os.path.join(folder, "_bases"))
    case_dir = os.path.join(os.path.abspath(folder), case.id)
    materialize(case, case_dir, bases)
    work = os.path.join(case_dir, "work")
    print(f"cd {work} && {case.shell()}", flush=True)
    if run == ["--run"]:
        stdin = os.path.join(case_dir, "in", case.stdin) if case.stdin else os.devnull
        with open(stdin, "rb") as f:
            args = [sys.executable, "-m", "mlkit", *case.args]
            code = subprocess.run(args, cwd=work, stdin=f, env={**os.environ, **dict(case.env)}).returncode
        print(f"exit {code}")


if __name__ == "__main__":
    main(sys.argv[1:])
