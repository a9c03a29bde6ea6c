"""Images to the 2D planes a model sees and back: photos whole, volumes slice by slice.

Every plane goes to [0, 1] with its image's intensity scaling (lo, hi): 0..max for integer
photos, robust percentiles (0.5, 99.5) per volume or float photo. Unlike training sets, a
volume keeps all its slices, empty ones too, so decoding can rebuild it whole.
"""

import dataclasses

import numpy as np

from mlkit.deep.data import fit_size, to_channels
from mlkit.errors import MlkitError


@dataclasses.dataclass
class Meta:
    """What decoding needs to put an image back: its name, shape, dtype, affine and scaling."""

    name: str
    shape: tuple
    dtype: str
    affine: list
    lo: float
    hi: float
    volume: bool
    slice_axis: int = 2
    suffix: str = ""
    format: str = ""
    nifti: dict = None  # the source NIfTI header's geometry fields (NIFTI_FIELDS), when there was one

    @property
    def plane_shape(self):
        """(h, w, c) of one plane."""
        if not self.volume:
            return (self.shape[0], self.shape[1], self.shape[2] if len(self.shape) == 3 else 1)
        kept = [n for axis, n in enumerate(self.shape[:3]) if axis != self.slice_axis]
        return (kept[0], kept[1], 1)

    @property
    def count(self):
        """How many planes the image gives."""
        if not self.volume:
            return 1
        return int(self.shape[self.slice_axis]) * int(np.prod(self.shape[3:], dtype=np.int64))


def meta_of(img, slice_axis=2):
    data = np.asarray(img.data)
    volume = not img.channels and data.ndim >= 3
    if data.ndim < 2 or data.size == 0:
        raise MlkitError(f"a {data.ndim}D image of {data.size} values: give 2D images or 3D/4D volumes")
    if volume and not 0 <= slice_axis < 3:
        raise MlkitError(f"--slice-axis {slice_axis} is not 0, 1 or 2")
    lo, hi = _scaling(data, volume)
    affine = None if np.allclose(img.affine, np.eye(4)) else [float(v) for v in np.asarray(img.affine).ravel()]
    return Meta(img.name, tuple(int(n) for n in data.shape), data.dtype.name, affine, lo, hi, volume,
                slice_axis if volume else 2, img.suffix or "", img.format or "", nifti_fields(img.header))


# What decode puts back into a NIfTI header: both codes, the quaternion and the sform rows
# exactly as stored (not recomputed from the affine), the voxel sizes (time too) and units.
NIFTI_INTS = ("qform_code", "sform_code", "xyzt_units")
NIFTI_FLOATS = {"quatern_b": 1, "quatern_c": 1, "quatern_d": 1, "qoffset_x": 1, "qoffset_y": 1, "qoffset_z": 1,
                "srow_x": 4, "srow_y": 4, "srow_z": 4, "pixdim": 8, "toffset": 1}


def nifti_fields(header):
    """The geometry fields of a NIfTI header as JSON numbers (float32 values are exact in JSON)."""
    if header is None or "qform_code" not in getattr(header, "keys", lambda: ())():
        return None
    out = {key: int(header[key]) for key in NIFTI_INTS}
    for key, n in NIFTI_FLOATS.items():
        values = [float(v) for v in np.asarray(header[key], np.float64).ravel()]
        out[key] = values if n > 1 else values[0]
        if not np.isfinite(values).all():
            return None
    return out


def nifti_header(meta, data):
    """A NIfTI-1 header for decoded voxels carrying the stored geometry fields."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(data.shape)
    hdr.set_data_dtype(data.dtype)
    for key, value in meta.nifti.items():
        hdr[key] = value
    return hdr


def _scaling(data, volume):
    if data.dtype == bool:
        return 0.0, 1.0
    if np.issubdtype(data.dtype, np.integer) and not volume:
        return 0.0, float(np.iinfo(data.dtype).max)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(finite, [0.5, 99.5]))
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    return lo, (hi if hi > lo else lo + 1.0)


def unit_planes(img, meta):
    """The image's planes at their own size, H x W x C float32 in [0, 1]."""
    data = np.asarray(img.data, dtype=np.float32)
    scaled = np.clip(np.nan_to_num((data - meta.lo) / (meta.hi - meta.lo), nan=0.0), 0.0, 1.0).astype(np.float32)
    if not meta.volume:
        return [scaled if scaled.ndim == 3 else scaled[..., None]]
    stack = scaled.reshape(scaled.shape[:3] + (-1,))
    return [np.take(stack[..., t], k, axis=meta.slice_axis)[..., None]
            for t in range(stack.shape[3]) for k in range(stack.shape[meta.slice_axis])]


def to_model(planes, size, channels):
    """Planes resized (stretched) to the model's size and channel count: N x H x W x C."""
    out = np.empty((len(planes), size[0], size[1], channels), np.float32)
    for i, plane in enumerate(planes):
        out[i] = to_channels(fit_size(plane, size, mode="stretch"), channels)
    return out


def from_model(recon, meta):
    """Model outputs (the image's planes, model size) back to the planes' own size and channels."""
    h, w, c = meta.plane_shape
    return [to_channels(fit_size(np.ascontiguousarray(p), (h, w), mode="stretch"), c) for p in recon]


def assemble(planes, meta):
    """The image's voxels, in its dtype and shape, from its unit planes."""
    unit = np.stack(planes) if planes else np.empty((0,) + meta.plane_shape, np.float32)
    if meta.volume:
        n_slices = meta.shape[meta.slice_axis]
        unit = unit[..., 0].reshape((-1, n_slices) + unit.shape[1:3])  # t, k, a, b
        unit = np.moveaxis(unit, 1, meta.slice_axis + 1)  # t, x, y, z
        unit = np.moveaxis(unit, 0, -1).reshape(meta.shape)
    else:
        unit = unit[0].reshape(meta.shape)
    return _from_unit(unit, meta)


def _from_unit(unit, meta):
    from mlkit.io.write import cast

    values = meta.lo + unit.astype(np.float64) * (meta.hi - meta.lo)
    if meta.dtype == "bool":
        return values >= 0.5
    return cast(values, meta.dtype)
