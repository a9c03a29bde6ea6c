"""The codecs a model is compared with, through Pillow: JPEG (libjpeg, optimised Huffman
tables), WebP (libwebp, method 6), AVIF (libavif, speed 0: its strongest), JPEG XL (libjxl,
effort 7) when pillow-jxl-plugin is installed; lossless PNG, and gzip of the raw 8-bit samples.

Each codec sees the image's planes as 8-bit samples (round(255 * unit plane)). `bpp` stores
the set as one tiled picture, so its headers count once; `bpp_per_file` stores each plane as
its own file, headers and all (PNG only: the lossy codecs' curves are too slow per file).
A codec's rate at a target PSNR is interpolated (log-rate,
linear in PSNR) between the two qualities around it on its curve.
"""

import gzip
import io
import math

import numpy as np

from mlkit.compress import metrics
from mlkit.compress.planes import assemble

# name: (Pillow format, the save options besides quality)
LOSSY = {"jpeg": ("JPEG", {"optimize": True}), "webp": ("WEBP", {"method": 6}),
         "avif": ("AVIF", {"speed": 0}), "jxl": ("JXL", {"effort": 7})}
CURVE = (1, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 85, 90, 95, 100)


def available():
    """The lossy codecs this Pillow can write (JPEG XL needs pillow-jxl-plugin)."""
    from PIL import features

    names = ["jpeg", "webp"] + (["avif"] if features.check("avif") else [])
    try:
        import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)

        names.append("jxl")
    except ImportError:
        pass
    return tuple(names)


def eight_bit(planes):
    return [np.rint(np.clip(p, 0, 1) * 255).astype(np.uint8) for p in planes]


def _cells(planes):
    h = max(p.shape[0] for p in planes)
    w = max(p.shape[1] for p in planes)
    cols = math.ceil(math.sqrt(len(planes)))
    return h, w, cols, math.ceil(len(planes) / cols)


def tile(planes):
    """The planes as one picture on a near-square grid of equal cells (zeros between)."""
    h, w, cols, rows = _cells(planes)
    canvas = np.zeros((rows * h, cols * w, planes[0].shape[2]), np.uint8)
    for i, p in enumerate(planes):
        r, q = divmod(i, cols)
        canvas[r * h : r * h + p.shape[0], q * w : q * w + p.shape[1]] = p
    return canvas


def untile(canvas, planes):
    h, w, cols, _ = _cells(planes)
    return [canvas[r * h : r * h + p.shape[0], q * w : q * w + p.shape[1]] for i, p in enumerate(planes)
            for r, q in [divmod(i, cols)]]


def roundtrip(codec, image, quality=None):
    """(bytes, decoded 8-bit H x W x C) of one picture through `codec` (or lossless "png")."""
    from PIL import Image

    if codec == "jxl":
        import pillow_jxl  # noqa: F401
    c = image.shape[2]
    picture = Image.fromarray(np.ascontiguousarray(image[..., 0] if c == 1 else image))
    fmt, options = LOSSY.get(codec, ("PNG", {"optimize": True, "compress_level": 9}))
    buf = io.BytesIO()
    if quality is not None:
        options = {**options, "quality": min(int(quality), 99) if codec == "jxl" else int(quality)}  # libjxl: 100 is lossless mode
    picture.save(buf, fmt, **options)
    with Image.open(io.BytesIO(buf.getvalue())) as back:
        decoded = np.asarray(back.convert("L" if c == 1 else picture.mode))
    return len(buf.getvalue()), decoded.reshape(image.shape)


class Baselines:
    """The set as the codecs see it: 8-bit planes, tiled once, and the originals to score."""

    def __init__(self, originals, metas, unit_planes):
        self.originals, self.metas = originals, metas
        self.planes = eight_bit([p for group in unit_planes for p in group])
        self.canvas = tile(self.planes)
        self.pixels = sum(p.shape[0] * p.shape[1] for p in self.planes)
        self.raw = sum(o.nbytes for o in originals)
        self._tiled, self._curves = {}, {}

    def scores(self, decoded_planes):
        """Per image (psnr, ssim, mse / peak^2, voxels) of 8-bit planes mapped back to its voxels."""
        out, start = [], 0
        for original, meta in zip(self.originals, self.metas):
            group = [p.astype(np.float32) / 255 for p in decoded_planes[start : start + meta.count]]
            start += meta.count
            out.append(metrics.score(original, assemble(group, meta), meta))
        return out

    def tiled(self, codec, quality=None):
        if (codec, quality) not in self._tiled:
            size, decoded = roundtrip(codec, self.canvas, quality)
            self._tiled[codec, quality] = (size * 8 / self.pixels, self.scores(untile(decoded, self.planes)))
        return self._tiled[codec, quality]

    def per_file(self, codec, quality=None):
        sizes = [roundtrip(codec, p, quality)[0] for p in self.planes]
        return sum(sizes) * 8 / self.pixels, [s * 8 / (p.shape[0] * p.shape[1]) for s, p in zip(sizes, self.planes)]

    def curve(self, codec):
        """[(quality, bpp, mean PSNR, pooled PSNR)] over CURVE."""
        if codec in self._curves:
            return self._curves[codec]
        points = self._curves[codec] = []
        for q in CURVE:
            bpp, scores = self.tiled(codec, q)
            points.append((q, bpp, metrics.mean_psnr(scores), metrics.pooled_psnr(scores)))
        return points

    def matched(self, codec, target_db, pooled=False):
        """The codec's rate at `target_db` (mean or pooled PSNR): interpolated in log-rate between
        the qualities around it; `reached` false (and its best point) when no quality gets there."""
        points = self.curve(codec)
        col = 3 if pooled else 2
        for lo, hi in zip(points, points[1:]):
            if lo[col] <= target_db <= hi[col] and hi[col] > lo[col]:
                t = (target_db - lo[col]) / (hi[col] - lo[col])
                bpp = math.exp(math.log(lo[1]) + t * (math.log(hi[1]) - math.log(lo[1])))
                return {"quality": lo[0] + t * (hi[0] - lo[0]), "reached": True, "bpp": bpp, "psnr_db": target_db}
        best = max(points, key=lambda p: p[col]) if points[-1][col] < target_db else points[0]
        return {"quality": best[0], "reached": best[col] >= target_db, "bpp": best[1], "psnr_db": best[col]}

    def lossless_cached(self):
        if "lossless" not in self._curves:
            self._curves["lossless"] = self.lossless()
        return self._curves["lossless"]

    def lossless(self):
        png_bpp, _ = self.tiled("png")
        png_file, files = self.per_file("png")
        raw = b"".join(p.tobytes() for p in self.planes)
        return {"png": {"bpp": png_bpp, "bpp_per_file": png_file, "files": files},
                "gzip": {"bpp": len(gzip.compress(raw, 9, mtime=0)) * 8 / self.pixels}}


def mean_finite(values):
    """The mean of the finite values (a lossless image has an infinite PSNR); inf if none."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("inf")
