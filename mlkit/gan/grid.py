"""Generator outputs as pictures: [-1, 1] floats to 8 bits, tiled into grids; latent walks."""

import numpy as np


def to_uint8(images):
    """[-1, 1] -> 0..255, rounded."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1) * 127.5), 0, 255).astype(np.uint8)


GAP, GAP_VALUE = 2, 128  # mid-grey lines between cells: 16 px digits do not run together


def tile(images, rows, cols, gap=GAP, fill=GAP_VALUE):
    """N x H x W x C -> a rows x cols grid, filled row by row, `gap` pixels of `fill` between
    cells (not around them); missing cells stay black."""
    n, h, w, c = images.shape
    if n > rows * cols:
        raise ValueError(f"{n} images do not fit a {rows}x{cols} grid")
    canvas = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, c), fill, images.dtype)
    for i in range(rows * cols):
        r, k = divmod(i, cols)
        top, left = r * (h + gap), k * (w + gap)
        canvas[top : top + h, left : left + w] = images[i] if i < n else 0
    return canvas


def latent(seed, n, z_dim):
    """n latent vectors z ~ U(-1, 1): the same seed, the same vectors."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, z_dim)).astype(np.float32)


def walk(seed_a, seed_b, n, z_dim):
    """n latent vectors on the straight line from seed_a's z to seed_b's z, both ends included."""
    a, b = latent(seed_a, 1, z_dim), latent(seed_b, 1, z_dim)
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
    return (1 - t) * a + t * b


def parse_grid(text):
    """'8x8' -> (8, 8)."""
    import re

    match = re.fullmatch(r"\s*([1-9]\d*)\s*[xX]\s*([1-9]\d*)\s*", text)
    if match is None:
        raise ValueError(f"{text!r} is not ROWSxCOLS with positive numbers, e.g. 8x8")
    return int(match[1]), int(match[2])
