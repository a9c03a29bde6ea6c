"""`mlkit info` against nibabel's `nib-ls` on the same file: whole processes, start-up included.

    PYTHONPATH=. python benchmarks/info_vs_nibls.py [FILE] [--runs 21]

FILE defaults to nibabel's tests/data/anatomical.nii. mlkit's bytecode is written first. Both console scripts are taken from the
folder of the running Python (the same environment); the runs alternate (mlkit, nib-ls,
mlkit, ...) after one untimed run of each, so a drifting machine load hits both alike, and the
medians of wall time and of CPU time (user + system, steadier on a loaded machine) are
compared. Reference processes show the floor each stands on: Python importing nibabel (what
nib-ls needs), click and numpy (what mlkit info needs on a NIfTI file with a regular header,
read without nibabel), and click and nibabel (what it needed before).
"""

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import time


def default_file():
    import nibabel

    return os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii")


def compile_mlkit():
    """Write mlkit's bytecode, as an installed package has it: nibabel's and click's is there,
    and with PYTHONDONTWRITEBYTECODE set (as on the project's machines) a source checkout would
    otherwise compile every module on every run."""
    import mlkit

    compileall.compile_dir(os.path.dirname(mlkit.__file__), quiet=1)


def script(name):
    path = os.path.join(os.path.dirname(sys.executable), name)
    return [path] if os.path.exists(path) else [sys.executable, "-m", name]


def timed(cmd):
    """Wall time and CPU time (user + system, from os.wait4) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed")
    return wall, usage.ru_utime + usage.ru_stime


def interleaved(commands, runs):
    """Median wall and CPU time of each command over `runs` alternating rounds."""
    for cmd in commands.values():
        timed(cmd)
    times = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            times[name].append(timed(cmd))
    return {name: [statistics.median(column) for column in zip(*t)] for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?", default=None)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    path = args.file or default_file()
    compile_mlkit()
    python = sys.executable
    commands = {
        "mlkit info": [*script("mlkit"), "info", path],
        "nib-ls": [*script("nib-ls"), path],
        "python: import nibabel": [python, "-c", "import nibabel"],
        "python: import click, numpy": [python, "-c", "import click, numpy"],
        "python: import click, nibabel": [python, "-c", "import click, nibabel"],
    }
    medians = interleaved(commands, args.runs)
    print(f"{os.path.basename(path)}, {args.runs} interleaved runs, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| process | wall (median) | CPU user+sys (median) |\n| --- | --- | --- |")
    for name, (wall, cpu) in medians.items():
        print(f"| {name} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms |")
    (wall, cpu), (peer_wall, peer_cpu) = medians["mlkit info"], medians["nib-ls"]
    print(f"ratio mlkit info / nib-ls: wall {wall / peer_wall:.2f}x, CPU {cpu / peer_cpu:.2f}x")


if __name__ == "__main__":
    main()
