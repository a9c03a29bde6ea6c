"""mlkit homography vs OpenCV, side by side: RANSAC on 1000 pairs, warping a 4000x3000 photo.

    PYTHONPATH=. python benchmarks/homography_vs_opencv.py
"""

import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import median_time  # noqa: E402

from mlkit.homography import estimate, warp  # noqa: E402

H = np.array([[1.1, 0.05, 20.0], [0.02, 0.95, -10.0], [1e-4, 2e-4, 1.0]])


def pairs(n=1000, outliers=0.3, seed=0):
    rng = np.random.default_rng(seed)
    src = rng.uniform(0, 1000, (n, 2))
    homog = np.c_[src, np.ones(n)] @ H.T
    dst = homog[:, :2] / homog[:, 2:] + rng.normal(0, 0.5, (n, 2))
    bad = rng.random(n) < outliers
    dst[bad] = rng.uniform(0, 1000, (bad.sum(), 2))
    return src, dst


def alternating(ours, theirs, rounds=31):
    """Medians of interleaved runs: a load that drifts during the run hits both sides alike."""
    import time

    ours(), theirs()
    a, b = [], []
    for _ in range(rounds):
        for fn, times in ((ours, a), (theirs, b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return float(np.median(a)), float(np.median(b))


def main():
    src, dst = pairs()
    s32, d32 = src.astype(np.float32), dst.astype(np.float32)
    ours = median_time(lambda: estimate(src, dst, robust="ransac", threshold=3.0), repeats=50, warmup=3)
    theirs = median_time(lambda: cv2.findHomography(s32, d32, cv2.RANSAC, 3.0), repeats=50, warmup=3)
    photo = (np.random.default_rng(1).random((3000, 4000, 3)) * 255).astype(np.uint8)
    w_ours, w_theirs = alternating(
        lambda: warp(photo, H, (4000, 3000), "linear"),
        lambda: cv2.warpPerspective(photo, H, (4000, 3000), flags=cv2.INTER_LINEAR),
    )
    print(f"{os.cpu_count()} cores, OpenCV {cv2.__version__}, medians")
    print("| step | mlkit | OpenCV | ratio |\n| --- | --- | --- | --- |")
    print(f"| estimate, 1000 pairs, 30% outliers, RANSAC | {ours * 1e3:.2f} ms | {theirs * 1e3:.2f} ms | {ours / theirs:.2f}x |")
    print(f"| warp 4000x3000 RGB, bilinear | {w_ours * 1e3:.0f} ms | {w_theirs * 1e3:.0f} ms | {w_ours / w_theirs:.2f}x |")


if __name__ == "__main__":
    main()
