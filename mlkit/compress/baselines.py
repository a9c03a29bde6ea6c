"""The codecs an autoencoder is compared with: JPEG, WebP and AVIF (OpenCV's encoders) at the
quality that matches a target PSNR, lossless PNG, and gzip of the raw 8-bit samples.

Each codec sees the image's planes as 8-bit samples (round(255 * unit plane)). `bpp` stores
the set as one tiled picture, so its headers count once; `bpp_per_file` stores each plane as
its own file, headers and all.
"""

import gzip
import math

import numpy as np

from mlkit.compress import metrics
from mlkit.compress.planes import assemble

LOSSY = {"jpeg": (".jpg", "IMWRITE_JPEG_QUALITY", 0), "webp": (".webp", "IMWRITE_WEBP_QUALITY", 1),
         "avif": (".avif", "IMWRITE_AVIF_QUALITY", 0)}
CURVE = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)


def eight_bit(planes):
    return [np.rint(np.clip(p, 0, 1) * 255).astype(np.uint8) for p in planes]


def tile(planes):
    """The planes as one picture on a near-square grid of equal cells (zeros between)."""
    h = max(p.shape[0] for p in planes)
    w = max(p.shape[1] for p in planes)
    c = planes[0].shape[2]
    cols = math.ceil(math.sqrt(len(planes)))
    rows = math.ceil(len(planes) / cols)
    canvas = np.zeros((rows * h, cols * w, c), np.uint8)
    for i, p in enumerate(planes):
        r, q = divmod(i, cols)
        canvas[r * h : r * h + p.shape[0], q * w : q * w + p.shape[1]] = p
    return canvas


def untile(canvas, planes):
    h = max(p.shape[0] for p in planes)
    w = max(p.shape[1] for p in planes)
    cols = math.ceil(math.sqrt(len(planes)))
    out = []
    for i, p in enumerate(planes):
        r, q = divmod(i, cols)
        out.append(canvas[r * h : r * h + p.shape[0], q * w : q * w + p.shape[1]])
    return out


def _cv(image):
    """OpenCV's channel order: gray as 2D, colour as BGR."""
    if image.shape[2] == 1:
        return image[..., 0]
    return image[..., 2::-1] if image.shape[2] >= 3 else image[..., 0]


def _back(decoded, channels):
    import cv2

    if decoded.ndim == 2:
        decoded = decoded[..., None]
    if channels == 1 and decoded.shape[2] >= 3:
        return cv2.cvtColor(decoded[..., :3], cv2.COLOR_BGR2GRAY)[..., None]  # WebP decodes gray as BGR
    return decoded[..., 2::-1] if channels >= 3 else decoded


def roundtrip(codec, image, quality=None):
    """(bytes, decoded 8-bit H x W x C) of one picture through `codec`."""
    import cv2

    ext, flag, _ = LOSSY.get(codec, (".png", None, 0))
    params = [getattr(cv2, flag), int(quality)] if flag else [cv2.IMWRITE_PNG_COMPRESSION, 9]
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(_cv(image)), params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {codec}")
    return len(buf), _back(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), image.shape[2])


class Baselines:
    """The set as the codecs see it: 8-bit planes, tiled once, and the originals to score."""

    def __init__(self, originals, metas, unit_planes):
        self.originals, self.metas = originals, metas
        self.planes = eight_bit([p for group in unit_planes for p in group])
        self.canvas = tile(self.planes)
        self.pixels = sum(p.shape[0] * p.shape[1] for p in self.planes)
        self.raw = sum(o.nbytes for o in originals)

    def scores(self, decoded_planes):
        """Per image (psnr, ssim) of 8-bit planes mapped back to each image's voxels."""
        out, start = [], 0
        for original, meta in zip(self.originals, self.metas):
            group = [p.astype(np.float32) / 255 for p in decoded_planes[start : start + meta.count]]
            start += meta.count
            recon = assemble(group, meta)
            out.append((metrics.psnr(original, recon), metrics.ssim(original, recon, meta)))
        return out

    def tiled(self, codec, quality=None):
        size, decoded = roundtrip(codec, self.canvas, quality)
        return size * 8 / self.pixels, self.scores(untile(decoded, self.planes))

    def per_file(self, codec, quality=None):
        sizes = [roundtrip(codec, p, quality)[0] for p in self.planes]
        return sum(sizes) * 8 / self.pixels, [s * 8 / (p.shape[0] * p.shape[1]) for s, p in zip(sizes, self.planes)]

    def matched(self, codec, target_db):
        """The lowest quality whose mean PSNR reaches `target_db` (the highest when none does)."""
        low, high = LOSSY[codec][2], 100
        best = None
        while low <= high:
            q = (low + high) // 2
            bpp, scores = self.tiled(codec, q)
            if mean_finite([s[0] for s in scores]) >= target_db:
                best, high = (q, bpp, scores), q - 1
            else:
                low = q + 1
        reached = best is not None
        q, bpp, scores = best if reached else (100, *self.tiled(codec, 100))
        per_file, files = self.per_file(codec, q)
        return {"quality": q, "reached": reached, "bpp": bpp, "bpp_per_file": per_file, "scores": scores, "files": files}

    def lossless(self):
        png_bpp, _ = self.tiled("png")
        png_file, files = self.per_file("png")
        raw = b"".join(p.tobytes() for p in self.planes)
        return {"png": {"bpp": png_bpp, "bpp_per_file": png_file, "files": files},
                "gzip": {"bpp": len(gzip.compress(raw, 9, mtime=0)) * 8 / self.pixels}}

    def curve(self, codec):
        """(bpp, mean PSNR) at the plot's qualities."""
        points = []
        for q in CURVE:
            bpp, scores = self.tiled(codec, q)
            points.append((bpp, mean_finite([s[0] for s in scores])))
        return points


def mean_finite(values):
    """The mean of the finite values (a lossless image has an infinite PSNR); inf if none."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("inf")
