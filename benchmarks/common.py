"""Shared helpers for the benchmarks: medians of repeated runs, the MNI152 test volume."""

import os
import statistics
import time


def median_time(fn, repeats=5, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def mni_paths():
    """The MNI152 2009a T1 and its GM/WM maps, as shipped inside nilearn's wheel."""
    import nilearn

    folder = os.path.join(os.path.dirname(nilearn.__file__), "datasets", "data")
    name = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"
    return {k: os.path.join(folder, name.format(k)) for k in ("t1", "gm", "wm")}


def mni_with_labels(folder):
    """Write mni_t1.nii.gz and a 3-label mni_seg.nii.gz (GM 1, WM 2, other head 3) into `folder`."""
    import nibabel as nib
    import numpy as np

    paths = mni_paths()
    t1 = nib.load(paths["t1"])
    gm = np.asanyarray(nib.load(paths["gm"]).dataobj) > 0.5
    wm = np.asanyarray(nib.load(paths["wm"]).dataobj) > 0.5
    data = np.asanyarray(t1.dataobj)
    seg = np.zeros(t1.shape, np.uint8)
    seg[data > 10] = 3
    seg[gm] = 1
    seg[wm] = 2
    out_t1, out_seg = os.path.join(folder, "mni_t1.nii.gz"), os.path.join(folder, "mni_seg.nii.gz")
    nib.save(nib.Nifti1Image(data.astype(np.float32), t1.affine), out_t1)
    nib.save(nib.Nifti1Image(seg, t1.affine), out_seg)
    return out_t1, out_seg


def ratio_line(name, ours, peer, peer_name):
    return f"| {name} | {ours * 1000:.0f} ms | {peer * 1000:.0f} ms | {ours / peer:.2f}x |"
