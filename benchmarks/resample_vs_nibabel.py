"""`mlkit transform resample` against nibabel.processing.resample_to_output, MNI152 T1 to 0.8 mm,
cubic B-spline (order 3), .nii.gz in and out: whole processes (start-up, reading, resampling,
writing), run alternately so that a changing load hits both alike; medians of time and of peak
memory (ru_maxrss), then the in-process step alone.

    PYTHONPATH=. peers/bin/python benchmarks/resample_vs_nibabel.py [--rounds 7]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import mni_paths

NIBABEL = (
    "import sys, nibabel as nib, nibabel.processing as p\n"
    "nib.save(p.resample_to_output(nib.load(sys.argv[1]), voxel_sizes=0.8, order=3), sys.argv[2])"
)


# A child's ru_maxrss counts its parent's size at the fork, so a small fresh interpreter starts
# each command and reports what wait4 says of it (the figures exclude this script's own memory).
LAUNCH = """import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss / 1024)
"""


def run(cmd):
    """(seconds, peak resident MiB) of one child process."""
    code, seconds, mib = subprocess.run([sys.executable, "-c", LAUNCH, *cmd], capture_output=True, text=True,
                                        check=True).stdout.split()
    if int(code):
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return float(seconds), float(mib)


def whole_commands(source, folder, rounds):
    ours = [sys.executable, "-m", "mlkit", "transform", "resample", "--voxel-size", "0.8", "--interp", "cubic",
            source, "-o", os.path.join(folder, "mlkit.nii.gz")]
    peer = [sys.executable, "-c", NIBABEL, source, os.path.join(folder, "nibabel.nii.gz")]
    runs = {"mlkit": [], "nibabel": []}
    for _ in range(rounds):
        runs["mlkit"].append(run(ours))
        runs["nibabel"].append(run(peer))
    return {name: [statistics.median(v) for v in zip(*pairs)] for name, pairs in runs.items()}


def library_step(source, rounds):
    """The resampling call alone, in this process, alternating."""
    import nibabel as nib
    import nibabel.processing as processing

    from mlkit.io import read_image
    from mlkit.transform import apply

    img, nimg = read_image(source), nib.load(source)
    calls = {"mlkit": lambda: apply(img, "resample", {"voxel_size": [0.8], "order": 3}),
             "nibabel": lambda: processing.resample_to_output(nimg, voxel_sizes=0.8, order=3)}
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    source = mni_paths()["t1"]
    folder = tempfile.mkdtemp()
    print(f"MNI152 T1 197x233x189 uint8 -> 0.8 mm, order 3; {args.rounds} alternating rounds, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    whole = whole_commands(source, folder, args.rounds)
    step = library_step(source, max(3, args.rounds // 2))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print("| path | mlkit | nibabel | ratio | goal |\n| --- | --- | --- | --- | --- |")
    (t_ours, m_ours), (t_peer, m_peer) = whole["mlkit"], whole["nibabel"]
    print(f"| whole command, time | {t_ours:.2f} s | {t_peer:.2f} s | {t_ours / t_peer:.2f}x | <= 0.3x |")
    print(f"| whole command, peak memory | {m_ours:.0f} MiB | {m_peer:.0f} MiB | {m_ours / m_peer:.2f}x | <= 1.2x |")
    print(f"| resampling call alone | {step['mlkit']:.2f} s | {step['nibabel']:.2f} s | {step['mlkit'] / step['nibabel']:.2f}x | |")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
