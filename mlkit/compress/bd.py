"""Bjontegaard delta rate: how many more (or fewer, negative) bits one rate-distortion curve
needs than another at equal PSNR, averaged over the PSNR range both cover.

Each curve's log-rate is interpolated as a function of PSNR by a piecewise cubic (PCHIP: the
monotone piecewise-cubic form of the Bjontegaard metric that JVET's reference uses; a single
cubic through all points swings wildly where a curve turns flat), the two are integrated over
the common range, and BD-rate = exp(mean difference of ln-rate) - 1, in percent. Points that
cost more bits for no better PSNR than a cheaper one are left out first: they are not on the
curve.
"""

import math

import numpy as np


def frontier(points):
    """The points not dominated by a cheaper one: PSNR rising with the rate."""
    out = []
    for p in sorted(points):
        if not out or p[1] > out[-1][1]:
            out.append(p)
    return out


def _mean_log_rate(points, lo, hi):
    from scipy.interpolate import PchipInterpolator

    psnr, log_rate = np.array([p[1] for p in points]), np.log([p[0] for p in points])
    return float(PchipInterpolator(psnr, log_rate).integrate(lo, hi)) / (hi - lo)


def bd_rate(test, anchor):
    """Percent rate change of `test` against `anchor`, both [(bpp, psnr_db)]; None when the
    curves share no PSNR range or either has fewer than 2 points on its frontier."""
    test = frontier([p for p in test if math.isfinite(p[1]) and p[0] > 0])
    anchor = frontier([p for p in anchor if math.isfinite(p[1]) and p[0] > 0])
    if len(test) < 2 or len(anchor) < 2:
        return None
    lo = max(test[0][1], anchor[0][1])
    hi = min(test[-1][1], anchor[-1][1])
    if hi <= lo:
        return None
    return float((math.exp(_mean_log_rate(test, lo, hi) - _mean_log_rate(anchor, lo, hi)) - 1) * 100)
