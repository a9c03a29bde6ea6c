"""Exact least squares on a 10M-row x 10-feature CSV, mlkit beside the in-memory route a user
might take (numpy.loadtxt + numpy.linalg.lstsq): wall time and peak memory of whole processes.

    PYTHONPATH=. python benchmarks/regress_big_csv.py [--rows 10000000] [--rounds 3]

The CSV is written once and cached in benchmarks/results/ (git-ignored), a file per row count.
Each round runs `mlkit regress big.csv --format json` and the numpy script one after the other
(alternating, so a drifting machine load hits both alike); the table shows medians, CPU time
(user + system of the child and the workers it waited for, from os.wait4), peak resident memory
and the ratios mlkit / numpy. Both answers are checked against each other (intercept and
coefficients to 1e-8).

Memory, two figures: "one process" is ru_maxrss from os.wait4, which for a child that started
workers is the largest of the child and its workers, not their sum; "all processes" is the
largest sum of VmRSS over the child and all its descendants at one instant, sampled from /proc
every 20 ms (for one process alone it is within a sample of its ru_maxrss).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

FEATURES = 10
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def make_csv(rows, seed=0):
    """benchmarks/results/regress_<rows>.csv: y = X w + 3 + noise, w = 1..10, written once."""
    path = os.path.join(RESULTS, f"regress_{rows}.csv")
    if os.path.exists(path):
        return path
    os.makedirs(RESULTS, exist_ok=True)
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
    return path


IN_MEMORY = (
    "import json, sys, numpy as np\n"
    "d = np.loadtxt(sys.argv[1], delimiter=',', skiprows=1)\n"
    "A = np.column_stack([np.ones(len(d)), d[:, :-1]])\n"
    "print(json.dumps(np.linalg.lstsq(A, d[:, -1], rcond=None)[0].tolist()))\n"
)


class TreeMemory(threading.Thread):
    """Resident memory of a process and its descendants, from /proc, sampled every 20 ms until
    stop(): the largest sum of VmRSS at one instant (MiB), and each process's own peak (VmHWM)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.own = pid, 0.0, {}
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.02):
            total = 0
            for pid in self.tree(self.pid):
                rss, hwm = self.status(pid)
                total += rss
                self.own[pid] = max(self.own.get(pid, 0), hwm / 1024)
            self.peak = max(self.peak, total / 1024)

    def stop(self):
        """The largest sum, and each process's peak, the first process first."""
        self.done.set()
        self.join()
        return self.peak, [self.own[p] for p in self.own]

    @classmethod
    def tree(cls, pid):
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = [int(c) for c in f.read().split()]
        except OSError:
            return []
        return [pid] + [p for c in children for p in cls.tree(c)]

    @staticmethod
    def status(pid):
        """(VmRSS, VmHWM) in KiB, 0 for a process that is gone."""
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS:", "VmHWM:")))
            return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
        except (OSError, KeyError):
            return 0, 0


def run(cmd):
    """Wall time, peak resident memory (MiB: ru_maxrss, and the sum over the process tree), CPU
    time (user + system, workers included) and stdout of one child. os.wait4 reaps it, so its
    usage is its own and its waited-for children's, not the largest child's so far."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        tree = TreeMemory(proc.pid)
        tree.start()
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        total, own = tree.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(err.read().decode())
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out, total, own


def theta_of_mlkit(out):
    result = json.loads(out)[0]
    return [result["intercept"], *result["coefficients"].values()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    path = make_csv(args.rows)
    print(f"{args.rows:,} rows x {FEATURES} features, {os.path.getsize(path) / 2**30:.2f} GiB CSV, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    ours_cmd = [sys.executable, "-m", "mlkit", "regress", path, "--format", "json"]
    peer_cmd = [sys.executable, "-c", IN_MEMORY, path]
    ours, peer = [], []
    for _ in range(args.rounds):
        ours.append(run(ours_cmd))
        peer.append(run(peer_cmd))
        np.testing.assert_allclose(theta_of_mlkit(ours[-1][3]), json.loads(peer[-1][3]), rtol=1e-8)
        print(f"  round: mlkit {ours[-1][0]:.1f} s (CPU {ours[-1][2]:.1f} s) {ours[-1][1]:.0f} MiB one process, "
              f"{ours[-1][4]:.0f} MiB all processes (each one's peak: {' + '.join(f'{m:.0f}' for m in ours[-1][5])}); numpy {peer[-1][0]:.1f} s (CPU {peer[-1][2]:.1f} s) "
              f"{peer[-1][1]:.0f} MiB, load {os.getloadavg()[0]:.1f}", flush=True)
    t_ours, t_peer = (statistics.median(r[0] for r in runs) for runs in (ours, peer))
    c_ours, c_peer = (statistics.median(r[2] for r in runs) for runs in (ours, peer))
    m_ours, m_peer = (max(r[1] for r in runs) for runs in (ours, peer))
    a_ours, a_peer = (max(r[4] for r in runs) for runs in (ours, peer))
    print(f"| route | wall (median of {args.rounds}) | CPU user+sys (median) | peak memory, one process | "
          "peak memory, all processes |\n| --- | --- | --- | --- | --- |")
    print(f"| `mlkit regress big.csv` | {t_ours:.1f} s | {c_ours:.1f} s | {m_ours:.0f} MiB | {a_ours:.0f} MiB |")
    print(f"| numpy.loadtxt + numpy.linalg.lstsq (in memory) | {t_peer:.1f} s | {c_peer:.1f} s | {m_peer:.0f} MiB | "
          f"{a_peer:.0f} MiB |")
    print(f"ratio mlkit / numpy: wall {t_ours / t_peer:.2f}x, CPU {c_ours / c_peer:.2f}x, memory {a_ours / a_peer:.2f}x "
          "(all processes)")

if __name__ == "__main__":
    main()
