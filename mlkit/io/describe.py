"""What is in an image: the facts `mlkit info` prints."""

import json

import numpy as np

from mlkit import ui
from mlkit.errors import MlkitError, bug_message

FORMAT_NAMES = {"nifti1": "NIfTI-1", "nifti2": "NIfTI-2", "png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "bmp": "BMP", "npy": "NumPy .npy"}


def describe_all(paths, on_error):
    """Yield the facts of every image in `paths`; a path that fails goes to on_error(label, message)."""
    from mlkit.io.inputs import input_label
    from mlkit.io.read import read_images

    for path in paths:
        count = 0  # images of `path` described so far: a stream's error names the next one
        try:
            for img in read_images(path, _light=True):  # facts only: regular NIfTI without nibabel
                yield describe(img, "stdin" if path == "-" else path)
                count += 1
        except MlkitError as exc:
            on_error(input_label(path, count), str(exc))
        except Exception as exc:
            if ui.state["debug"]:
                raise
            on_error(input_label(path, count), bug_message(exc))


def describe(img, source):
    """A JSON-ready dict: name, source, format, shape, dtype, geometry, values, history."""
    facts = {
        "name": img.name,
        "source": source,
        "format": FORMAT_NAMES.get(img.format, img.format),
        "shape": list(img.data.shape),
        "dtype": dtype_name(img.data.dtype),
        "stored_dtype": dtype_name(img.stored_dtype or img.data.dtype),
        "channels": img.data.shape[-1] if img.channels else None,
        "voxel_size": [round(v, 6) for v in img.voxel_sizes],
        "units": _units(img.header),
        "orientation": _orientation(img),
        "affine": np.round(img.affine, 6).tolist(),
    }
    if img.header is not None:
        facts["qform_code"] = int(img.header["qform_code"])
        facts["sform_code"] = int(img.header["sform_code"])
    facts.update(_values(img.data))
    facts["history"] = img.history
    return facts


def _units(header):
    if header is None:
        return None
    try:
        space, time = header.get_xyzt_units()
    except (KeyError, ValueError):  # a code NIfTI does not define
        return {"space": "unknown", "time": "unknown"}
    return {"space": space, "time": time}


def dtype_name(dtype):
    """One style for every format: 'int16', 'float32', never '<i2' or 'dtype(...)'."""
    return np.dtype(dtype).name


def _orientation(img):
    """Axis codes such as 'RAS' from the affine, for every format: a photo's are 'PR' (columns
    to the right, rows down, as orientation.PHOTO_AFFINE places it), wherever it came from."""
    from mlkit.io.orientation import axcodes

    if not np.isfinite(img.affine).all():
        return None
    codes = axcodes(img.affine)
    return "".join(c or "?" for c in codes[: img.spatial_ndim])


def _values(data):
    if data.size == 0:
        return {"min": None, "max": None, "mean": None, "nan_count": 0, "inf_count": 0}
    if np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.complexfloating):
        nan = int(np.isnan(data).sum())
        inf = int(np.isinf(data).sum())
        finite = data[np.isfinite(data)] if nan or inf else data
    else:
        nan = inf = 0
        finite = data
    if finite.size == 0 or np.iscomplexobj(finite):
        lo = hi = mean = None
    else:
        lo, hi, mean = finite.min().item(), finite.max().item(), float(finite.mean(dtype=np.float64))
    return {"min": lo, "max": hi, "mean": mean, "nan_count": nan, "inf_count": inf}


def as_text(facts):
    """The human-readable block for one image."""
    rows = [
        ("format", facts["format"]),
        ("shape", " x ".join(map(str, facts["shape"])) + (" (colour)" if facts["channels"] else "")),
        ("dtype", facts["dtype"] + _stored_text(facts)),
        ("voxel size", _voxel_text(facts)),
        ("orientation", facts["orientation"] or "-"),
        ("range", f"{_num(facts['min'])} .. {_num(facts['max'])}  (mean {_num(facts['mean'])})"),
        ("NaN / inf", f"{facts['nan_count']} / {facts['inf_count']}"),
    ]
    if "sform_code" in facts:
        rows.append(("q/sform code", f"{facts['qform_code']} / {facts['sform_code']}"))
    lines = [f"{facts['name']}  ({facts['source']})"]
    lines += [f"  {key:<13}{value}" for key, value in rows]
    lines.append("  history" + ("" if facts["history"] else "      (none)"))
    for number, step in enumerate(facts["history"], start=1):
        lines.append(f"    {number}. {step.get('cmdline', step.get('command'))}  [mlkit {step.get('version')}, seed {step.get('seed')}]")
        drawn = step.get("params") or {}
        if isinstance(drawn, dict) and drawn:
            lines.append("       " + ", ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in drawn.items()))
        elif drawn:
            lines.append("       " + json.dumps(drawn, separators=(",", ":")))
    return "\n".join(lines)


def _stored_text(facts):
    stored = facts["stored_dtype"]
    return f" (stored as {stored})" if stored != facts["dtype"] else ""


def _voxel_text(facts):
    sizes = " x ".join(f"{v:g}" for v in facts["voxel_size"])
    unit = (facts["units"] or {}).get("space")
    return f"{sizes} {unit}" if unit and unit != "unknown" else sizes


def _num(value):
    if value is None:
        return "-"
    return f"{value:.6g}" if isinstance(value, float) else str(value)
