"""`compress eval`: each model's rate and distortion on a set, its curve (several models, or an
autoencoder's --bits), and the codecs' rates at the same PSNR and their BD-rate."""

import numpy as np

from mlkit.compress import bd, codec as ae_codec, metrics
from mlkit.compress.baselines import Baselines, available

CURVE_BITS = (2, 3, 4, 5, 6, 8)  # an autoencoder's curve: its codes at these bit depths


def measure(codec, images, originals, bits, slice_axis, jobs=1, fit=False):
    """(bpp, per-image scores) of one model at `bits` on the set, from the real .mlz bytes."""
    raw = ae_codec.encode(codec, images, bits, slice_axis, jobs, fit)
    decoded = ae_codec.decode(codec, raw, jobs)
    pixels = sum(int(np.prod(m.plane_shape[:2])) * m.count for m, _ in decoded)
    return len(raw) * 8 / pixels, [metrics.score(o, d, m) for o, (m, d) in zip(originals, decoded)], len(raw)


def evaluate(codecs, images, bits=8, slice_axis=2, plot=None, jobs=1, fit=False):
    """codecs: [(name, Codec)]. Rows: per model, one per image then its mean over the set
    (image "mean", images N) with the codecs' matched rates and the curve's BD-rates."""
    originals = [np.asarray(img.data) for img in images]
    metas, planes = ae_codec.split(images, slice_axis)
    base = Baselines(originals, metas, planes)
    names = available()
    results, curve = [], []
    for name, codec in codecs:
        bpp, scores, size = measure(codec, images, originals, bits, slice_axis, jobs, fit)
        results.append((name, bpp, scores, size))
        curve.append((bpp, metrics.mean_psnr(scores), metrics.pooled_psnr(scores)))
        if codec.kind not in ("rd", "hyper") and len(codecs) == 1:
            for b in CURVE_BITS:
                if b != bits:
                    more = measure(codec, images, originals, b, slice_axis, jobs, fit)
                    curve.append((more[0], metrics.mean_psnr(more[1]), metrics.pooled_psnr(more[1])))
    curves = {n: base.curve(n) for n in names}
    bd_rates = {n: {"mean": bd.bd_rate([c[:2] for c in curve], [(p[1], p[2]) for p in curves[n]]),
                    "pooled": bd.bd_rate([(c[0], c[2]) for c in curve], [(p[1], p[3]) for p in curves[n]])} for n in names}
    rows = []
    for name, bpp, scores, size in results:
        rows += _rows(name, metas, scores, bpp, base, size, names, bd_rates)
    if plot:
        from mlkit.compress.plot import draw

        draw(plot, sorted(curve), curves)
    return rows


def _rows(model, metas, scores, bpp, base, size, names, bd_rates):
    rows = [{"model": model, "image": meta.name, "images": 1, "psnr_db": s[0], "ssim": s[1], "bpp": bpp}
            for meta, s in zip(metas, scores)]
    mean, pooled = metrics.mean_psnr(scores), metrics.pooled_psnr(scores)
    row = {"model": model, "image": "mean", "images": len(metas), "psnr_db": mean, "psnr_pooled_db": pooled,
           "ssim": float(np.nanmean([s[1] for s in scores])), "bpp": bpp, "ratio": base.raw / size}
    for name in names:
        at_mean, at_pooled = base.matched(name, mean), base.matched(name, pooled, pooled=True)
        row[name] = {"quality": at_mean["quality"], "reached": at_mean["reached"], "psnr_db": at_mean["psnr_db"],
                     "bpp": at_mean["bpp"],
                     "quality_pooled": at_pooled["quality"], "reached_pooled": at_pooled["reached"],
                     "psnr_pooled_db": at_pooled["psnr_db"], "bpp_pooled": at_pooled["bpp"],
                     "bd_rate": bd_rates[name]["mean"], "bd_rate_pooled": bd_rates[name]["pooled"]}
    lossless = base.lossless_cached()
    row["png"] = {"bpp": lossless["png"]["bpp"], "bpp_per_file": lossless["png"]["bpp_per_file"]}
    row["gzip"] = {"bpp": lossless["gzip"]["bpp"]}
    return rows + [row]
