"""Time per augmented copy (image + 3-label seg) on the MNI152 T1, mlkit vs TorchIO, side by side.

    python -m venv peers && peers/bin/pip install torch==2.13.0 torchio nilearn click rich opencv-python-headless isal
    PYTHONPATH=. peers/bin/python benchmarks/augment_vs_torchio.py [--rounds 7] [--no-elastic]

First the copies as a user keeps them, each written as two .nii.gz files, mlkit and TorchIO
alternating round by round (a changing load hits both alike); then the library calls alone.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from common import median_time, mni_with_labels, ratio_line

COPIES = 5


def mlkit_copies(img, seg, order, enabled, **policy):
    from mlkit.augment import Options, augment
    from mlkit.augment.policy import Policy

    opts = Options(policy=Policy(enabled=enabled, mode="all", **policy), order=order)
    return lambda: augment(img, seg, COPIES, np.random.SeedSequence(0), opts)


def torchio_copies(subject, transform):
    def run():
        for _ in range(COPIES):
            transform(subject)

    return run


def written_copies(img, seg, folder, order, enabled, **policy):
    from mlkit.io import write_image

    make = mlkit_copies(img, seg, order, enabled, **policy)

    def run():
        for k, (copy, seg_copy) in enumerate(make()):
            write_image(copy, os.path.join(folder, f"mlkit_{k}.nii.gz"))
            write_image(seg_copy, os.path.join(folder, f"mlkit_seg_{k}.nii.gz"))

    return run


def written_torchio(subject, transform, folder):
    def run():
        for k in range(COPIES):
            out = transform(subject)
            out.t1.save(os.path.join(folder, f"tio_{k}.nii.gz"))
            out.seg.save(os.path.join(folder, f"tio_seg_{k}.nii.gz"))

    return run


def alternating(ours, peer, rounds):
    """Median seconds of each, the two run one after the other in every round (one warm-up)."""
    times = ([], [])
    ours(), peer()
    for _ in range(rounds):
        for fn, spent in zip((ours, peer), times):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds of the written copies")
    parser.add_argument("--no-elastic", action="store_true", help="skip the elastic case (TorchIO takes ~10 s a copy)")
    args = parser.parse_args()
    import torch
    import torchio as tio

    from mlkit.io import read_image

    torch.manual_seed(0)
    folder = tempfile.mkdtemp()
    t1_path, seg_path = mni_with_labels(folder)
    img, seg = read_image(t1_path), read_image(seg_path)
    subject = tio.Subject(t1=tio.ScalarImage(t1_path), seg=tio.LabelMap(seg_path))
    affine_kw = dict(scales=(0.9, 1.1), degrees=(0, 0, 0, 0, -10, 10), translation=(-5, 5, -5, 5, 0, 0))
    rigid = ("rotate", "scale", "translate")
    cases = [
        ("affine, linear", mlkit_copies(img, seg, 1, rigid), tio.RandomAffine(**affine_kw), 5),
        ("affine, cubic B-spline", mlkit_copies(img, seg, 3, rigid), tio.RandomAffine(image_interpolation="bspline", **affine_kw), 5),
        ("elastic, linear", mlkit_copies(img, seg, 1, ("elastic",), elastic=(0, 7.5)), tio.RandomElasticDeformation(), 3),
    ]
    print(f"MNI152 T1 {img.data.shape} + 3-label seg, {COPIES} copies per run, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.no_elastic:
        cases.pop()
    print(f"\nPer copy, image and seg each written as .nii.gz, {args.rounds} alternating rounds:")
    print("| case | mlkit per copy | TorchIO per copy | ratio |\n| --- | --- | --- | --- |")
    ours, peer = alternating(written_copies(img, seg, folder, 1, rigid), written_torchio(subject, cases[0][2], folder),
                             args.rounds)
    print(ratio_line("affine, linear, writing .nii.gz", ours / COPIES, peer / COPIES, "TorchIO"))
    print(f"\nThe library calls alone (no writing), 3-5 alternating rounds (load average {os.getloadavg()[0]:.1f}):")
    print("| case | mlkit per copy | TorchIO per copy | ratio |\n| --- | --- | --- | --- |")
    for name, ours, transform, repeats in cases:
        t_ours, t_peer = alternating(ours, torchio_copies(subject, transform), repeats)
        print(ratio_line(name, t_ours / COPIES, t_peer / COPIES, "TorchIO"))
    whole_command(t1_path, seg_path, folder)


def whole_command(t1_path, seg_path, folder):
    """What a user waits for: start-up, reading, augmenting, writing .nii.gz files."""
    out = os.path.join(folder, "out")
    cmd = [sys.executable, "-m", "mlkit", "augment", t1_path, "--seg", seg_path, "-n", str(COPIES), "--seed", "1", "-o", out + "/"]
    t = median_time(lambda: subprocess.run(cmd, check=True), repeats=3)
    print(f"\nwhole command, `mlkit augment mni_t1.nii.gz --seg mni_seg.nii.gz -n {COPIES} -o out/` (linear, the default): "
          f"{t:.2f} s, {t / COPIES:.2f} s per copy written (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
