"""The landmarks CSV of --landmarks-out: one row per face MTCNN found, with its box, its
confidence and its five points in input pixels, and in output pixels for the faces written."""

import csv
import io

from mlkit.crop.align import POINTS
from mlkit.io.write import write_side_file

COLUMNS = (
    ["input", "output", "face", "x", "y", "width", "height", "confidence"]
    + [f"{p}_{c}" for p in POINTS for c in "xy"]
    + [f"out_{p}_{c}" for p in POINTS for c in "xy"]
)


def landmark_rows(name, entry):
    """Rows for one output's history entry: its own face, and (from a photo's first crop) the
    faces found but not written."""
    if not entry or entry.get("command") != "crop-align" or entry["params"].get("mode") != "face":
        return []
    params = entry["params"]
    rows = [_row(params["input"], name, params["face"], params, params["points_out"])]
    if params["face"] == 0:
        rows += [_row(params["input"], "", "", face, None) for face in params.get("other_faces", [])]
    return rows


def _row(source, output, index, face, points_out):
    values = [source, output, index, *face["box"], face["confidence"]]
    values += [v for point in face["points_in"] for v in point]
    values += [v for point in points_out for v in point] if points_out else [""] * 10
    return dict(zip(COLUMNS, values))


def write_landmarks(path, rows):
    """The landmarks CSV; nothing at all when no face was found (an existing file stays)."""
    if not rows:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_side_file(path, buf.getvalue().encode())
