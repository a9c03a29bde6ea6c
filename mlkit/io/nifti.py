"""NIfTI-1/2 single-file images, read from and written to plain byte streams.

Reading never seeks, so the same code serves files, gzip streams and pipes that
carry many images one after another (the mlkit stream).
"""

import io
import json
import logging
import struct
import warnings

import nibabel as nib
import numpy as np
from nibabel.nifti1 import Nifti1Extension

from mlkit.errors import ImageFormatError
from mlkit.io import nifti_light as light
from mlkit.io.nifti_light import MLKIT_ECODE
from mlkit.io.quiet import silenced

# NIfTI has no bool or float16; these are written as the next type up.
_WRITE_AS = {np.dtype(bool): np.uint8, np.dtype(np.float16): np.float32}
# nibabel reports the header fixes it makes through a logger; mlkit keeps them quiet.
_QUIET_LOG = logging.getLogger("mlkit.nibabel_fixes")
_QUIET_LOG.addHandler(logging.NullHandler())
_QUIET_LOG.propagate = False


def read_image(source, kind, default_name):
    """Read one image from `source` (a ByteSource positioned at its header); `kind` is
    'nifti1' or 'nifti2' (nifti_light.kind).

    Every field that sizes or places data is checked before it is used, so a malformed
    header costs one plain message, never a huge allocation or a Python exception."""
    klass = nib.Nifti2Header if kind == "nifti2" else nib.Nifti1Header
    hdr, shape = _read_header(source, klass)
    dtype, affine = hdr.get_data_dtype(), _affine(hdr)
    img, blocks = light.read_body(source, hdr, kind, shape, dtype, affine, default_name)
    hdr.extensions = nib.nifti1.Nifti1Extensions([Nifti1Extension(code, content) for code, content in blocks])
    return img


def _read_header(source, klass):
    """The fixed-size header and the image shape. nibabel fixes what it safely can (bitpix,
    pixdim signs) quietly and refuses what it cannot (an unknown datatype)."""
    raw = bytes(source.read_exact(klass.template_dtype.itemsize, "NIfTI header"))
    # The byte order from sizeof_hdr: nibabel guesses it from dim[0], which may be the bad field.
    order = "<" if struct.unpack("<i", raw[:4])[0] == len(raw) else ">"
    hdr = klass(raw, endianness=order, check=False)
    shape = light.check_dims(hdr)
    try:
        with silenced():
            hdr.check_fix(logger=_QUIET_LOG, error_level=40)
            hdr.get_data_dtype()
    except Exception as exc:  # HeaderDataError, WrapStructError, KeyError...: a bad header
        raise ImageFormatError(f"bad NIfTI header: {_plain(exc)}") from None
    return hdr, shape


def _plain(exc):
    return (str(exc).splitlines() or ["unreadable field"])[0].strip("'\"")


def _affine(hdr):
    try:
        with silenced():
            affine = hdr.get_best_affine()
    except Exception as exc:  # a quaternion or sform nibabel cannot use
        raise ImageFormatError(f"bad NIfTI header: the qform/sform cannot be read ({_plain(exc)})") from None
    return light.check_affine(affine)


def _stored_form(img, data):
    """(stored integers, (slope, inter)) when `data` came from a scaled integer file and its
    values are still exactly that scaling of in-range integers (reading them back gives the
    same values); else (data, None), written as they are."""
    if not img.stored_dtype or img.header is None or data.dtype.kind != "f" or data.size == 0:
        return data, None
    stored = np.dtype(img.stored_dtype)
    scaling = light.slope_inter(img.header) if stored.kind in "iu" else None
    if scaling is None:
        return data, None
    work = np.result_type(stored, np.float32)  # what light.scale computes in: exact enough to invert
    with np.errstate(all="ignore"):
        raw = np.rint((data.astype(work) - work.type(scaling[1])) / work.type(scaling[0]))
    info = np.iinfo(stored)
    if not np.isfinite(raw).all() or raw.min() < info.min or raw.max() > info.max:
        return data, None
    raw = raw.astype(stored)
    back = light.scale(raw, scaling)
    return (raw, scaling) if np.array_equal(back, data.astype(back.dtype)) else (data, None)


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
