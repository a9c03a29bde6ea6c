"""Random augmentation of images and volumes, segmentations moved exactly like their image.

    from mlkit.augment import Options, augment
    copies = augment(img, seg, n=10, seedseq=np.random.SeedSequence(42), options=Options())

All spatial transforms of a copy (rotate, scale, translate, flip, per-slice motion,
elastic, crop, output shape) are composed into one mapping and each image is
interpolated once. The output keeps the input's affine unless --crop or --shape
change the grid, in which case the affine follows the new grid exactly.
"""

import dataclasses
import math

import numpy as np

from mlkit import provenance
from mlkit.augment import sampler
from mlkit.augment.policy import Policy, bias_terms, draw, in_plane_axes
from mlkit.dtypes import to_dtype
from mlkit.errors import MlkitError
from mlkit.ops.geometry import embed


@dataclasses.dataclass
class Options:
    policy: Policy = dataclasses.field(default_factory=Policy)
    order: int = 3
    fill: str = "nearest"  # or "constant" (0 beyond the field of view)
    crop: bool = False
    margin: int = 0
    shape: tuple = None
    cmdline: str = None
    seed: int = None


def augment(img, seg, n, seedseq, options):
    """`n` augmented copies of `img` (and `seg`): a list of (image, seg or None)."""
    _check_pair(img, seg)
    n_spatial = img.spatial_ndim
    if options.shape is not None and len(options.shape) != n_spatial:
        raise MlkitError(f"--shape needs {n_spatial} sizes for this image, got {len(options.shape)}")
    image_coef = sampler.Coefficients(img.data, n_spatial, options.order)
    seg_coef = sampler.Coefficients(seg.data, n_spatial, 0) if seg is not None else None
    labels = np.unique(seg.data) if seg is not None else None
    width = max(3, len(str(n)))
    copies = []
    for k, child in enumerate(seedseq.spawn(n), start=1):
        rng = np.random.default_rng(child)
        params = draw(options.policy, rng, img.spatial_shape, n_spatial, left_right_axis(img))
        out_img, out_seg, grid = _one_copy(img, seg, image_coef, seg_coef, labels, params, rng, options)
        record = {
            "copy": k,
            "stream": list(child.spawn_key),  # with the seed, this redraws exactly this copy
            "transforms": params,
            "grid": grid,
            "order": options.order,
            "fill": options.fill,
        }
        entry = provenance.entry("augment", record, seed=options.seed, cmdline=options.cmdline)
        suffix = f"_aug{k:0{width}d}"
        copies.append((
            out_img.replace(name=img.name + suffix, history=[*img.history, entry]),
            None if seg is None else out_seg.replace(name=seg.name + suffix, history=[*seg.history, entry]),
        ))
    return copies


def left_right_axis(img):
    """The voxel axis closest to scanner x (left-right); columns for photos."""
    if img.header is None and img.format not in ("nifti1", "nifti2"):
        return 1
    return int(np.argmax(np.abs(img.affine[0, : img.spatial_ndim])))


def content_matrix(params, shape, voxel_sizes):
    """Homogeneous matrix: augmented-grid index -> input coordinate, for the affine part.

    The content moves as p_aug = c + F (p_in - c) + t about the grid centre c,
    with F = flip . rotation (in millimetres) . scale.
    """
    n = len(shape)
    centre = (np.asarray(shape, float) - 1) / 2
    forward = np.eye(n)
    if "scale" in params:
        forward = forward * params["scale"]["factor"]
    if "rotate" in params:
        sizes = np.asarray(voxel_sizes, float)
        for plane, degrees in zip(params["rotate"]["planes"], params["rotate"]["degrees"]):
            forward = np.diag(1 / sizes) @ _rotation(n, plane, degrees) @ np.diag(sizes) @ forward
    if "flip" in params:
        mirror = np.ones(n)
        mirror[params["flip"]["axes"]] = -1
        forward = np.diag(mirror) @ forward
    shift = np.asarray(params.get("translate", {}).get("voxels", np.zeros(n)), float)
    inverse = np.linalg.inv(forward)
    matrix = np.eye(n + 1)
    matrix[:n, :n] = inverse
    matrix[:n, n] = centre - inverse @ (centre + shift)
    return matrix


def _rotation(n, plane, degrees):
    a, b = plane
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    rot = np.eye(n)
    rot[a, a], rot[a, b], rot[b, a], rot[b, b] = c, -s, s, c
    return rot


def _one_copy(img, seg, image_coef, seg_coef, labels, params, rng, options):
    n = img.spatial_ndim
    shape = img.spatial_shape
    aug = content_matrix(params, shape, img.voxel_sizes)
    grid = np.eye(n + 1)
    out_shape = tuple(shape)
    grid_params = {}
    if options.crop:
        origin, out_shape = _crop_window(seg_coef, aug, params, shape, rng, options)
        grid[:n, n] = origin
        grid_params["crop"] = {"origin": [int(o) for o in origin], "shape": list(out_shape)}
    if options.shape is not None:
        step = np.asarray(out_shape, float) / np.asarray(options.shape, float)
        grid = grid @ _resize_matrix(step)
        out_shape = tuple(int(s) for s in options.shape)
        grid_params["shape"] = list(out_shape)
    matrix = aug @ grid
    slices = _slice_offsets(params, grid, out_shape, options.policy.slice_axis, n)
    field = _elastic_field(params, grid, shape) if "elastic" in params else None
    moved = sampler.resample(image_coef, matrix, out_shape, options.policy.slice_axis, slices, field)
    moved = _intensity(moved, params, n)
    outside = sampler.outside_mask(matrix, out_shape, shape) if options.fill == "constant" else None
    if outside is not None:
        moved[outside] = 0
    affine = img.affine if np.array_equal(grid, np.eye(n + 1)) else img.affine @ embed(grid, n)
    out_img = img.replace(data=_cast(moved, img), affine=affine)
    out_seg = None
    if seg is not None:
        labels_out = sampler.resample(seg_coef, matrix, out_shape, options.policy.slice_axis, slices, field)
        if outside is not None and 0 in labels:
            labels_out[outside] = 0
        out_seg = seg.replace(data=_cast(labels_out, seg), affine=affine)
    return out_img, out_seg, grid_params


def _crop_window(seg_coef, aug, params, shape, rng, options):
    """A square in-plane window that holds the whole (augmented) segmentation plus margin."""
    if seg_coef is None:
        raise MlkitError("--crop needs --seg: the crop is placed around the segmentation")
    n = len(shape)
    slices = _slice_offsets(params, np.eye(n + 1), shape, options.policy.slice_axis, n)
    field = _elastic_field(params, np.eye(n + 1), shape) if "elastic" in params else None
    labels = sampler.resample(seg_coef, aug, shape, options.policy.slice_axis, slices, field)[..., 0]
    found = np.argwhere(labels != 0)
    if found.size == 0:
        raise MlkitError("the segmentation is empty, so --crop has nothing to keep in view")
    low, high = found.min(axis=0), found.max(axis=0)
    plane = in_plane_axes(n, options.policy.slice_axis)
    side = max(int(high[a] - low[a] + 1) for a in plane) + 2 * options.margin
    origin, size = [0] * n, list(shape)
    for a in plane:
        size[a] = min(shape[a], max(side, int(high[a] - low[a] + 1)))
        first = max(0, int(high[a]) - size[a] + 1)
        last = min(int(low[a]), shape[a] - size[a])
        origin[a] = int(rng.integers(first, last + 1)) if last >= first else max(0, min(first, shape[a] - size[a]))
    return np.asarray(origin, float), tuple(size)


def _resize_matrix(step):
    """Final index q -> window coordinate, voxel centres aligned as scipy's zoom(grid_mode=True)."""
    n = len(step)
    matrix = np.eye(n + 1)
    matrix[:n, :n] = np.diag(step)
    matrix[:n, n] = (step - 1) / 2
    return matrix


def _slice_offsets(params, grid, out_shape, slice_axis, n):
    """{output slice: in-plane source offset} for the slices that moved (simulated motion)."""
    if "sliceshift" not in params or n != 3:
        return {}
    moved = dict(zip(params["sliceshift"]["slices"], params["sliceshift"]["shifts"]))
    offsets = {}
    for z in range(out_shape[slice_axis]):
        source_slice = int(round(grid[slice_axis, slice_axis] * z + grid[slice_axis, n]))
        if source_slice in moved:
            offsets[z] = -np.asarray(moved[source_slice], float)
    return offsets


def _elastic_field(params, grid, shape):
    """Dense displacement (input voxels) on the output grid, from cubic B-spline control points."""
    control = np.asarray(params["elastic"]["control"], float)
    n = len(shape)
    points = control.shape[1]

    def field(out_shape):
        bases = []
        for a in range(n):
            positions = grid[a, a] * np.arange(out_shape[a]) + grid[a, n]
            u = positions * (points - 1) / max(shape[a] - 1, 1)
            bases.append(_bspline3(u[:, None] - np.arange(points)[None, :]))
        if n == 2:
            return np.einsum("ia,jb,cab->cij", bases[0], bases[1], control, optimize=True)
        return np.einsum("ia,jb,kd,cabd->cijk", bases[0], bases[1], bases[2], control, optimize=True)

    return field


def _bspline3(x):
    x = np.abs(x)
    return np.where(x < 1, 2 / 3 - x**2 + x**3 / 2, np.where(x < 2, (2 - x) ** 3 / 6, 0.0))


def _intensity(values, params, n):
    """Intensity changes on the resampled float32 values: factor, gamma, bias, then noise."""
    if "intensity" in params:
        values *= np.float32(params["intensity"]["value"])
    if "gamma" in params:
        low, high = float(values.min()), float(values.max())
        if high > low:
            unit = (values - low) / (high - low)
            values = (low + (high - low) * unit ** params["gamma"]["value"]).astype(np.float32)
    if "bias" in params:
        spatial = values.shape[:n]
        coords = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in spatial], indexing="ij"))
        log_field = sum(c * t for c, t in zip(params["bias"]["coefficients"], bias_terms(coords)))
        values *= np.exp(log_field).astype(np.float32)[..., None]
    if "noise" in params:
        spread = float(values.max() - values.min())
        noise = np.random.default_rng(params["noise"]["seed"]).normal(0, params["noise"]["value"] * spread, values.shape)
        values += noise.astype(np.float32)
    return values


def _cast(values, like):
    """Back to the input's layout and dtype (integers rounded and clipped)."""
    data = values.reshape(values.shape[: like.spatial_ndim] + like.data.shape[like.spatial_ndim :])
    return to_dtype(data, like.data.dtype)


def _check_pair(img, seg):
    if seg is None:
        return
    if seg.data.shape != img.spatial_shape:
        raise MlkitError(
            f"segmentation shape {seg.data.shape} does not match the image's {img.spatial_shape}",
            "give each image its own segmentation, in the same order",
        )
    if not np.allclose(seg.affine, img.affine, atol=1e-3):
        raise MlkitError("segmentation affine differs from the image's", "resample it onto the image grid first")
    if not np.issubdtype(seg.data.dtype, np.integer) and seg.data.dtype != bool:
        if not np.array_equal(seg.data, np.rint(seg.data)):
            raise MlkitError("segmentation has non-integer values", "labels must be whole numbers")


def batch_step(img, seedseq, extra=None, n=1, options=None):
    """Batch work function for `mlkit augment`: copies of one image (and its seg, `extra`)."""
    from mlkit.io.read import read_image

    seg = read_image(extra) if extra else None
    out = []
    for copy, seg_copy in augment(img, seg, n, seedseq, options or Options()):
        out.append(copy)
        if seg_copy is not None:
            out.append(seg_copy)
    return out
