"""Deterministic image operations, usable without the CLI.

    from mlkit.transform import apply
    out = apply(img, "rotate", {"angle": 15})
    out = apply(img, "rotate", {"angle": 15}, dtype="float32")   # as `--dtype float32`: unrounded
"""

from mlkit.transform.ops import GEOMETRIC, POINT, apply, otsu_thresholds
from mlkit.transform.steps import transform_step

__all__ = ["GEOMETRIC", "POINT", "apply", "otsu_thresholds", "transform_step"]
