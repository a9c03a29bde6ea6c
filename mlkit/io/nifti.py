"""NIfTI-1/2 single-file images, read from and written to plain byte streams.

Reading never seeks, so the same code serves files, gzip streams and pipes that
carry many images one after another (the mlkit stream).
"""

import io
import json
import logging
import math
import struct
import warnings

import nibabel as nib
import numpy as np
from nibabel.nifti1 import Nifti1Extension

from mlkit.errors import ImageFormatError
from mlkit.io.image import Image
from mlkit.io.quiet import silenced

# 'comment' extensions hold text; ours is JSON under the key "mlkit".
MLKIT_ECODE = 6
# NIfTI has no bool or float16; these are written as the next type up.
_WRITE_AS = {np.dtype(bool): np.uint8, np.dtype(np.float16): np.float32}
# nibabel reports the header fixes it makes through a logger; mlkit keeps them quiet.
_QUIET_LOG = logging.getLogger("mlkit.nibabel_fixes")
_QUIET_LOG.addHandler(logging.NullHandler())
_QUIET_LOG.propagate = False


def nifti_class(head):
    """The nibabel header class whose single-file magic `head` starts with, else None."""
    if len(head) < 348:
        return None
    for order in "<>":
        size = struct.unpack(order + "i", head[:4])[0]
        if size == 348 and head[344:348] == b"n+1\x00":
            return nib.Nifti1Header
        if size == 540 and head[4:8] == b"n+2\x00":
            return nib.Nifti2Header
    return None


def read_image(source, klass, default_name):
    """Read one image from `source` (a ByteSource positioned at its header).

    Every field that sizes or places data is checked before it is used, so a malformed
    header costs one plain message, never a huge allocation or a Python exception."""
    hdr, shape = _read_header(source, klass)
    dtype, affine = hdr.get_data_dtype(), _affine(hdr)
    hdr.extensions = _read_extensions(source, hdr, _vox_offset(hdr, klass))
    nbytes = math.prod(shape) * dtype.itemsize
    buf = source.read_exact(nbytes, "NIfTI voxel data")
    scaling = None if dtype.names else _slope_inter(hdr)
    data = _decode_voxels(buf, shape, dtype, scaling)
    meta = _read_meta(hdr)
    channels = meta.get("channels") is True and data.ndim >= 3
    if data.dtype.names:  # RGB24/RGBA32: a structured dtype becomes a channel axis
        data = np.stack([data[f] for f in data.dtype.names], axis=-1)
        channels = True
    return Image(
        data=data,
        affine=affine,
        name=meta.get("name") or default_name,
        history=meta.get("history", []),  # the reader keeps it only if it is a list of dicts
        header=hdr,
        channels=channels,
        format="nifti2" if klass is nib.Nifti2Header else "nifti1",
        suffix=meta.get("suffix") if isinstance(meta.get("suffix"), str) else "",
        stored_dtype=dtype.newbyteorder("=").name if scaling else "",
    )


def _read_header(source, klass):
    """The fixed-size header and the image shape. nibabel fixes what it safely can (bitpix,
    pixdim signs) quietly and refuses what it cannot (an unknown datatype)."""
    raw = bytes(source.read_exact(klass.template_dtype.itemsize, "NIfTI header"))
    # The byte order from sizeof_hdr: nibabel guesses it from dim[0], which may be the bad field.
    order = "<" if struct.unpack("<i", raw[:4])[0] == len(raw) else ">"
    hdr = klass(raw, endianness=order, check=False)
    shape = _check_dims(hdr)
    try:
        with silenced():
            hdr.check_fix(logger=_QUIET_LOG, error_level=40)
            hdr.get_data_dtype()
    except Exception as exc:  # HeaderDataError, WrapStructError, KeyError...: a bad header
        raise ImageFormatError(f"bad NIfTI header: {_plain(exc)}") from None
    return hdr, shape


def _plain(exc):
    return (str(exc).splitlines() or ["unreadable field"])[0].strip("'\"")


def _check_dims(hdr):
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


def _vox_offset(hdr, klass):
    """Where the voxels start; 0 (unset) means right after the header and its 4-byte flag."""
    value = float(hdr["vox_offset"])
    start = klass.template_dtype.itemsize + 4
    if value == 0:
        return start
    if not np.isfinite(value) or value != int(value) or value < start:
        raise ImageFormatError(
            f"bad NIfTI header: vox_offset {value:g} is not a byte offset at or after the header ({start})"
        )
    return int(value)


def _read_extensions(source, hdr, offset):
    """The extensions between the header and `offset`, each checked against that space."""
    gap = offset - source.tell()
    left = source.remaining()
    if left is not None and gap > left:
        raise ImageFormatError(f"bad NIfTI header: vox_offset {offset} is past the end of the file")
    blob = source.read_exact(gap, "NIfTI extensions")
    if blob[:1] == b"\x00":
        return nib.nifti1.Nifti1Extensions()
    order = hdr.endianness
    exts, pos = [], 4
    while pos + 8 <= len(blob):
        size, code = struct.unpack(order + "ii", blob[pos : pos + 8])
        if size < 16 or size % 16 or pos + size > len(blob):
            raise ImageFormatError(
                f"bad NIfTI extension {len(exts) + 1}: size {size} is not a multiple of 16 "
                "that fits before the voxel data"
            )
        exts.append(Nifti1Extension(code, bytes(blob[pos + 8 : pos + size]).rstrip(b"\x00")))
        pos += size
    return nib.nifti1.Nifti1Extensions(exts)


def _slope_inter(hdr):
    """(slope, inter), or None when the data are not scaled."""
    slope, inter = (float(hdr["scl_slope"]), float(hdr["scl_inter"]))
    if np.isnan(slope) or slope == 0:  # NIfTI: unset means unscaled
        return None
    inter = 0.0 if np.isnan(inter) else inter
    if not (np.isfinite(slope) and np.isfinite(inter)):
        raise ImageFormatError(f"bad NIfTI header: scl_slope {slope:g} / scl_inter {inter:g} are not finite")
    return None if (slope, inter) == (1.0, 0.0) else (slope, inter)


def _affine(hdr):
    try:
        with silenced():
            affine = hdr.get_best_affine()
    except Exception as exc:  # a quaternion or sform nibabel cannot use
        raise ImageFormatError(f"bad NIfTI header: the qform/sform cannot be read ({_plain(exc)})") from None
    if not np.isfinite(affine).all():
        raise ImageFormatError("bad NIfTI header: the qform/sform holds NaN or infinite values")
    if np.linalg.det(affine[:3, :3]) == 0:
        raise ImageFormatError(
            "bad NIfTI header: the voxel-to-world affine is singular (a zero axis in the qform/sform)",
            "fix the header, e.g. with nibabel or fslorient",
        )
    return affine


def _decode_voxels(buf, shape, dtype, scaling):
    data = np.frombuffer(buf, dtype=dtype).reshape(shape, order="F")
    if not dtype.isnative:
        data = data.byteswap().view(dtype.newbyteorder("="))
    return data if scaling is None else _scale(data, scaling)


def _scale(stored, scaling):
    """Stored integers to values, in float32 (float64 for wide integers), as NIfTI defines."""
    slope, inter = scaling
    out_type = np.result_type(stored.dtype, np.float32)
    with np.errstate(all="ignore"):  # huge slopes overflow to inf: the values say so, no warning
        return stored.astype(out_type) * out_type.type(slope) + out_type.type(inter)


def _stored_form(img, data):
    """(stored integers, (slope, inter)) when `data` came from a scaled integer file and its
    values are still exactly that scaling of in-range integers (reading them back gives the
    same values); else (data, None), written as they are."""
    if not img.stored_dtype or img.header is None or data.dtype.kind != "f" or data.size == 0:
        return data, None
    stored = np.dtype(img.stored_dtype)
    scaling = _slope_inter(img.header) if stored.kind in "iu" else None
    if scaling is None:
        return data, None
    work = np.result_type(stored, np.float32)  # what _scale computes in: exact enough to invert
    with np.errstate(all="ignore"):
        raw = np.rint((data.astype(work) - work.type(scaling[1])) / work.type(scaling[0]))
    info = np.iinfo(stored)
    if not np.isfinite(raw).all() or raw.min() < info.min or raw.max() > info.max:
        return data, None
    raw = raw.astype(stored)
    back = _scale(raw, scaling)
    return (raw, scaling) if np.array_equal(back, data.astype(back.dtype)) else (data, None)


def _read_meta(hdr):
    for ext in hdr.extensions:
        if ext.get_code() != MLKIT_ECODE:
            continue
        try:
            payload = json.loads(ext.get_content())
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
            continue
        if isinstance(payload, dict) and isinstance(payload.get("mlkit"), dict):
            return payload["mlkit"]
    return {}


def _is_mlkit_ext(ext):
    return ext.get_code() == MLKIT_ECODE and ext.get_content().startswith(b'{"mlkit"')


def encode(img, version=1):
    """(header bytes, voxel bytes) of `img` as a single-file NIfTI image.

    The voxel bytes are a memoryview: large volumes are not copied when they
    are already in Fortran order.
    """
    data = np.asarray(img.data)
    if data.dtype in _WRITE_AS:
        data = data.astype(_WRITE_AS[data.dtype])
    if data.ndim > 7:
        raise ImageFormatError(f"NIfTI holds at most 7 dimensions, the image has {data.ndim}")
    if max(data.shape) > 32767 and version == 1:
        version = 2
    data, scaling = _stored_form(img, data)
    hdr = _header_for(img, data, nib.Nifti2Header if version == 2 else nib.Nifti1Header, scaling)
    meta = {"name": img.name, "channels": img.channels, "history": img.history, "suffix": img.suffix}
    payload = json.dumps({"mlkit": meta}, sort_keys=True, separators=(",", ":"))
    hdr.extensions.append(Nifti1Extension(MLKIT_ECODE, payload.encode("ascii")))
    hdr["vox_offset"] = 0  # let nibabel place the data right after the extensions
    head = _header_bytes(hdr)
    voxels = np.asfortranarray(data.astype(data.dtype.newbyteorder("<"), copy=False))
    return head, memoryview(voxels.T).cast("B") if voxels.size else b""


def _header_for(img, data, klass, scaling):
    src = img.header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdr = klass() if src is None else klass.from_header(src)
        if hdr.endianness != "<":
            hdr = hdr.as_byteswapped("<")
        hdr.extensions[:] = [e for e in hdr.extensions if not _is_mlkit_ext(e)]
        moved = src is None or not np.array_equal(hdr.get_best_affine(), img.affine)
        old_zooms = list(hdr.get_zooms()) if src is not None else []
        hdr.set_data_shape(data.shape)
        hdr.set_data_dtype(data.dtype)
        hdr["scl_slope"], hdr["scl_inter"] = scaling or (np.nan, np.nan)
        hdr["cal_min"], hdr["cal_max"] = 0, 0
        hdr.set_zooms(_zooms(img, data, old_zooms, moved))
        if moved:
            _set_affine(hdr, img.affine)
    return hdr


def _zooms(img, data, old, moved):
    """Voxel sizes from the affine (or the header's, exactly, when the grid is unchanged);
    beyond the spatial axes (TR...), the source's."""
    if not moved and len(old) == data.ndim:
        return old
    spatial = list(img.voxel_sizes)
    tail = old[len(spatial):] if len(old) == data.ndim else [1.0] * (data.ndim - len(spatial))
    return spatial + tail


def _set_affine(hdr, affine):
    qcode, scode = int(hdr["qform_code"]), int(hdr["sform_code"])
    if qcode == 0 and scode == 0:
        scode = 2  # "aligned": without a code the affine would be lost
    hdr.set_sform(affine, code=scode)
    if qcode:
        hdr.set_qform(affine, code=qcode)


def _header_bytes(hdr):
    buf = io.BytesIO()
    hdr.write_to(buf)
    head = buf.getvalue()
    offset = int(hdr["vox_offset"])
    return head + b"\x00" * (offset - len(head))
