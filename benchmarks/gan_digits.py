"""Does train-gan learn? DCGAN on scikit-learn's digits at 16x16, judged by a classifier
trained on the real digits: the generated samples should spread over >= 8 of the 10 classes
with a mean top probability >= 0.8.

    python benchmarks/gan_digits.py --steps 500,1000,2000 [--budget 1800] [--work DIR] [--train-args '--gf-dim 32']

Trains with the mlkit CLI to each step count in turn (each stage resumes the previous one:
the same command, automatic resume), then generates 500 samples with `mlkit generate`
and classifies them.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SAMPLES = 500
MIN_SHARE = 0.02  # a class counts when it gets at least 2% of the samples


def write_digits(folder):
    import cv2
    from sklearn.datasets import load_digits

    digits = load_digits()
    os.makedirs(folder, exist_ok=True)
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        cv2.imwrite(os.path.join(folder, f"{i:04d}_{label}.png"), np.rint(image * 255 / 16).astype(np.uint8))
    return digits.target


def classifier(folder, labels):
    """Logistic regression on the real digits, seen exactly as train-gan sees them; and its
    mean top probability on real digits held out of a second fit, for reference."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from mlkit.deep.data import load_image_set

    images, names = load_image_set([folder], (16, 16), channels=1)
    x, y = images.reshape(len(images), -1), labels[[int(os.path.basename(n)[:4]) for n in names]]
    xa, xb, ya, _ = train_test_split(x, y, test_size=0.3, random_state=0)
    held_out = LogisticRegression(max_iter=2000).fit(xa, ya).predict_proba(xb).max(axis=1).mean()
    return LogisticRegression(max_iter=2000).fit(x, y), float(held_out)


def mlkit(*args):
    subprocess.run([sys.executable, "-m", "mlkit", "-q", *args], check=True)


def judge(model, samples_dir):
    import cv2

    files = sorted(os.listdir(samples_dir))
    x = np.stack([cv2.imread(os.path.join(samples_dir, f), cv2.IMREAD_GRAYSCALE) for f in files]).astype(np.float32) / 255
    proba = model.predict_proba(x.reshape(len(x), -1))
    counts = np.bincount(proba.argmax(axis=1), minlength=10)
    classes = int((counts >= MIN_SHARE * len(x)).sum())
    return classes, float(proba.max(axis=1).mean()), counts


def latest_step(run):
    if not os.path.isdir(run):
        return 0
    return max((int(n[5:]) for n in os.listdir(run) if n.startswith("ckpt-") and n[5:].isdigit()), default=0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default="500,1000,2000,3000")
    parser.add_argument("--budget", type=float, default=1800, help="stop starting new stages after this many seconds")
    parser.add_argument("--work", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-args", default="", help="more train-gan options, e.g. '--gf-dim 32 --df-dim 32'")
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="gan_digits_")
    data, run = os.path.join(work, "digits"), os.path.join(work, "run")
    labels = write_digits(data)
    model, reference = classifier(data, labels)
    print(f"work folder {work}; {len(labels)} digits; a class counts at >= {MIN_SHARE:.0%} of {SAMPLES} samples; "
          f"mean top probability on held-out real digits {reference:.3f}")
    print("| steps | train s (stage) | steps/s | classes | mean top prob | passes | per-class counts |")
    print("|---|---|---|---|---|---|---|")
    began, done = time.monotonic(), latest_step(run)  # a rerun resumes the run in --work
    for target in [int(s) for s in args.steps.split(",")]:
        if time.monotonic() - began > args.budget:
            print(f"budget of {args.budget:.0f} s spent: stopped before {target} steps")
            break
        t0 = time.monotonic()
        mlkit("train-gan", data, "-c", run, "--image-size", "16", "--channels", "1", "--batch-size", "64",
              "--steps", str(target), "--seed", str(args.seed), "--sample-every", "500", "--checkpoint-every", "500",
              *args.train_args.split())
        seconds = time.monotonic() - t0
        out = os.path.join(work, f"samples_{target}")
        mlkit("generate", "-c", run, "-n", str(SAMPLES), "--seed", "1", "-o", out + "/")
        classes, top, counts = judge(model, out)
        ok = classes >= 8 and top >= 0.8
        print(f"| {target} | {seconds:.0f} | {(target - done) / seconds:.1f} | {classes} | {top:.3f} | {'yes' if ok else 'no'} "
              f"| {' '.join(map(str, counts))} |", flush=True)
        done = target


if __name__ == "__main__":
    main()
