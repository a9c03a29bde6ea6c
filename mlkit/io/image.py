"""The one image type every mlkit command passes around."""

import dataclasses
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Image:
    """A voxel array placed in scanner space.

    data      the voxels; 2D photos are H x W (x C), volumes X x Y x Z (x T)
    affine    4x4 voxel-to-world matrix; when not given, orientation.default_affine (a 2D image
              is placed as a photo is shown: columns to the right, rows down)
    name      what outputs are named after (a file stem)
    history   provenance: one dict per mlkit command that touched the image
    header    the source NIfTI header (nibabel), kept so units and codes survive
    channels  True when the last axis holds colour channels, never a spatial axis
    format    the format it was read from ("nifti1", "png", ...)
    suffix    the file type outputs keep by default (".nii.gz", ".png", ...)
    stored_dtype  the dtype on disk when it differs from `data`'s (scaled NIfTI: int16 on
              disk, float32 in memory); "" when they are the same
    """

    data: np.ndarray
    affine: np.ndarray = None
    name: str = "image"
    history: list = field(default_factory=list)
    header: object = None
    channels: bool = False
    format: str = "nifti1"
    suffix: str = ""
    stored_dtype: str = ""

    def __post_init__(self):
        if self.affine is None:
            from mlkit.io.orientation import default_affine

            self.affine = default_affine(self.spatial_ndim)

    @property
    def spatial_ndim(self):
        if self.channels:
            return self.data.ndim - 1
        return min(self.data.ndim, 3)

    @property
    def spatial_shape(self):
        return self.data.shape[: self.spatial_ndim]

    @property
    def voxel_sizes(self):
        sizes = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return tuple(float(s) for s in sizes[: self.spatial_ndim])

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def with_entry(self, entry):
        """A copy whose history ends with `entry`."""
        return self.replace(history=[*self.history, entry])

    def volumes(self):
        """Yield (index, block) for each spatial block: one per 4D volume.

        Colour channels stay inside their block, so point ops see a photo whole.
        """
        if self.channels or self.data.ndim <= 3:
            yield (), self.data
            return
        extra = self.data.shape[3:]
        for index in np.ndindex(*extra):
            yield index, self.data[(Ellipsis, *index)]


class UnreadableHistory(str):
    """The history of a file whose mlkit metadata cannot be read: the reason, which the reader
    reports once (naming the file) before it gives the image an empty history."""


def json_type(value):
    """JSON's name for the type of a parsed value, for messages about metadata."""
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def map_volumes(img, fn, dtype=None):
    """Apply `fn` to each spatial block of `img` and stack the results.

    Every block's result must have the same shape (it may differ from the
    block's); `dtype` is the output dtype (default: the first result's).
    """
    if img.channels or img.data.ndim <= 3:
        return fn(img.data)
    out = None
    for index, block in img.volumes():
        result = fn(block)
        if out is None:
            out = np.empty(result.shape + img.data.shape[3:], dtype or result.dtype)
        out[(Ellipsis, *index)] = result
    return out


def to_gray(img):
    """The image's gray values as float64: colour by luminance (ITU-R BT.601), as OpenCV does."""
    data = img.data
    if not img.channels:
        return data.astype(np.float64)
    if data.shape[-1] >= 3:
        return data[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return data[..., 0].astype(np.float64)  # gray + alpha


def picture(pixels, name, entry):
    """An H x W (x 3) uint8 picture from an H x W x C array, carrying `entry` in its history."""
    colour = pixels.shape[2] == 3
    data = pixels if colour else pixels[..., 0]
    return Image(data=data, name=name, history=[entry], channels=colour, format="png", suffix=".png")
