"""Time per augmented copy (image + 3-label seg) on the MNI152 T1, mlkit vs TorchIO, side by side.

    python -m venv peers && peers/bin/pip install torch==2.13.0 torchio nilearn click rich opencv-python-headless
    PYTHONPATH=. peers/bin/python benchmarks/augment_vs_torchio.py
"""

import os
import subprocess
import sys
import tempfile

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


def main():
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
    print(f"MNI152 T1 {img.data.shape} + 3-label seg, {COPIES} copies per run, median of 3-5 runs, {os.cpu_count()} cores")
    print("| case | mlkit per copy | TorchIO per copy | ratio |\n| --- | --- | --- | --- |")
    for name, ours, transform, repeats in cases:
        t_ours = median_time(ours, repeats) / COPIES
        t_peer = median_time(torchio_copies(subject, transform), repeats) / COPIES
        print(ratio_line(name, t_ours, t_peer, "TorchIO"))
    whole_command(t1_path, seg_path, folder)


def whole_command(t1_path, seg_path, folder):
    """What a user waits for: start-up, reading, augmenting, writing .nii.gz files."""
    out = os.path.join(folder, "out")
    cmd = [sys.executable, "-m", "mlkit", "augment", t1_path, "--seg", seg_path, "-n", str(COPIES), "--seed", "1", "-o", out + "/"]
    t = median_time(lambda: subprocess.run(cmd, check=True), repeats=3)
    print(f"\nwhole command, `mlkit augment mni_t1.nii.gz --seg mni_seg.nii.gz -n {COPIES} -o out/` (cubic): "
          f"{t:.2f} s, {t / COPIES:.2f} s per copy written")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
