"""NIfTI-1/2 single-file images, read from and written to plain byte streams.

Reading never seeks, so the same code serves files, gzip streams and pipes that
carry many images one after another (the mlkit stream).
"""

import io
import json
import struct
import warnings

import nibabel as nib
import numpy as np
from nibabel.nifti1 import Nifti1Extension

from mlkit.errors import ImageFormatError
from mlkit.io.image import Image

# 'comment' extensions hold text; ours is JSON under the key "mlkit".
MLKIT_ECODE = 6
# NIfTI has no bool or float16; these are written as the next type up.
_WRITE_AS = {np.dtype(bool): np.uint8, np.dtype(np.float16): np.float32}


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
    """Read one image from `source` (a ByteSource positioned at its header)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdr = klass.from_fileobj(source)
            shape = hdr.get_data_shape()
            dtype = hdr.get_data_dtype()
    except (nib.spatialimages.HeaderDataError, ValueError, TypeError) as exc:
        raise ImageFormatError(f"bad NIfTI header: {exc}") from None
    gap = int(hdr["vox_offset"]) - source.tell()
    if gap > 0:
        source.read_exact(gap, "NIfTI extensions")
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = source.read_exact(nbytes, "NIfTI voxel data")
    data = _decode_voxels(buf, shape, dtype, hdr)
    meta = _read_meta(hdr)
    channels = bool(meta.get("channels", False))
    if data.dtype.names:  # RGB24/RGBA32: a structured dtype becomes a channel axis
        data = np.stack([data[f] for f in data.dtype.names], axis=-1)
        channels = True
    fmt = "nifti2" if klass is nib.Nifti2Header else "nifti1"
    return Image(
        data=data,
        affine=hdr.get_best_affine(),
        name=meta.get("name") or default_name,
        history=list(meta.get("history", [])),
        header=hdr,
        channels=channels,
        format=fmt,
        suffix=meta.get("suffix", ""),
    )


def _decode_voxels(buf, shape, dtype, hdr):
    data = np.frombuffer(buf, dtype=dtype).reshape(shape, order="F")
    if not dtype.isnative:
        data = data.byteswap().view(dtype.newbyteorder("="))
    slope, inter = hdr.get_slope_inter()
    if slope is None or (slope == 1 and (inter or 0) == 0):
        return data
    out_type = np.result_type(data.dtype, np.float32)
    return data.astype(out_type) * out_type.type(slope) + out_type.type(inter or 0)


def _read_meta(hdr):
    for ext in hdr.extensions:
        if ext.get_code() != MLKIT_ECODE:
            continue
        try:
            payload = json.loads(ext.get_content())
        except (ValueError, UnicodeDecodeError):
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
    hdr = _header_for(img, data, nib.Nifti2Header if version == 2 else nib.Nifti1Header)
    meta = {"name": img.name, "channels": img.channels, "history": img.history, "suffix": img.suffix}
    payload = json.dumps({"mlkit": meta}, sort_keys=True, separators=(",", ":"))
    hdr.extensions.append(Nifti1Extension(MLKIT_ECODE, payload.encode("ascii")))
    hdr["vox_offset"] = 0  # let nibabel place the data right after the extensions
    head = _header_bytes(hdr)
    voxels = np.asfortranarray(data.astype(data.dtype.newbyteorder("<"), copy=False))
    return head, memoryview(voxels.T).cast("B") if voxels.size else b""


def _header_for(img, data, klass):
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
        hdr["scl_slope"], hdr["scl_inter"] = np.nan, np.nan
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
