"""`mlkit stylize apply` on many same-size pictures: batched forward passes against one at a time.

N photos from scikit-image (the 8 of stylize_fast.py and their mirror images), resized to
SIZE x SIZE, painted by the default network (width 32, 5 residual blocks; seeded random
weights: speed does not depend on the values):

1. the painting alone, in one process: `mlkit.style.fast.paint_many` (pictures of one size go
   through the network up to 8 at once) against `paint` on each picture, rounds alternating,
   medians; the largest difference between the two outputs (uint8) is printed too;
2. the whole command (start-up, TensorFlow import, loading the network, reading, painting,
   writing): `mlkit stylize apply MODEL FOLDER -o OUT/` as it is, against the same command with
   `mlkit.style.fast.MAX_BATCH = 1` (one picture per forward pass), alternating, medians.

    python benchmarks/stylize_apply_batch.py [--n 16] [--size 256] [--rounds 5] [--command-rounds 3]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up notices
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

ONE_AT_A_TIME = ("import sys; import mlkit.style.fast as f; f.MAX_BATCH = 1; sys.argv[0] = 'mlkit'\n"
                 "from mlkit.cli import main; main()")


def photo_folder(folder, n, size):
    import cv2
    import skimage.data

    from stylize_fast import PHOTOS

    os.makedirs(folder, exist_ok=True)
    for k in range(n):
        picture = getattr(skimage.data, PHOTOS[k % len(PHOTOS)])()
        picture = picture if picture.ndim == 3 else np.repeat(picture[..., None], 3, axis=2)
        picture = cv2.resize(picture[..., :3], (size, size), interpolation=cv2.INTER_AREA)
        if (k // len(PHOTOS)) % 2:
            picture = picture[:, ::-1]
        cv2.imwrite(os.path.join(folder, f"p{k:02d}.png"), np.ascontiguousarray(picture[..., ::-1]))
    return folder


def painting(folder, network_path, rounds):
    """(median s batched, median s one at a time, largest uint8 difference)."""
    from mlkit.deep.runtime import Runtime

    Runtime(device="cpu", mixed_precision=False)
    from mlkit.io import read_image
    from mlkit.style import fast

    network = fast.load_network(network_path)
    pictures = [read_image(os.path.join(folder, name)) for name in sorted(os.listdir(folder))]
    batched = fast.paint_many(network, pictures)  # warm-up: both shapes traced once
    alone = [fast.paint(network, img) for img in pictures]
    worst = max(int(np.abs(a.data.astype(int) - b.data).max()) for a, b in zip(batched, alone))
    times = {"batched": [], "alone": []}
    for _ in range(rounds):
        start = time.perf_counter()
        fast.paint_many(network, pictures)
        times["batched"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for img in pictures:
            fast.paint(network, img)
        times["alone"].append(time.perf_counter() - start)
    return statistics.median(times["batched"]), statistics.median(times["alone"]), worst


def command(network_path, folder, out, one_at_a_time):
    head = [sys.executable, "-c", ONE_AT_A_TIME] if one_at_a_time else [sys.executable, "-m", "mlkit"]
    start = time.perf_counter()
    subprocess.run([*head, "stylize", "apply", network_path, folder, "--device", "cpu", "-o", f"{out}/"],
                   check=True, capture_output=True, env={**os.environ, "PYTHONPATH": ROOT})
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--command-rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = photo_folder(os.path.join(tmp, "photos"), args.n, args.size)
        network_path = os.path.join(tmp, "model.keras")
        code = ("from mlkit.deep.runtime import Runtime; Runtime(device='cpu', seed=1, mixed_precision=False)\n"
                f"from mlkit.style import model; model.save(model.transform_net(), {network_path!r})")
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": ROOT})
        print(f"CPU, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
              f"{args.n} pictures of {args.size} x {args.size}")
        batched, alone, worst = painting(folder, network_path, args.rounds)
        print(f"painting alone ({args.rounds} rounds): batched {batched:.2f} s, one at a time {alone:.2f} s, "
              f"ratio {alone / batched:.2f}x; largest uint8 difference {worst}", flush=True)
        whole = {True: [], False: []}
        for _ in range(args.command_rounds):
            for one in (False, True):
                whole[one].append(command(network_path, folder, os.path.join(tmp, f"out-{one}"), one))
        b, a = statistics.median(whole[False]), statistics.median(whole[True])
        print(f"whole command ({args.command_rounds} rounds): batched {b:.2f} s, one at a time {a:.2f} s, ratio {a / b:.2f}x")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
