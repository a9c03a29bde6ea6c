"""PSNR and SSIM between an original image and its reconstruction, the way eval reports them.

peak: 255 for 8-bit images, else the original's range (max - min of its finite values).
PSNR: 10 log10(peak^2 / MSE) over every voxel. SSIM: scikit-image's structural_similarity
with data_range=peak on each 2D plane (colour as channels), averaged over a volume's planes.
"""

import numpy as np


def peak(original):
    if original.dtype == np.uint8:
        return 255.0
    finite = original[np.isfinite(original)].astype(np.float64)
    span = float(finite.max() - finite.min()) if finite.size else 0.0
    return span if span > 0 else 1.0


def psnr(original, recon):
    a, b = original.astype(np.float64), recon.astype(np.float64)
    mse = float(np.mean((np.nan_to_num(a) - np.nan_to_num(b)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak(original) ** 2 / mse)


def ssim(original, recon, meta):
    from skimage.metrics import structural_similarity

    top = peak(original)
    pairs = _plane_pairs(np.nan_to_num(original.astype(np.float64)), np.nan_to_num(recon.astype(np.float64)), meta)
    scores = []
    for a, b in pairs:
        colour = a.ndim == 3
        side = min(a.shape[:2])
        win = min(7, side if side % 2 else side - 1)
        if win < 3:
            continue
        scores.append(structural_similarity(a, b, data_range=top, win_size=win, channel_axis=-1 if colour else None))
    return float(np.mean(scores)) if scores else float("nan")


def _plane_pairs(a, b, meta):
    if not meta.volume:
        return [(a, b)]
    a = a.reshape(a.shape[:3] + (-1,))
    b = b.reshape(b.shape[:3] + (-1,))
    axis = meta.slice_axis
    return [(np.take(a[..., t], k, axis=axis), np.take(b[..., t], k, axis=axis))
            for t in range(a.shape[3]) for k in range(a.shape[axis])]


def score(original, recon, meta):
    """(psnr, ssim, mse / peak^2, voxels) of one image: what the set's two PSNRs are made of."""
    a, b = np.nan_to_num(original.astype(np.float64)), np.nan_to_num(recon.astype(np.float64))
    return psnr(original, recon), ssim(original, recon, meta), float(np.mean((a - b) ** 2)) / peak(original) ** 2, int(a.size)


def mean_psnr(scores):
    """The mean of the per-image PSNRs (finite ones; inf when every image is exact)."""
    finite = [s[0] for s in scores if np.isfinite(s[0])]
    return float(np.mean(finite)) if finite else float("inf")


def pooled_psnr(scores):
    """The PSNR of all voxels of the set at once, each image's error in units of its own peak:
    -10 log10(sum(n * mse / peak^2) / sum(n)). With one peak (8-bit sets) it is the PSNR of the
    concatenated set, lower than the mean PSNR when the errors differ between images."""
    total = sum(s[3] for s in scores)
    err = sum(s[2] * s[3] for s in scores) / total
    return float("inf") if err == 0 else float(-10.0 * np.log10(err))
