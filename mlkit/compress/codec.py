"""Image sets to .mlz bytes and back through a trained autoencoder."""

import dataclasses

import numpy as np

from mlkit.compress import formats, model as ae
from mlkit.compress.planes import assemble, from_model, meta_of, to_model, unit_planes
from mlkit.errors import UsageError


@dataclasses.dataclass
class Codec:
    """A loaded autoencoder: its halves, the input size and its fingerprint."""

    encoder: object
    decoder: object
    size: tuple
    channels: int
    latent: int
    fingerprint: str


def load(path, keras):
    """The autoencoder in `path` (.keras, safe mode), ready to encode and decode."""
    from mlkit.deep.models import fingerprint, load_model
    from mlkit.errors import MlkitError

    model = load_model(path, keras)
    try:
        encoder, decoder = ae.halves(model)
    except MlkitError as exc:
        raise MlkitError(f"{path}: {exc.message}", exc.hint) from None
    _, h, w, c = model.input_shape
    return Codec(encoder, decoder, (int(h), int(w)), int(c), int(encoder.output_shape[-1]), fingerprint(model))


def split(images, slice_axis=2):
    """(metas, unit planes per image) of Image objects."""
    metas = [meta_of(img, slice_axis) for img in images]
    return metas, [unit_planes(img, meta) for img, meta in zip(images, metas)]


def quantise(codes, bits):
    """(levels, scale, offset): per code number, `bits`-bit levels spanning the set's range."""
    if not 1 <= bits <= 16:
        raise UsageError(f"--bits {bits} is not in 1..16")
    offset = codes.min(axis=0)
    span = codes.max(axis=0) - offset
    scale = np.where(span > 0, span / ((1 << bits) - 1), 1.0).astype(np.float32)
    levels = np.clip(np.rint((codes - offset) / scale), 0, (1 << bits) - 1).astype(np.uint32)
    return levels, scale, offset.astype(np.float32)


def encode(codec, images, bits=8, slice_axis=2):
    """The .mlz bytes of `images` (Image objects)."""
    metas, planes = split(images, slice_axis)
    flat = [p for group in planes for p in group]
    codes = ae.run(codec.encoder, to_model(flat, codec.size, codec.channels))
    levels, scale, offset = quantise(codes, bits)
    header = {"bits": bits, "latent": codec.latent, "size": [*codec.size, codec.channels],
              "images": [dataclasses.asdict(m) | {"shape": list(m.shape)} for m in metas]}
    return formats.pack(codec.fingerprint, header, scale, offset, levels)


def decode(codec, raw):
    """[(meta, voxels)] from .mlz bytes; refused when another model made them."""
    header, scale, offset, levels = formats.unpack(raw, codec.fingerprint)
    if header["latent"] != codec.latent or tuple(header["size"]) != (*codec.size, codec.channels):
        raise formats.ImageFormatError("the container's code size does not fit this model", "decode with the model that encoded it")
    codes = offset + levels.astype(np.float32) * scale
    recon = ae.run(codec.decoder, codes)
    out, start = [], 0
    for entry in header["images"]:
        meta = formats.meta_from(entry)
        planes = from_model(recon[start : start + meta.count], meta)
        start += meta.count
        out.append((meta, assemble(planes, meta)))
    return out
