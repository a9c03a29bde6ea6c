"""Image sets to .mlz bytes and back through a trained model: the rd codec (its integer
tables), the hyper codec (integer side network and tables) or an autoencoder (its codes quantised to `bits` levels and range coded under a
Gaussian per code number). Version-1 containers (zlib/lzma-packed levels) still decode."""

import dataclasses
import math

import numpy as np

from mlkit.compress import entropy, formats, model as ae
from mlkit.compress.planes import assemble, from_model, meta_of, to_model, unit_planes
from mlkit.errors import MlkitError, UsageError

CHUNK = 64  # planes per transform call: the same batches, so the same numbers, whatever --jobs
SLACK = 0.1  # a plane's aspect may differ from the model's by this share and still be stretched


@dataclasses.dataclass
class Codec:
    """A loaded model: its two transforms, the input size and its fingerprint; the rd codec's
    integer tables (offset, length, pmf per latent channel); the hyper codec's side network and
    tables."""

    encoder: object
    decoder: object
    size: tuple
    channels: int
    latent: int
    fingerprint: str
    kind: str = "ae"
    tables: tuple = None
    side: object = None  # the hyper codec's hyper.Side

    @property
    def grid(self):
        """The rd latent map's h x w (the analysis transform's output)."""
        _, h, w, _ = self.encoder.output_shape
        return (int(h), int(w))


def load(path, keras):
    """The model in `path` (.keras, safe mode), ready to encode and decode."""
    from mlkit.compress import hyper, rd
    from mlkit.deep.models import fingerprint, load_model

    model = load_model(path, keras, hyper.custom_objects())
    _, h, w, c = model.input_shape
    names = [layer.name for layer in model.layers]
    if "hyper_synthesis" in names:
        analysis, synthesis = model.get_layer("analysis"), model.get_layer("synthesis")
        try:
            side = hyper.side_of(model)
        except MlkitError as exc:
            raise MlkitError(f"{path}: {exc.message}", exc.hint) from None
        return Codec(analysis, synthesis, (int(h), int(w)), int(c), int(analysis.output_shape[-1]), fingerprint(model), "hyper",
                     side.z_tables, side)
    if "analysis" in names:
        analysis, _, synthesis = rd.parts(model)
        tables = rd.tables(model)
        if (tables[1] < 2).any():
            raise MlkitError(f"{path}: the rd model has no entropy tables", "train it with mlkit compress train")
        try:
            rd.check_tables(tables[1], tables[2], "the latents'", tables[0])
        except MlkitError as exc:
            raise MlkitError(f"{path}: {exc.message}", exc.hint) from None
        return Codec(analysis, synthesis, (int(h), int(w)), int(c), int(analysis.output_shape[-1]), fingerprint(model), "rd", tables)
    try:
        encoder, decoder = ae.halves(model)
    except MlkitError as exc:
        raise MlkitError(f"{path}: {exc.message}", exc.hint) from None
    return Codec(encoder, decoder, (int(h), int(w)), int(c), int(encoder.output_shape[-1]), fingerprint(model))


def split(images, slice_axis=2):
    """(metas, unit planes per image) of Image objects."""
    metas = [meta_of(img, slice_axis) for img in images]
    return metas, [unit_planes(img, meta) for img, meta in zip(images, metas)]


def check_fit(codec, metas, fit=False):
    """An input whose planes do not match the model's channels, aspect (within SLACK) or scale
    (within 2x) is an error naming both, unless `fit` (convert and stretch)."""
    if fit:
        return
    mh, mw = codec.size
    for meta in metas:
        h, w, c = meta.plane_shape
        aspect = abs(math.log((h / w) / (mh / mw)))
        scale = abs(math.log(math.sqrt(h * w / (mh * mw))))
        if c != codec.channels or aspect > math.log(1 + SLACK) or scale > math.log(2):
            what = f"{h}x{w} {_channels(c)} slices" if meta.volume else f"a {h}x{w} {_channels(c)} image"
            raise MlkitError(f"{meta.name}: {what}, the model takes {mh}x{mw} {_channels(codec.channels)} planes",
                             "give images like the training set, or --fit to convert and stretch them")


def _channels(c):
    return {1: "grey", 3: "colour", 4: "colour+alpha"}.get(c, f"{c}-channel")


def _run(fn, x, jobs=1):
    """`fn` over x in CHUNK-plane batches, `jobs` batches at a time (threads)."""
    chunks = [x[i : i + CHUNK] for i in range(0, len(x), CHUNK)]

    def one(chunk):
        return np.asarray(fn(chunk, training=False))

    if jobs > 1 and len(chunks) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(jobs) as pool:
            return np.concatenate(list(pool.map(one, chunks)))
    return np.concatenate([one(c) for c in chunks])


def quantise(codes, bits):
    """(levels, scale, offset): per code number, `bits`-bit levels spanning the set's range."""
    if not 1 <= bits <= 16:
        raise UsageError(f"--bits {bits} is not in 1..16")
    offset = codes.min(axis=0)
    span = codes.max(axis=0) - offset
    scale = np.where(span > 0, span / ((1 << bits) - 1), 1.0).astype(np.float32)
    levels = np.clip(np.rint((codes - offset) / scale), 0, (1 << bits) - 1).astype(np.uint32)
    return levels, scale, offset.astype(np.float32)


def quantised(codec, images, bits=8, slice_axis=2, jobs=1, fit=False):
    """(metas, the integers the container stores): rd latent values N x h x w x C (clipped to
    the tables), or the autoencoder's (levels, scale, offset)."""
    metas, planes = split(images, slice_axis)
    check_fit(codec, metas, fit)
    codes = _run(codec.encoder, to_model([p for group in planes for p in group], codec.size, codec.channels), jobs)
    if codec.kind == "hyper":
        return metas, _hyper_quantised(codec, codes, jobs)
    if codec.kind != "rd":
        return metas, quantise(codes, bits)
    offset, length, _ = codec.tables
    return metas, np.clip(np.rint(codes).astype(np.int64), offset, offset + length - 1)


def _hyper_quantised(codec, y, jobs):
    """(y_hat, z_hat, level): z from the float hyper-analysis, rounded and clipped to its tables;
    each latent's scale level from the integer network; y rounded and clipped to its level's table."""
    offset, length, _ = codec.tables
    z_hat = np.clip(np.rint(_run(codec.side.hyper_analysis, y, jobs)).astype(np.int64), offset, offset + length - 1)
    level = _levels(codec, z_hat)
    half = codec.side.y_tables[0][level] // 2
    return np.clip(np.rint(y).astype(np.int64), -half, half), z_hat, level


def _levels(codec, z_hat):
    """The integer network over CHUNK planes at a time (exact: the batches do not matter, only memory)."""
    from mlkit.compress import hyper

    if not len(z_hat):
        return np.zeros((0, *codec.grid, codec.latent), np.int64)
    return np.concatenate([hyper.indices(codec.side.net, z_hat[i : i + CHUNK]) for i in range(0, len(z_hat), CHUNK)])


def _hyper_groups(codec, y_hat, z_hat, level):
    """(z groups, z tables, y groups, y tables): z per channel, y per scale level (in C order)."""
    offset, length, pmf = codec.tables
    ylength, ypmf = codec.side.y_tables
    z_groups = [(z_hat[..., k] - offset[k]).ravel() for k in range(codec.latent)]
    y_groups = [y_hat[level == i] + ylength[i] // 2 for i in range(len(ylength))]
    return (z_groups, [pmf[k, : length[k]] for k in range(codec.latent)],
            y_groups, [ypmf[i, : ylength[i]] for i in range(len(ylength))])


def encode(codec, images, bits=8, slice_axis=2, jobs=1, fit=False):
    """The .mlz bytes (version 2) of `images` (Image objects)."""
    metas, found = quantised(codec, images, bits, slice_axis, jobs, fit)
    header = {"model": codec.kind, "latent": codec.latent, "size": [*codec.size, codec.channels],
              "images": [dataclasses.asdict(m) | {"shape": list(m.shape)} for m in metas]}
    if codec.kind == "hyper":
        z_groups, z_tables, y_groups, y_tables = _hyper_groups(codec, *found)
        z_words, y_words = entropy.encode(z_groups, z_tables), entropy.encode(y_groups, y_tables)
        header |= {"grid": list(codec.grid), "zwords": len(z_words)}
        return formats.pack_coded(codec.fingerprint, header, [], np.concatenate([z_words, y_words]))
    if codec.kind == "rd":
        offset, length, pmf = codec.tables
        groups = [(found[..., k] - offset[k]).ravel() for k in range(codec.latent)]
        words = entropy.encode(groups, [pmf[k, : length[k]] for k in range(codec.latent)])
        return formats.pack_coded(codec.fingerprint, header | {"grid": list(codec.grid)}, [], words)
    levels, scale, offset = found
    mean, std = levels.mean(axis=0).astype(np.float32), levels.std(axis=0).astype(np.float32)
    words = entropy.encode([levels[:, j] for j in range(codec.latent)], _gaussians(mean, std, bits))
    return formats.pack_coded(codec.fingerprint, header | {"bits": bits}, np.concatenate([scale, offset, mean, std]), words)


def _gaussians(mean, std, bits):
    return [entropy.gaussian_table(m, s, 1 << bits, max(16, bits + 8)) for m, s in zip(mean.tolist(), std.tolist())]


def latents(codec, raw):
    """(header, the stored integers) of a container made by this model: rd latent values
    N x h x w x C, or the autoencoder's levels N x latent. raw: the container's bytes, or
    formats.unpack's result when it was unpacked already (the body is inflated once)."""
    if isinstance(raw, dict):
        box = raw
        formats.check_fingerprint(box["fingerprint"], codec.fingerprint)
    else:
        box = formats.unpack(raw, codec.fingerprint)
    header = box["header"]
    if header.get("model", "ae") != codec.kind or header["latent"] != codec.latent or tuple(header["size"]) != (*codec.size, codec.channels):
        raise formats.ImageFormatError("the container's code size does not fit this model", "decode with the model that encoded it")
    n = sum(formats.meta_from(img).count for img in header["images"])
    if box["version"] == 1:
        return box, box["levels"]
    if codec.kind == "hyper":
        return box, _hyper_latents(codec, box, n)
    if codec.kind == "rd":
        if tuple(header["grid"]) != codec.grid:
            raise formats.ImageFormatError("the container's latent grid does not fit this model", "decode with the model that encoded it")
        offset, length, pmf = codec.tables
        per = n * codec.grid[0] * codec.grid[1]
        groups = entropy.decode(box["words"], [per] * codec.latent, [pmf[k, : length[k]] for k in range(codec.latent)])
        values = np.stack([np.asarray(g, np.int64) + offset[k] for k, g in enumerate(groups)], axis=-1)
        return box, values.reshape(n, *codec.grid, codec.latent)
    if len(box["numbers"]) != 4 * codec.latent:
        raise formats.ImageFormatError(f"damaged .mlz container: {len(box['numbers'])} stored numbers, the model needs {4 * codec.latent}")
    mean, std = box["numbers"][2 * codec.latent : 3 * codec.latent], box["numbers"][3 * codec.latent :]
    groups = entropy.decode(box["words"], [n] * codec.latent, _gaussians(mean, std, header["bits"]))
    return box, np.stack([np.asarray(g, np.int64) for g in groups], axis=-1).reshape(n, codec.latent)


def _hyper_latents(codec, box, n):
    """(y_hat, z_hat, level): z first (its words), the levels from z, then y."""
    if tuple(box["header"]["grid"]) != codec.grid:
        raise formats.ImageFormatError("the container's latent grid does not fit this model", "decode with the model that encoded it")
    offset, length, pmf = codec.tables
    ylength, ypmf = codec.side.y_tables
    gh, gw = codec.grid
    split = box["header"]["zwords"]
    z_groups = entropy.decode(box["words"][:split], [n * (gh // 4) * (gw // 4)] * codec.latent,
                              [pmf[k, : length[k]] for k in range(codec.latent)])
    z_hat = np.stack([np.asarray(g, np.int64) + offset[k] for k, g in enumerate(z_groups)], axis=-1)
    z_hat = z_hat.reshape(n, gh // 4, gw // 4, codec.latent)
    level = _levels(codec, z_hat)
    counts = np.bincount(level.ravel(), minlength=len(ylength))
    y_groups = entropy.decode(box["words"][split:], counts, [ypmf[i, : ylength[i]] for i in range(len(ylength))])
    y_hat = np.zeros(level.shape, np.int64)
    for i, group in enumerate(y_groups):
        y_hat[level == i] = np.asarray(group, np.int64) - ylength[i] // 2
    return y_hat, z_hat, level


def decode(codec, raw, jobs=1):
    """[(meta, voxels)] from .mlz bytes (or formats.unpack's result); refused when another
    model made them."""
    box, found = latents(codec, raw)
    if codec.kind == "hyper":
        recon = np.clip(_run(codec.decoder, found[0].astype(np.float32), jobs), 0.0, 1.0)
    elif codec.kind == "rd":
        recon = np.clip(_run(codec.decoder, found.astype(np.float32), jobs), 0.0, 1.0)
    else:
        if box["version"] == 1:
            scale, offset = box["scale"], box["offset"]
        else:
            scale, offset = box["numbers"][: codec.latent], box["numbers"][codec.latent : 2 * codec.latent]
        recon = _run(codec.decoder, (offset + found.astype(np.float32) * scale).astype(np.float32), jobs)
    out, start = [], 0
    for entry in box["header"]["images"]:
        meta = formats.meta_from(entry)
        planes = from_model(recon[start : start + meta.count], meta)
        start += meta.count
        out.append((meta, assemble(planes, meta)))
    return out
