"""The batch work function of `mlkit transform`: the only place its history is written."""

from mlkit import provenance
from mlkit.errors import MlkitError
from mlkit.transform.ops import apply, otsu_thresholds


def transform_step(img, seedseq, op, params, cmdline=None, dtype=None):
    """Batch work function for `mlkit transform`: apply `op`, record it in the history."""
    resolved = dict(params)
    if isinstance(resolved.get("mask"), str):
        resolved["mask"] = _read_mask(resolved["mask"])
    out = apply(img, op, resolved, dtype=dtype)
    recorded = dict(params)
    if op == "threshold" and params.get("otsu"):
        recorded["value"] = otsu_thresholds(img)  # the threshold used, not the null asked for
    return [out.with_entry(provenance.entry(f"transform {op}", recorded, cmdline=cmdline))]


def _read_mask(path):
    """The mask's voxels; its own errors name the mask, not the image being processed."""
    from mlkit.io.read import read_image

    try:
        return read_image(path).data
    except MlkitError as exc:
        raise MlkitError(f"mask {path}: {exc.message}", exc.hint) from None
