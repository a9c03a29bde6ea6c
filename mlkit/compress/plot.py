"""The rate-distortion plot (bits per pixel against PSNR), drawn with OpenCV: no matplotlib."""

import math

import numpy as np

COLOURS = {"autoencoder": (214, 39, 40), "jpeg": (31, 119, 180), "webp": (44, 160, 44), "avif": (148, 103, 189)}
W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 420, 60, 150, 34, 50


def draw(path, series, matched):
    """series: name -> [(bpp, psnr)] (a curve, or one point); matched: name -> (bpp, psnr)."""
    import cv2

    from mlkit.io import Image, write_image

    points = [p for pts in series.values() for p in pts if math.isfinite(p[1])]
    xmax = max(p[0] for p in points) * 1.05
    ylo, yhi = math.floor(min(p[1] for p in points)) - 1, math.ceil(max(p[1] for p in points)) + 1
    canvas = np.full((H, W, 3), 255, np.uint8)

    def at(bpp, db):
        x = LEFT + bpp / xmax * (W - LEFT - RIGHT)
        y = H - BOTTOM - (db - ylo) / (yhi - ylo) * (H - TOP - BOTTOM)
        return int(round(x)), int(round(y))

    _axes(cv2, canvas, at, xmax, ylo, yhi)
    for i, (name, pts) in enumerate(series.items()):
        colour = COLOURS.get(name, (0, 0, 0))
        drawn = [at(*p) for p in pts if math.isfinite(p[1])]
        for a, b in zip(drawn, drawn[1:]):
            cv2.line(canvas, a, b, colour, 1, cv2.LINE_AA)
        for p in drawn:
            cv2.circle(canvas, p, 5 if name == "autoencoder" else 2, colour, -1, cv2.LINE_AA)
        if name in matched and math.isfinite(matched[name][1]):
            cv2.circle(canvas, at(*matched[name]), 6, colour, 1, cv2.LINE_AA)
        y = TOP + 20 + 22 * i
        cv2.line(canvas, (W - RIGHT + 15, y - 4), (W - RIGHT + 40, y - 4), colour, 2)
        cv2.putText(canvas, name, (W - RIGHT + 46, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_image(Image(data=canvas, channels=True, format="png", name="rd"), path)


def _axes(cv2, canvas, at, xmax, ylo, yhi):
    black, font = (0, 0, 0), cv2.FONT_HERSHEY_SIMPLEX
    cv2.rectangle(canvas, at(0, yhi), at(xmax, ylo), black, 1)
    for k in range(6):
        bpp = xmax * k / 5
        x, y = at(bpp, ylo)
        cv2.putText(canvas, f"{bpp:.2f}", (x - 14, y + 18), font, 0.4, black, 1, cv2.LINE_AA)
    step = max(1, round((yhi - ylo) / 6))
    for db in range(int(ylo), int(yhi) + 1, step):
        x, y = at(0, db)
        cv2.putText(canvas, str(db), (x - 30, y + 4), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.putText(canvas, "bits per pixel (headers once per set)", (LEFT + 90, H - 12), font, 0.45, black, 1, cv2.LINE_AA)
    cv2.putText(canvas, "PSNR (dB)", (6, 16), font, 0.45, black, 1, cv2.LINE_AA)
