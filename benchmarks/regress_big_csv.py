"""Exact least squares on a 10M-row x 10-feature CSV: time and peak memory, mlkit (chunked QR,
streaming) beside the in-memory route a user might take (numpy.loadtxt + numpy.linalg.lstsq).

    PYTHONPATH=. python benchmarks/regress_big_csv.py [ROWS]   # default 10_000_000; writes /tmp/mlkit_big.csv
"""

import os
import resource
import subprocess
import sys
import time

import numpy as np

FEATURES = 10


def make_csv(path, rows, seed=0):
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path) as f:
            if sum(1 for _ in f) - 1 == rows:
                return
    rng = np.random.default_rng(seed)
    w = np.arange(1, FEATURES + 1, dtype=float)
    with open(path + ".part", "w") as f:
        f.write(",".join([f"x{i}" for i in range(FEATURES)] + ["y"]) + "\n")
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            X = rng.normal(size=(n, FEATURES))
            y = X @ w + 3 + rng.normal(0, 0.5, n)
            np.savetxt(f, np.column_stack([X, y]), delimiter=",", fmt="%.6g")
    os.replace(path + ".part", path)


IN_MEMORY = (
    "import numpy as np, sys\n"
    "d = np.loadtxt(sys.argv[1], delimiter=',', skiprows=1)\n"
    "A = np.column_stack([np.ones(len(d)), d[:, :-1]])\n"
    "print(np.linalg.lstsq(A, d[:, -1], rcond=None)[0][:3])\n"
)


def measure(cmd):
    """Wall time and peak resident memory of one child process."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB; the largest child so far
    return elapsed, max(peak, before) / 1024


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    path = "/tmp/mlkit_big.csv"
    make_csv(path, rows)
    size = os.path.getsize(path) / 2**30
    print(f"{rows:,} rows x {FEATURES} features, {size:.2f} GiB CSV, {os.cpu_count()} cores")
    ours = measure([sys.executable, "-m", "mlkit", "regress", path, "--format", "json"])
    peer = measure([sys.executable, "-c", IN_MEMORY, path])
    print("| route | time | peak memory |\n| --- | --- | --- |")
    print(f"| `mlkit regress big.csv` (chunked QR, two passes) | {ours[0]:.1f} s | {ours[1]:.0f} MiB |")
    print(f"| numpy.loadtxt + numpy.linalg.lstsq (in memory) | {peer[0]:.1f} s | {peer[1]:.0f} MiB |")
    print(f"ratio (mlkit / in-memory): time {ours[0] / peer[0]:.2f}x")


if __name__ == "__main__":
    main()
