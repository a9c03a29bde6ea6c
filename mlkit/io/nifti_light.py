"""NIfTI-1/2 single-file images read with numpy and struct alone, when their header is regular.

nibabel's import is most of a short command's start-up (`mlkit info` on one file). So a header
that nibabel would accept exactly as it is (every check of its check_fix passes, nothing to fix)
is read here, with the same math nibabel uses for the affine; any other header is left to the
full reader (mlkit.io.nifti), whose messages and fixes stay the only ones. What follows the
header (extensions, voxels, scaling, mlkit's metadata) is read by the same functions on both
paths.
"""

import json
import math
import struct

import numpy as np

from mlkit.errors import ImageFormatError
from mlkit.io.image import Image, UnreadableHistory, json_type

# 'comment' extensions hold text; ours is JSON under the key "mlkit".
MLKIT_ECODE = 6
HEADER_SIZE = {"nifti1": 348, "nifti2": 540}
# nibabel's header layouts (nibabel.nifti1.header_dtype, nibabel.nifti2.header_dtype).
_NIFTI1 = [
    ("sizeof_hdr", "i4"), ("data_type", "S10"), ("db_name", "S18"), ("extents", "i4"), ("session_error", "i2"),
    ("regular", "S1"), ("dim_info", "u1"), ("dim", "i2", (8,)), ("intent_p1", "f4"), ("intent_p2", "f4"),
    ("intent_p3", "f4"), ("intent_code", "i2"), ("datatype", "i2"), ("bitpix", "i2"), ("slice_start", "i2"),
    ("pixdim", "f4", (8,)), ("vox_offset", "f4"), ("scl_slope", "f4"), ("scl_inter", "f4"), ("slice_end", "i2"),
    ("slice_code", "u1"), ("xyzt_units", "u1"), ("cal_max", "f4"), ("cal_min", "f4"), ("slice_duration", "f4"),
    ("toffset", "f4"), ("glmax", "i4"), ("glmin", "i4"), ("descrip", "S80"), ("aux_file", "S24"),
    ("qform_code", "i2"), ("sform_code", "i2"), ("quatern_b", "f4"), ("quatern_c", "f4"), ("quatern_d", "f4"),
    ("qoffset_x", "f4"), ("qoffset_y", "f4"), ("qoffset_z", "f4"), ("srow_x", "f4", (4,)), ("srow_y", "f4", (4,)),
    ("srow_z", "f4", (4,)), ("intent_name", "S16"), ("magic", "S4"),
]
_NIFTI2 = [
    ("sizeof_hdr", "i4"), ("magic", "S4"), ("eol_check", "i1", (4,)), ("datatype", "i2"), ("bitpix", "i2"),
    ("dim", "i8", (8,)), ("intent_p1", "f8"), ("intent_p2", "f8"), ("intent_p3", "f8"), ("pixdim", "f8", (8,)),
    ("vox_offset", "i8"), ("scl_slope", "f8"), ("scl_inter", "f8"), ("cal_max", "f8"), ("cal_min", "f8"),
    ("slice_duration", "f8"), ("toffset", "f8"), ("slice_start", "i8"), ("slice_end", "i8"), ("descrip", "S80"),
    ("aux_file", "S24"), ("qform_code", "i4"), ("sform_code", "i4"), ("quatern_b", "f8"), ("quatern_c", "f8"),
    ("quatern_d", "f8"), ("qoffset_x", "f8"), ("qoffset_y", "f8"), ("qoffset_z", "f8"), ("srow_x", "f8", (4,)),
    ("srow_y", "f8", (4,)), ("srow_z", "f8", (4,)), ("slice_code", "i4"), ("xyzt_units", "i4"),
    ("intent_code", "i4"), ("intent_name", "S16"), ("dim_info", "u1"), ("unused_str", "S15"),
]
LAYOUT = {"nifti1": np.dtype(_NIFTI1), "nifti2": np.dtype(_NIFTI2)}
# The datatypes nibabel reads (codes with a sized dtype); float128 and complex256 are left to it.
DATATYPES = {
    2: np.dtype("u1"), 4: np.dtype("i2"), 8: np.dtype("i4"), 16: np.dtype("f4"), 32: np.dtype("c8"),
    64: np.dtype("f8"), 128: np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")]), 256: np.dtype("i1"),
    512: np.dtype("u2"), 768: np.dtype("u4"), 1024: np.dtype("i8"), 1280: np.dtype("u8"), 1792: np.dtype("c16"),
    2304: np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1"), ("A", "u1")]),
}
UNITS = {0: "unknown", 1: "meter", 2: "mm", 3: "micron", 8: "sec", 16: "msec", 24: "usec", 32: "hz", 40: "ppm", 48: "rads"}
XFORM_CODES = range(6)  # unknown, scanner, aligned, talairach, mni, template
SINGLE_OFFSET = {"nifti1": 352, "nifti2": 544}  # header + the 4-byte extension flag
# Below this, w squared of a qform quaternion counts as 0 (nibabel's quaternion_threshold).
QUATERNION_THRESHOLD = {"nifti1": np.finfo(np.float32).eps * 3, "nifti2": -np.finfo(np.float64).eps * 3}


def kind(head):
    """'nifti1' or 'nifti2' when `head` starts with that single-file header's magic, else None."""
    if len(head) < 348:
        return None
    for order in "<>":
        size = struct.unpack(order + "i", head[:4])[0]
        if size == 348 and head[344:348] == b"n+1\x00":
            return "nifti1"
        if size == 540 and head[4:8] == b"n+2\x00":
            return "nifti2"
    return None


def cut_short(head):
    """('NIfTI-1', 348) or ('NIfTI-2', 540) when `head` is the start of that header and the
    input ends before the header does; else None."""
    if len(head) < 4:
        return None
    for order in "<>":
        size = struct.unpack(order + "i", head[:4])[0]
        if size == 348 and len(head) < 348:
            return "NIfTI-1", 348
        if size == 540 and len(head) < 540 and b"n+2\x00".startswith(head[4:8]):
            return "NIfTI-2", 540
    return None


class Header:
    """A NIfTI-1/2 header's fields by name (`hdr["dim"]`), as nibabel's header gives them."""

    def __init__(self, raw, kind):
        self.kind = kind
        # The byte order from sizeof_hdr, as the full reader takes it.
        self.endianness = "<" if struct.unpack("<i", raw[:4])[0] == HEADER_SIZE[kind] else ">"
        layout = LAYOUT[kind].newbyteorder(self.endianness)
        self.fields = np.ndarray((), layout, buffer=bytes(raw)).copy()

    def __getitem__(self, name):
        return self.fields[name]

    def get_xyzt_units(self):
        """('mm', 'sec')...; KeyError for a code NIfTI does not define, as nibabel."""
        code = int(self.fields["xyzt_units"])
        return UNITS[code % 8], UNITS[code - code % 8]

    def get_data_dtype(self):
        return DATATYPES[int(self.fields["datatype"])].newbyteorder(self.endianness)


def read_image(source, kind, default_name):
    """The next image of `source` (a ByteSource at its header), or None, with nothing read,
    when the header is anything but regular: the full reader then takes it."""
    size = HEADER_SIZE[kind]
    raw = source.peek(size)
    if len(raw) < size:
        return None
    hdr = Header(raw, kind)
    facts = _regular_facts(hdr)
    if facts is None:
        return None
    source.read_exact(size, "NIfTI header")
    img, _ = read_body(source, hdr, kind, *facts, default_name)
    return img


def _regular_facts(hdr):
    """(shape, dtype, affine) of a header nibabel would take as it is, else None."""
    try:
        shape = check_dims(hdr)
        if not regular(hdr):
            return None
        with np.errstate(all="ignore"):  # overflow in a hostile quaternion: refused below, quietly
            affine = check_affine(best_affine(hdr))
    except (ImageFormatError, ValueError):  # the full reader says what is wrong
        return None
    return shape, hdr.get_data_dtype(), affine


def regular(hdr):
    """True when each check of nibabel's check_fix passes: known datatype, bitpix that matches
    it, positive voxel sizes, qfac 1 or -1, a vox_offset past the header on a 16-byte boundary,
    known q/sform codes, NIfTI-2's end-of-line bytes. (The magic and sizeof_hdr made `kind`.)"""
    f, kind = hdr.fields, hdr.kind
    dtype = DATATYPES.get(int(f["datatype"]))
    offset = f["vox_offset"].item()
    return (
        dtype is not None
        and f["bitpix"] == dtype.itemsize * 8
        and not np.any(f["pixdim"][1:4] <= 0)
        and f["pixdim"][0] in (-1, 1)
        and (offset == 0 or (offset >= SINGLE_OFFSET[kind] and offset % 16 == 0))
        and int(f["qform_code"]) in XFORM_CODES
        and int(f["sform_code"]) in XFORM_CODES
        and (kind == "nifti1" or bool(np.all(f["eol_check"] == (13, 10, 26, 10))))
    )


def best_affine(hdr):
    """nibabel's get_best_affine: the sform if its code is set, else the qform, else the
    affine from the voxel sizes centred on the image; the same operations, the same bits."""
    f = hdr.fields
    if f["sform_code"] != 0:
        out = np.eye(4)
        out[0, :], out[1, :], out[2, :] = f["srow_x"][:], f["srow_y"][:], f["srow_z"][:]
        return out
    if f["qform_code"] != 0:
        return _qform(f, QUATERNION_THRESHOLD[hdr.kind])
    ndim = f["dim"][0]
    return _base_affine(f["dim"][1 : ndim + 1], f["pixdim"][1 : ndim + 1])


def _qform(f, threshold):
    rotation = _quaternion_matrix(_unit_quaternion([f["quatern_b"], f["quatern_c"], f["quatern_d"]], threshold))
    vox = f["pixdim"][1:4].copy()
    if np.any(vox < 0) or f["pixdim"][0] not in (-1, 1):
        raise ValueError("voxel sizes or qfac nibabel refuses")
    vox[-1] *= f["pixdim"][0]
    out = np.eye(4)
    out[0:3, 0:3] = np.dot(rotation, np.diag(vox))
    out[0:3, 3] = [f["qoffset_x"], f["qoffset_y"], f["qoffset_z"]]
    return out


def _unit_quaternion(bcd, threshold):
    """w from b, c, d, in the widest float (nibabel's fillpositive)."""
    xyz = np.asarray(bcd, dtype=np.longdouble)
    w2 = 1.0 - xyz @ xyz
    if np.abs(w2) < np.abs(threshold):
        w = 0
    elif w2 < 0:
        raise ValueError("the quaternion is no rotation")
    else:
        w = np.sqrt(w2)
    return np.r_[w, xyz]


def _quaternion_matrix(q):
    """The rotation matrix of quaternion q (nibabel's quat2mat)."""
    w, x, y, z = q
    norm = w * w + x * x + y * y + z * z
    if norm < np.finfo(float).eps:
        return np.eye(3)
    s = 2.0 / norm
    X, Y, Z = x * s, y * s, z * s
    wX, wY, wZ = w * X, w * Y, w * Z
    xX, xY, xZ = x * X, x * Y, x * Z
    yY, yZ, zZ = y * Y, y * Z, z * Z
    return np.array([
        [1.0 - (yY + zZ), xY - wZ, xZ + wY],
        [xY + wZ, 1.0 - (xX + zZ), yZ - wX],
        [xZ - wY, yZ + wX, 1.0 - (xX + yY)],
    ])


def _base_affine(shape, zooms):
    """Voxel sizes, x flipped, the origin at the image centre (nibabel's shape_zoom_affine)."""
    shape, zooms = np.asarray(shape), np.array(zooms)
    if len(shape) >= 3:
        shape, zooms = shape[:3], zooms[:3]
    else:
        full_shape, full_zooms = np.ones((3,)), np.ones((3,))
        full_shape[: len(shape)], full_zooms[: len(shape)] = shape[:], zooms[:]
        shape, zooms = full_shape, full_zooms
    zooms[0] *= -1
    origin = (shape - 1) / 2.0
    aff = np.eye(4)
    aff[:3, :3] = np.diag(zooms)
    aff[:3, -1] = -origin * zooms
    return aff


# ------------------------------------------------- checks and reads both readers share


def check_dims(hdr):
    """The image shape, after the checks nibabel does not make: 1 to 7 axes, none below 1,
    finite voxel sizes."""
    dims = [int(d) for d in hdr["dim"]]
    if not 1 <= dims[0] <= 7:
        raise ImageFormatError(f"bad NIfTI header: dim[0] is {dims[0]}, not a number of axes from 1 to 7")
    shape = tuple(dims[1 : dims[0] + 1])
    if min(shape) < 1:
        raise ImageFormatError(f"bad NIfTI header: the image size {'x'.join(map(str, shape))} has an axis below 1")
    pixdim = np.asarray(hdr["pixdim"][1 : dims[0] + 1], dtype=np.float64)
    if not np.isfinite(pixdim).all():
        raise ImageFormatError("bad NIfTI header: a voxel size (pixdim) is NaN or infinite")
    return shape


def check_affine(affine):
    """`affine`, refused when it cannot place voxels (NaN, infinite, singular)."""
    if not np.isfinite(affine).all():
        raise ImageFormatError("bad NIfTI header: the qform/sform holds NaN or infinite values")
    if np.linalg.det(affine[:3, :3]) == 0:
        raise ImageFormatError(
            "bad NIfTI header: the voxel-to-world affine is singular (a zero axis in the qform/sform)",
            "fix the header, e.g. with nibabel or fslorient",
        )
    return affine


def read_body(source, hdr, kind, shape, dtype, affine, default_name):
    """What follows a checked header: (the Image, its extensions as (code, bytes) pairs)."""
    blocks = _read_extensions(source, hdr.endianness, _vox_offset(hdr, HEADER_SIZE[kind]))
    buf = source.read_exact(math.prod(shape) * dtype.itemsize, "NIfTI voxel data")
    scaling = None if dtype.names else slope_inter(hdr)
    data = _decode_voxels(buf, shape, dtype, scaling)
    meta = _read_meta(blocks)
    channels = meta.get("channels") is True and data.ndim >= 3
    if data.dtype.names:  # RGB24/RGBA32: a structured dtype becomes a channel axis
        data = np.stack([data[f] for f in data.dtype.names], axis=-1)
        channels = True
    img = Image(
        data=data,
        affine=affine,
        name=meta.get("name") or default_name,
        history=meta.get("history", []),  # the reader keeps it only if it is a list of dicts
        header=hdr,
        channels=channels,
        format=kind,
        suffix=meta.get("suffix") if isinstance(meta.get("suffix"), str) else "",
        stored_dtype=dtype.newbyteorder("=").name if scaling else "",
    )
    return img, blocks


def _vox_offset(hdr, header_size):
    """Where the voxels start; 0 (unset) means right after the header and its 4-byte flag."""
    value = float(hdr["vox_offset"])
    start = header_size + 4
    if value == 0:
        return start
    if not np.isfinite(value) or value != int(value) or value < start:
        raise ImageFormatError(
            f"bad NIfTI header: vox_offset {value:g} is not a byte offset at or after the header ({start})"
        )
    return int(value)


def _read_extensions(source, order, offset):
    """The extensions between the header and `offset` as (code, content) pairs, each checked
    against that space."""
    gap = offset - source.tell()
    left = source.remaining()
    if left is not None and gap > left:
        raise ImageFormatError(f"bad NIfTI header: vox_offset {offset} is past the end of the file")
    blob = source.read_exact(gap, "NIfTI extensions")
    if blob[:1] == b"\x00":
        return []
    blocks, pos = [], 4
    while pos + 8 <= len(blob):
        size, code = struct.unpack(order + "ii", blob[pos : pos + 8])
        if size < 16 or size % 16 or pos + size > len(blob):
            raise ImageFormatError(
                f"bad NIfTI extension {len(blocks) + 1}: size {size} is not a multiple of 16 "
                "that fits before the voxel data"
            )
        blocks.append((code, bytes(blob[pos + 8 : pos + size]).rstrip(b"\x00")))
        pos += size
    return blocks


def slope_inter(hdr):
    """(slope, inter), or None when the data are not scaled."""
    slope, inter = (float(hdr["scl_slope"]), float(hdr["scl_inter"]))
    if np.isnan(slope) or slope == 0:  # NIfTI: unset means unscaled
        return None
    inter = 0.0 if np.isnan(inter) else inter
    if not (np.isfinite(slope) and np.isfinite(inter)):
        raise ImageFormatError(f"bad NIfTI header: scl_slope {slope:g} / scl_inter {inter:g} are not finite")
    return None if (slope, inter) == (1.0, 0.0) else (slope, inter)


def _decode_voxels(buf, shape, dtype, scaling):
    data = np.frombuffer(buf, dtype=dtype).reshape(shape, order="F")
    if not dtype.isnative:
        data = data.byteswap().view(dtype.newbyteorder("="))
    return data if scaling is None else scale(data, scaling)


def scale(stored, scaling):
    """Stored integers to values, in float32 (float64 for wide integers), as NIfTI defines."""
    slope, inter = scaling
    out_type = np.result_type(stored.dtype, np.float32)
    with np.errstate(all="ignore"):  # huge slopes overflow to inf: the values say so, no warning
        return stored.astype(out_type) * out_type.type(slope) + out_type.type(inter)


def _read_meta(blocks):
    """mlkit's {name, channels, history, suffix} from its extension (code 6, JSON text
    {"mlkit": {...}}); code-6 extensions that are not mlkit's are other tools' comments.
    An mlkit block that cannot be read keeps the reason as the history, which the reader reports."""
    bad = None
    for code, content in blocks:
        if code != MLKIT_ECODE:
            continue
        ours = content.lstrip().startswith(b'{"mlkit"')
        try:
            payload = json.loads(content)
        except RecursionError:
            bad = bad or ("its JSON is nested too deeply" if ours else None)
            continue
        except ValueError:  # UnicodeDecodeError included
            bad = bad or ("it is not valid JSON" if ours else None)
            continue
        if not isinstance(payload, dict) or "mlkit" not in payload:
            continue
        if isinstance(payload["mlkit"], dict):
            return payload["mlkit"]
        bad = bad or f"its 'mlkit' field is a JSON {json_type(payload['mlkit'])}, not an object"
    return {} if bad is None else {"history": UnreadableHistory(bad)}
