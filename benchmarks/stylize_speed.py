"""Seconds per iteration of `mlkit stylize` on this machine's CPU: L-BFGS and Adam iterations
at 256 and 512 px (mlkit's default layers: the network up to block5_conv1), the compiled step
with and without XLA (jit_compile), and the whole command once (start-up, TensorFlow import,
reading and writing included).

    python benchmarks/stylize_speed.py [--sizes 256,512] [--iterations 6] [--weights FILE.h5]

Without --weights, VGG19's architecture with seeded random weights is used (the speed does not
depend on the weights' values). Content: scikit-image's astronaut; style: its coffee photo.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def pictures(folder):
    """astronaut.png (512 x 512) and coffee.png (400 x 600) from scikit-image."""
    import cv2
    import skimage.data

    paths = {}
    for name in ("astronaut", "coffee"):
        paths[name] = os.path.join(folder, f"{name}.png")
        cv2.imwrite(paths[name], getattr(skimage.data, name)()[:, :, ::-1])
    return paths


def weights_file(folder, given):
    from mlkit.style import weights

    if given:
        return given
    path = os.path.join(folder, weights.FILE)
    weights.write(path, weights.random(0))
    return path


def per_iteration(paths, weights, size, optimizer, iterations, jit=False):
    """Median seconds between logged iterations (the first, which traces the graph, left out)."""
    from mlkit.style import Settings, stylize

    log = os.path.join(os.path.dirname(weights), "speed.jsonl")
    settings = Settings(size=size, iterations=iterations, stop_delta=0.0, optimizer=optimizer)
    stylize(paths["astronaut"], [paths["coffee"]], settings, weights=weights, seed=1, device="cpu", log=log, jit=jit)
    seconds = [json.loads(line)["seconds"] for line in open(log)]
    return statistics.median(np.diff(seconds)), seconds[0]


def whole_command(paths, weights, size, iterations):
    out = os.path.join(os.path.dirname(weights), "out.png")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlkit", "stylize", paths["astronaut"], "-s", paths["coffee"], "--size",
                    str(size), "--iterations", str(iterations), "--weights", weights, "--device", "cpu", "--seed", "1",
                    "-o", out], check=True, capture_output=True, env={**os.environ, "PYTHONPATH": ROOT})
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--weights")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths, weights = pictures(folder), weights_file(folder, args.weights)
        print(f"CPU, {os.cpu_count()} cores; {'given' if args.weights else 'random'} VGG19 weights")
        print("| size | optimizer | XLA | s / iteration | first iteration (tracing) |")
        print("|---|---|---|---|---|")
        for size in map(int, args.sizes.split(",")):
            for optimizer, jit in (("lbfgs", False), ("adam", False), ("adam", True)):
                step, first = per_iteration(paths, weights, size, optimizer, args.iterations, jit)
                print(f"| {size} px | {optimizer} | {'on' if jit else 'off'} | {step:.2f} s | {first:.1f} s |", flush=True)
        size = int(args.sizes.split(",")[0])
        seconds = whole_command(paths, weights, size, args.iterations)
        print(f"whole command, {size} px, {args.iterations} L-BFGS iterations: {seconds:.1f} s")


if __name__ == "__main__":
    main()
