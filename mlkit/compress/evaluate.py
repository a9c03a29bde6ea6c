"""`compress eval`: the autoencoder's rate and distortion beside JPEG, WebP, AVIF, PNG, gzip."""

import numpy as np

from mlkit.compress import codec as ae_codec, metrics
from mlkit.compress.baselines import LOSSY, Baselines, mean_finite as _mean

CODECS = tuple(LOSSY)


def evaluate(codec, images, bits=8, slice_axis=2, plot=None):
    """Rows: one per image, then the mean over the set (image "mean", images N)."""
    raw = ae_codec.encode(codec, images, bits, slice_axis)
    decoded = ae_codec.decode(codec, raw)
    metas, planes = ae_codec.split(images, slice_axis)
    originals = [np.asarray(img.data) for img in images]
    base = Baselines(originals, metas, planes)
    bpp = len(raw) * 8 / base.pixels
    ours = [(metrics.psnr(o, d), metrics.ssim(o, d, m)) for o, (m, d) in zip(originals, decoded)]
    target = _mean([s[0] for s in ours])
    lossy = {name: base.matched(name, target) for name in CODECS}
    lossless = base.lossless()
    rows = _rows(metas, ours, bpp, base.raw / len(raw), lossy, lossless, base.raw, base.pixels)
    if plot:
        from mlkit.compress.plot import draw

        draw(plot, {"autoencoder": [(bpp, target)], **{n: base.curve(n) for n in CODECS}},
             {n: (lossy[n]["bpp"], _mean([s[0] for s in lossy[n]["scores"]])) for n in CODECS})
    return rows


def _rows(metas, ours, bpp, ratio, lossy, lossless, raw, pixels):
    rows, start = [], 0
    for i, meta in enumerate(metas):
        files = slice(start, start + meta.count)
        start += meta.count
        row = {"image": meta.name, "images": 1, "psnr_db": ours[i][0], "ssim": ours[i][1], "bpp": bpp, "ratio": ratio}
        for name, found in lossy.items():
            row[name] = {"quality": found["quality"], "psnr_db": found["scores"][i][0], "ssim": found["scores"][i][1],
                         "bpp": found["bpp"], "bpp_per_file": _mean(found["files"][files])}
        row["png"] = {"bpp": lossless["png"]["bpp"], "bpp_per_file": _mean(lossless["png"]["files"][files])}
        row["gzip"] = {"bpp": lossless["gzip"]["bpp"]}
        rows.append(row)
    rows.append(_mean_row(rows, lossy, lossless, raw, pixels))
    return rows


def _mean_row(rows, lossy, lossless, raw, pixels):
    mean = {"image": "mean", "images": len(rows), "psnr_db": _mean([r["psnr_db"] for r in rows]),
            "ssim": _mean([r["ssim"] for r in rows]), "bpp": rows[0]["bpp"], "ratio": rows[0]["ratio"]}
    for name, found in lossy.items():
        mean[name] = {"quality": found["quality"], "reached": found["reached"],
                      "psnr_db": _mean([s[0] for s in found["scores"]]), "ssim": _mean([s[1] for s in found["scores"]]),
                      "bpp": found["bpp"], "bpp_per_file": found["bpp_per_file"], "ratio": raw / (found["bpp"] * pixels / 8)}
    mean["png"] = {"bpp": lossless["png"]["bpp"], "bpp_per_file": lossless["png"]["bpp_per_file"]}
    mean["gzip"] = {"bpp": lossless["gzip"]["bpp"]}
    return mean
