"""mlkit homography vs OpenCV, side by side: RANSAC on 1000 pairs, warping a 4000x3000 photo.

    PYTHONPATH=. python benchmarks/homography_vs_opencv.py

The warp is timed three ways against the same OpenCV work, in interleaved rounds (mlkit and
OpenCV alternating, so a drifting machine load hits both alike), medians: the library call
against cv2.warpPerspective, and the whole `mlkit homography warp` command (start-up, reading
and writing the PNG included) against a Python process that does the same with cv2.imread,
cv2.warpPerspective and cv2.imwrite.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import skimage.data

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import median_time  # noqa: E402

from mlkit.homography import estimate, warp  # noqa: E402

H = np.array([[1.1, 0.05, 20.0], [0.02, 0.95, -10.0], [1e-4, 2e-4, 1.0]])
SIZE = (4000, 3000)
OPENCV_COMMAND = """
import sys, json, cv2, numpy as np
H = np.array(json.load(open(sys.argv[2]))["H"])
cv2.imwrite(sys.argv[3], cv2.warpPerspective(cv2.imread(sys.argv[1]), H, (4000, 3000), flags=cv2.INTER_LINEAR))
"""


def pairs(n=1000, outliers=0.3, seed=0):
    rng = np.random.default_rng(seed)
    src = rng.uniform(0, 1000, (n, 2))
    homog = np.c_[src, np.ones(n)] @ H.T
    dst = homog[:, :2] / homog[:, 2:] + rng.normal(0, 0.5, (n, 2))
    bad = rng.random(n) < outliers
    dst[bad] = rng.uniform(0, 1000, (bad.sum(), 2))
    return src, dst


def alternating(ours, theirs, rounds=31):
    """Medians of interleaved runs, after one untimed run of each."""
    ours(), theirs()
    a, b = [], []
    for _ in range(rounds):
        for fn, times in ((ours, a), (theirs, b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return float(np.median(a)), float(np.median(b))


def photo():
    """skimage's astronaut (512x512 RGB) resized up to 4000x3000: a real photo at that size."""
    return cv2.resize(skimage.data.astronaut(), SIZE, interpolation=cv2.INTER_CUBIC)


def whole_commands(folder, image, rounds):
    """`mlkit homography warp` vs the same in a python process with OpenCV: PNG in, PNG out."""
    src, matrix = os.path.join(folder, "photo.png"), os.path.join(folder, "H.json")
    cv2.imwrite(src, image[..., ::-1])
    with open(matrix, "w") as f:
        json.dump({"H": H.tolist()}, f)
    ours = [sys.executable, "-m", "mlkit", "homography", "warp", src, "--matrix", matrix, "--size", "4000x3000", "-o", os.path.join(folder, "ours.png")]
    theirs = [sys.executable, "-c", OPENCV_COMMAND, src, matrix, os.path.join(folder, "theirs.png")]
    return alternating(lambda: subprocess.run(ours, check=True), lambda: subprocess.run(theirs, check=True), rounds)


def main():
    src, dst = pairs()
    s32, d32 = src.astype(np.float32), dst.astype(np.float32)
    ours = median_time(lambda: estimate(src, dst, robust="ransac", threshold=3.0), repeats=50, warmup=3)
    theirs = median_time(lambda: cv2.findHomography(s32, d32, cv2.RANSAC, 3.0), repeats=50, warmup=3)
    image = photo()
    w_ours, w_theirs = alternating(
        lambda: warp(image, H, SIZE, "linear"),
        lambda: cv2.warpPerspective(image, H, SIZE, flags=cv2.INTER_LINEAR),
    )
    assert np.array_equal(warp(image, H, SIZE, "linear"), cv2.warpPerspective(image, H, SIZE))
    with tempfile.TemporaryDirectory() as folder:
        c_ours, c_theirs = whole_commands(folder, image, rounds=7)
    print(f"{os.cpu_count()} cores, OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), medians")
    print("| step | mlkit | OpenCV | ratio |\n| --- | --- | --- | --- |")
    print(f"| estimate, 1000 pairs, 30% outliers, RANSAC | {ours * 1e3:.2f} ms | {theirs * 1e3:.2f} ms | {ours / theirs:.2f}x |")
    print(f"| warp 4000x3000 RGB, bilinear, library call | {w_ours * 1e3:.1f} ms | {w_theirs * 1e3:.1f} ms | {w_ours / w_theirs:.3f}x |")
    print(f"| whole command, PNG in and out | {c_ours * 1e3:.0f} ms | {c_theirs * 1e3:.0f} ms | {c_ours / c_theirs:.2f}x |")


if __name__ == "__main__":
    main()
