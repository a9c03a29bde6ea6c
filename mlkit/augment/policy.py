"""What `augment` may do to a copy, and the random draws that decide what it does."""

import dataclasses
import math

import numpy as np

from mlkit.errors import MlkitError
from mlkit.errors import UsageError

SPATIAL = ("rotate", "scale", "translate", "flip", "sliceshift", "elastic")
INTENSITY = ("intensity", "gamma", "noise", "bias")
TRANSFORMS = SPATIAL + INTENSITY
DEFAULT_ENABLED = ("rotate", "scale", "translate", "intensity", "flip", "sliceshift")
RANGES = ("rotate", "scale", "translate", "sliceshift_fraction", "sliceshift", "elastic", "intensity", "gamma", "noise", "bias")
POSITIVE = ("scale", "gamma")
NON_NEGATIVE = ("sliceshift_fraction", "elastic", "noise", "bias")


@dataclasses.dataclass
class Policy:
    """Ranges are (low, high), drawn uniformly; axes are spatial axis indices (None: default)."""

    enabled: tuple = DEFAULT_ENABLED
    mode: str = "subset"  # "subset": a random non-empty subset per copy; "all": every enabled transform
    rotate: tuple = (-10.0, 10.0)
    rotate_axes: object = None  # None: the in-plane axes; "all": each plane of a volume
    scale: tuple = (0.9, 1.1)
    translate: tuple = (-5.0, 5.0)
    translate_axes: object = None  # None: the in-plane axes
    flip_axes: object = None  # None: left-right
    sliceshift_fraction: tuple = (0.05, 0.2)
    sliceshift: tuple = (-3.0, 3.0)
    elastic: tuple = (0.0, 4.0)  # largest displacement of a control point, voxels
    elastic_points: int = 7
    intensity: tuple = (0.8, 1.2)
    gamma: tuple = (0.7, 1.5)
    noise: tuple = (0.0, 0.05)  # standard deviation, as a fraction of the intensity range
    bias: tuple = (0.0, 0.3)  # polynomial coefficient bound of the log bias field
    slice_axis: int = 2

    def __post_init__(self):
        unknown = [t for t in self.enabled if t not in TRANSFORMS]
        if unknown:
            raise UsageError(f"--transforms: unknown transform {', '.join(unknown)}", f"choose from {', '.join(TRANSFORMS)}")
        if not self.enabled:
            raise UsageError("no transform enabled", "name some with --transforms")
        if self.mode not in ("subset", "all"):
            raise UsageError(f"--policy must be subset or all, got {self.mode!r}")
        for name in RANGES:
            low, high = getattr(self, name)
            option = "--" + name.replace("_", "-")
            if not (math.isfinite(low) and math.isfinite(high)):
                raise UsageError(f"{option} {low:g} {high:g}: the range needs finite numbers")
            if low > high:
                raise UsageError(f"{option} {low:g} {high:g} is an empty range", "give LO first, then HI")
        for name in POSITIVE:
            if getattr(self, name)[0] <= 0:
                raise UsageError(f"--{name} range must be positive, got {getattr(self, name)[0]:g}")
        for name in NON_NEGATIVE:
            if getattr(self, name)[0] < 0:
                raise UsageError(f"--{name} range must not go below 0, got {getattr(self, name)[0]:g}")
        if self.sliceshift_fraction[1] > 1:
            raise UsageError(f"--sliceshift-fraction must be within 0..1, got {self.sliceshift_fraction[1]:g}")
        self._check_axes()

    def axis_options(self):
        """(option, axes) for each option that names spatial axes."""
        return (("--rotate-axes", self.rotate_axes), ("--translate-axes", self.translate_axes), ("--flip-axes", self.flip_axes))

    def _check_axes(self):
        for option, axes in self.axis_options():
            if axes is None or axes == "all":
                continue
            if not axes or any(not 0 <= a <= 2 for a in axes):
                raise UsageError(f"{option} takes spatial axes 0, 1 or 2, got {','.join(map(str, axes))}")
        if self.rotate_axes not in (None, "all") and (len(self.rotate_axes) != 2 or len(set(self.rotate_axes)) != 2):
            raise UsageError("--rotate-axes takes two different axes, e.g. 0,2")
        if not 0 <= self.slice_axis <= 2:
            raise UsageError(f"--slice-axis must be 0, 1 or 2, got {self.slice_axis}")


def choose(policy, rng, applicable):
    """The transforms one copy applies: all enabled, or a random non-empty subset of them."""
    names = [t for t in policy.enabled if t in applicable]
    if not names:
        raise MlkitError("none of the enabled transforms applies to this image")
    if policy.mode == "all":
        return names
    while True:
        picked = [t for t in names if rng.random() < 0.5]
        if picked:
            return picked


def draw(policy, rng, shape, n_spatial, lr_axis):
    """Random parameters for one copy: {transform: params}, JSON-ready."""
    applicable = set(TRANSFORMS) - ({"sliceshift"} if n_spatial == 2 else set())
    _check_axes_exist(policy, n_spatial)
    plane = in_plane_axes(n_spatial, policy.slice_axis)
    params = {}
    for name in choose(policy, rng, applicable):
        if name == "rotate":
            planes = _rotation_planes(policy, n_spatial, plane)
            params[name] = {"planes": planes, "degrees": [_uniform(rng, policy.rotate) for _ in planes]}
        elif name == "scale":
            params[name] = {"factor": _uniform(rng, policy.scale)}
        elif name == "translate":
            axes = list(policy.translate_axes) if policy.translate_axes is not None else plane
            params[name] = {"voxels": [_uniform(rng, policy.translate) if a in axes else 0.0 for a in range(n_spatial)]}
        elif name == "flip":
            axes = list(policy.flip_axes) if policy.flip_axes is not None else [lr_axis]
            flipped = [a for a in axes if rng.random() < 0.5] or [axes[int(rng.integers(len(axes)))]]
            params[name] = {"axes": sorted(flipped)}
        elif name == "sliceshift":
            params[name] = _draw_sliceshift(policy, rng, shape, plane)
        elif name == "elastic":
            params[name] = _draw_elastic(policy, rng, n_spatial)
        else:
            params[name] = {"value": _uniform(rng, getattr(policy, name))}
            if name == "noise":
                params[name]["seed"] = int(rng.integers(2**31))
            if name == "bias":
                params[name]["coefficients"] = _draw_bias(rng, params[name]["value"], n_spatial)
    return params


def _check_axes_exist(policy, n_spatial):
    for option, axes in policy.axis_options():
        if axes not in (None, "all") and max(axes) >= n_spatial:
            raise MlkitError(f"{option} {','.join(map(str, axes))}: the image has {n_spatial} spatial axes (0..{n_spatial - 1})")


def in_plane_axes(n_spatial, slice_axis):
    return [0, 1] if n_spatial == 2 else [a for a in range(3) if a != slice_axis]


def _rotation_planes(policy, n_spatial, plane):
    if policy.rotate_axes == "all" and n_spatial == 3:
        return [[0, 1], [0, 2], [1, 2]]
    if policy.rotate_axes not in (None, "all"):
        return [sorted(policy.rotate_axes)]
    return [plane]


def _draw_sliceshift(policy, rng, shape, plane):
    n_slices = shape[policy.slice_axis]
    fraction = _uniform(rng, policy.sliceshift_fraction)
    count = min(n_slices, max(1, int(round(fraction * n_slices))))
    slices = sorted(int(s) for s in rng.choice(n_slices, size=count, replace=False))
    shifts = [[_uniform(rng, policy.sliceshift) for _ in plane] for _ in slices]
    return {"fraction": fraction, "slices": slices, "shifts": shifts}


def _draw_elastic(policy, rng, n_spatial):
    magnitude = _uniform(rng, policy.elastic)
    g = policy.elastic_points
    grid = rng.uniform(-magnitude, magnitude, size=(n_spatial,) + (g,) * n_spatial)
    edge = [slice(None)] + [slice(1, -1)] * n_spatial
    locked = np.zeros_like(grid)
    locked[tuple(edge)] = grid[tuple(edge)]  # the border stays put: no pulling from outside the image
    return {"max_displacement": magnitude, "points": g, "control": locked.round(6).tolist()}


def _draw_bias(rng, bound, n_spatial):
    """Coefficients of a degree-2 polynomial in normalised coordinates (log bias field)."""
    n_terms = len(bias_terms(np.zeros((n_spatial, 1))))
    return [round(float(c), 6) for c in rng.uniform(-bound, bound, size=n_terms)]


def bias_terms(coords):
    """Degree-1 and degree-2 monomials of normalised coordinates (n, m): x, y, x^2, y^2, xy..."""
    n = coords.shape[0]
    terms = [coords[a] for a in range(n)] + [coords[a] ** 2 for a in range(n)]
    terms += [coords[a] * coords[b] for a in range(n) for b in range(a + 1, n)]
    return terms


def _uniform(rng, bounds):
    low, high = bounds
    return round(float(rng.uniform(low, high)), 6) if high > low else float(low)
