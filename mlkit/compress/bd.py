"""Bjontegaard delta rate: how many more (or fewer, negative) bits one rate-distortion curve
needs than another at equal PSNR, averaged over the PSNR range both cover.

Each curve's log-rate is fitted as a cubic in PSNR (a lower degree with fewer than 4 points;
only the points in the common range and one each side of it enter the fit, so a codec's far
ends do not bend the cubic where it is compared); the two fits are integrated over the common
range and BD-rate = exp(mean difference of ln-rate) - 1, in percent. Points that cost more
bits for no better PSNR than a cheaper one are left out first (a cubic through a curve that
turns back on itself is meaningless).
"""

import math

import numpy as np


def _fit(points, lo, hi):
    points = sorted(points, key=lambda p: p[1])
    psnr = [p[1] for p in points]
    first = max(0, int(np.searchsorted(psnr, lo, side="right")) - 1)
    last = min(len(points), int(np.searchsorted(psnr, hi, side="left")) + 1)
    used = points[first:last]
    x, y = np.array([p[1] for p in used]), np.log([p[0] for p in used])
    return np.polyfit(x, y, min(3, len(used) - 1))


def frontier(points):
    """The points not dominated by a cheaper one: PSNR rising with the rate (a model or a
    quality that costs more bits for no better PSNR is not on the curve)."""
    out = []
    for p in sorted(points):
        if not out or p[1] > out[-1][1]:
            out.append(p)
    return out


def bd_rate(test, anchor):
    """Percent rate change of `test` against `anchor`, both [(bpp, psnr_db)]; None when the
    curves share no PSNR range or either has fewer than 2 finite points."""
    test = frontier([p for p in test if math.isfinite(p[1]) and p[0] > 0])
    anchor = frontier([p for p in anchor if math.isfinite(p[1]) and p[0] > 0])
    if len(test) < 2 or len(anchor) < 2:
        return None
    lo = max(min(p[1] for p in test), min(p[1] for p in anchor))
    hi = min(max(p[1] for p in test), max(p[1] for p in anchor))
    if hi <= lo:
        return None
    t, a = np.polyint(_fit(test, lo, hi)), np.polyint(_fit(anchor, lo, hi))
    diff = (np.polyval(t, hi) - np.polyval(t, lo) - np.polyval(a, hi) + np.polyval(a, lo)) / (hi - lo)
    return float((math.exp(diff) - 1) * 100)


def overlap(test, anchor):
    """(lo, hi) PSNR range both curves cover, or None."""
    lo = max(min(p[1] for p in test), min(p[1] for p in anchor))
    hi = min(max(p[1] for p in test), max(p[1] for p in anchor))
    return (lo, hi) if hi > lo else None
