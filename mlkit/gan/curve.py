"""The loss curve of a run, drawn from metrics.jsonl into a small PNG (no plotting library)."""

import json

import numpy as np

COLOURS = {"d_loss": (200, 60, 40), "g_loss": (40, 110, 220)}  # RGB


def read_losses(path):
    """{"step": [...], "d_loss": [...], "g_loss": [...]} from a metrics.jsonl file."""
    from mlkit.deep.checkpoint import read_metrics

    columns = {"step": [], "d_loss": [], "g_loss": []}
    for _, line in read_metrics(path):
        record = json.loads(line)  # checked by read_metrics: an object of finite numbers
        if all(key in record for key in columns):
            for key in columns:
                columns[key].append(float(record[key]))
    return {k: np.asarray(v) for k, v in columns.items()}


def smooth(values, window):
    """Running mean over `window` steps (shorter at the start)."""
    sums = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (sums[idx] - sums[lo]) / (idx - lo)


def draw(losses, width=480, height=240, margin=28):
    """An RGB uint8 picture: d_loss (red) and g_loss (blue), smoothed, on a white field,
    with the step range and the loss range written on the axes."""
    import cv2

    canvas = np.full((height, width, 3), 255, np.uint8)
    steps = losses["step"]
    if len(steps) < 2:
        return canvas
    window = max(1, len(steps) // 50)
    curves = {k: smooth(losses[k], window) for k in COLOURS}
    top = max(float(c.max()) for c in curves.values()) * 1.05
    x = margin + (steps - steps[0]) / max(steps[-1] - steps[0], 1) * (width - 2 * margin)
    cv2.rectangle(canvas, (margin, margin), (width - margin, height - margin), (160, 160, 160), 1)
    for key, values in curves.items():
        y = height - margin - values / top * (height - 2 * margin)
        points = np.stack([x, y], axis=1).round().astype(np.int32)
        cv2.polylines(canvas, [points], False, COLOURS[key], 1, cv2.LINE_AA)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(canvas, f"step {int(steps[0])}", (margin, height - 8), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, f"{int(steps[-1])}", (width - margin - 40, height - 8), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, f"{top:.2f}", (2, margin + 4), font, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, "d_loss", (margin + 8, margin + 16), font, 0.45, COLOURS["d_loss"], 1, cv2.LINE_AA)
    cv2.putText(canvas, "g_loss", (margin + 80, margin + 16), font, 0.45, COLOURS["g_loss"], 1, cv2.LINE_AA)
    return canvas
