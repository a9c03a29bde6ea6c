"""The augmentation engine: draw a copy's parameters, compose them into one mapping, render."""

import dataclasses

import numpy as np

from mlkit import ui
from mlkit.augment import sampler
from mlkit.augment.policy import Policy, bias_terms, draw, in_plane_axes
from mlkit.dtypes import DTYPE_HINT, beyond_range, result_dtype, to_dtype
from mlkit.errors import MlkitError, UsageError
from mlkit.io.orientation import left_right_axis
from mlkit.transform.grid import embed, in_millimetres, rotation, zoom_grid


# The order in which a copy's steps act, recorded with each copy. The affine steps
# compose in this order about the grid centre; elastic and sliceshift then displace
# each sample point; crop and shape choose the output grid; the intensity steps act
# on the resampled values in this order.
COMPOSITION = ("scale", "rotate", "flip", "translate", "elastic", "sliceshift", "crop", "shape",
               "intensity", "gamma", "bias", "noise")


@dataclasses.dataclass
class Options:
    policy: Policy = dataclasses.field(default_factory=Policy)
    order: int = 1  # linear, as --interp's default in every command
    fill: str = "nearest"  # or "constant" (0 beyond the field of view)
    crop: bool = False
    margin: int = 0
    shape: tuple = None
    cmdline: str = None
    seed: int = None
    dtype: str = None  # the output dtype (--dtype): a float one means nothing is rounded or clipped

    def __post_init__(self):
        if self.order not in (0, 1, 3):
            raise UsageError(f"--order must be 0, 1 or 3, got {self.order}")
        if self.fill not in ("nearest", "constant"):
            raise UsageError(f"--fill must be nearest or constant, got {self.fill!r}")
        if self.shape is not None and min(self.shape) < 1:
            raise UsageError(f"--shape needs sizes of at least 1, got {','.join(str(int(s)) for s in self.shape)}")


@dataclasses.dataclass
class _Source:
    """An image (and seg) ready to be resampled many times."""

    img: object
    seg: object
    image_coef: object
    seg_coef: object

    @classmethod
    def prepare(cls, img, seg, order):
        n = img.spatial_ndim
        return cls(
            img,
            seg,
            sampler.Coefficients(img.data, n, order),
            sampler.Coefficients(seg.data, n, 0) if seg is not None else None,
        )


def reproduce(img, seg, record, dtype=None):
    """The copy an augment history entry describes, from its params (`record`) alone:
    the recorded transforms, grid and interpolation order, in the recorded composition."""
    record = {"composition": COMPOSITION, "slice_axis": 2, **record}  # entries older than those keys
    out_img, out_seg, _ = _render(_Source.prepare(img, seg, record["order"]), record, dtype)
    return out_img, out_seg


def content_matrix(params, shape, voxel_sizes, composition=COMPOSITION):
    """Homogeneous matrix: augmented-grid index -> input coordinate, for the affine part.

    The content moves as p_aug = c + F (p_in - c) + t about the grid centre c, F
    and t composed from the affine steps in `composition` order (by default
    F = flip . rotation (in millimetres) . scale, and t the translation).
    """
    n = len(shape)
    centre = (np.asarray(shape, float) - 1) / 2
    forward, shift = np.eye(n), np.zeros(n)
    for name in composition:
        if name == "translate" and name in params:
            shift = shift + np.asarray(params["translate"]["voxels"], float)
        elif name in ("scale", "rotate", "flip") and name in params:
            step = _linear_step(name, params[name], n, voxel_sizes)
            forward, shift = step @ forward, step @ shift
    inverse = np.linalg.inv(forward)
    matrix = np.eye(n + 1)
    matrix[:n, :n] = inverse
    matrix[:n, n] = centre - inverse @ (centre + shift)
    return matrix


def _linear_step(name, params, n, voxel_sizes):
    if name == "scale":
        return np.eye(n) * params["factor"]
    if name == "flip":
        mirror = np.ones(n)
        mirror[params["axes"]] = -1
        return np.diag(mirror)
    step = np.eye(n)
    for plane, degrees in zip(params["planes"], params["degrees"]):
        step = in_millimetres(rotation(n, plane, degrees), voxel_sizes) @ step
    return step


def _draw_grid(source, params, rng, options):
    """The output grid of one copy: a crop window (drawn around the seg) and/or a shape."""
    grid = {}
    shape = source.img.spatial_shape
    if options.crop:
        aug = content_matrix(params, shape, source.img.voxel_sizes)
        origin, size = _crop_window(source.seg_coef, aug, params, shape, rng, options)
        grid["crop"] = {"origin": [int(o) for o in origin], "shape": list(size)}
    if options.shape is not None:
        grid["shape"] = [int(s) for s in options.shape]
    return grid


def _grid_matrix(grid_params, shape):
    """Output index -> augmented-grid coordinate, and the output shape."""
    n = len(shape)
    grid = np.eye(n + 1)
    out_shape = tuple(shape)
    if "crop" in grid_params:
        grid[:n, n] = grid_params["crop"]["origin"]
        out_shape = tuple(grid_params["crop"]["shape"])
    if "shape" in grid_params:
        step = np.asarray(out_shape, float) / np.asarray(grid_params["shape"], float)
        grid = grid @ zoom_grid(step)
        out_shape = tuple(grid_params["shape"])
    return grid, out_shape


def _render(source, record, dtype):
    """One copy from its record: (image, seg or None, voxels the output dtype clipped)."""
    img, seg = source.img, source.seg
    n, shape = img.spatial_ndim, img.spatial_shape
    params, slice_axis = record["transforms"], record["slice_axis"]
    aug = content_matrix(params, shape, img.voxel_sizes, record["composition"])
    grid, out_shape = _grid_matrix(record["grid"], shape)
    matrix = aug @ grid
    slices = _slice_offsets(params, grid, out_shape, slice_axis, n)
    field = _elastic_field(params, grid, shape) if "elastic" in params else None
    moved = sampler.resample(source.image_coef, matrix, out_shape, slice_axis, slices, field).astype(np.float32, copy=False)
    out_dtype = result_dtype(img.data.dtype, dtype)
    # what the interpolation alone overshoots is not the intensity steps' doing
    before = beyond_range(moved, out_dtype) if any(step in params for step in INTENSITY_STEPS) else None
    moved = _intensity(moved, params, n, record["composition"])
    outside = sampler.outside_mask(matrix, out_shape, shape) if record["fill"] == "constant" else None
    if outside is not None:
        moved[outside] = 0
    clipped = 0 if before is None else int(np.count_nonzero(beyond_range(moved, out_dtype) & ~before))
    affine = img.affine if np.array_equal(grid, np.eye(n + 1)) else img.affine @ embed(grid, n)
    out_img = img.replace(data=_cast(moved, img, out_dtype), affine=affine)
    out_seg = None
    if seg is not None:
        labels_out = sampler.resample(source.seg_coef, matrix, out_shape, slice_axis, slices, field)
        if outside is not None and not seg.data.all():  # the seg has a background label (0) to fill with
            labels_out[outside] = 0
        out_seg = seg.replace(data=_cast(labels_out, seg, seg.data.dtype), affine=affine)
    return out_img, out_seg, clipped


def _warn_clipped(img, clipped, n):
    dtype = img.data.dtype
    info = np.iinfo(dtype)
    copies = "its copy" if n == 1 else f"its {n} copies"
    ui.warn(
        f"{img.name}: the intensity transforms took {clipped} voxels of {copies} beyond the {dtype} range "
        f"{info.min}..{info.max}; they were clipped (use --dtype float32 to keep them)"
    )


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


def _intensity(values, params, n, composition):
    """The intensity steps on the resampled float32 values, in `composition` order."""
    for name in composition:
        if name in INTENSITY_STEPS and name in params:
            values = INTENSITY_STEPS[name](values, params[name], n)
    return values


def _factor(values, params, n):
    values *= np.float32(params["value"])
    return values


def _gamma(values, params, n):
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return values
    unit = (values - low) / (high - low)
    return (low + (high - low) * unit ** params["value"]).astype(np.float32)


def _bias(values, params, n):
    spatial = values.shape[:n]
    coords = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in spatial], indexing="ij"))
    log_field = sum(c * t for c, t in zip(params["coefficients"], bias_terms(coords)))
    values *= np.exp(log_field).astype(np.float32)[..., None]
    return values


def _noise(values, params, n):
    spread = float(values.max() - values.min())
    noise = np.random.default_rng(params["seed"]).normal(0, params["value"] * spread, values.shape)
    values += noise.astype(np.float32)
    return values


INTENSITY_STEPS = {"intensity": _factor, "gamma": _gamma, "bias": _bias, "noise": _noise}


def _cast(values, like, dtype):
    """Back to the input's layout, as `dtype` (integers rounded and clipped)."""
    data = values.reshape(values.shape[: like.spatial_ndim] + like.data.shape[like.spatial_ndim :])
    return data if data.dtype == dtype else to_dtype(data, dtype, DTYPE_HINT)  # labels come back in their own dtype


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




def draw_copies(img, seg, n, seedseq, options):
    """Yield (copy number, image, seg or None, record) for `n` copies, one at a time; the record
    holds everything drawn for the copy, enough for reproduce()."""
    _check_pair(img, seg)
    n_spatial = img.spatial_ndim
    if options.shape is not None and len(options.shape) != n_spatial:
        raise MlkitError(f"--shape needs {n_spatial} sizes for this image, got {len(options.shape)}")
    source = _Source.prepare(img, seg, options.order)
    clipped = 0
    for k, child in enumerate(seedseq.spawn(n), start=1):
        rng = np.random.default_rng(child)
        params = draw(options.policy, rng, img.spatial_shape, n_spatial, left_right_axis(img))
        grid = _draw_grid(source, params, rng, options)
        record = {
            "copy": k,
            "stream": list(child.spawn_key),  # with the seed, this redraws exactly this copy
            "transforms": params,
            "grid": grid,
            "composition": [step for step in COMPOSITION if step in params or step in grid],
            "order": options.order,
            "fill": options.fill,
            "slice_axis": options.policy.slice_axis,
        }
        out_img, out_seg, beyond = _render(source, record, options.dtype)
        clipped += beyond
        yield k, out_img, out_seg, record
    if clipped:
        _warn_clipped(img, clipped, n)
