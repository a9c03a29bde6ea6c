"""The batch work of `mlkit homography`: warping images and volumes (the only place its
history is written), and matching two image files."""

import functools

import numpy as np

from mlkit import provenance
from mlkit.errors import MlkitError
from mlkit.homography.estimation import estimate
from mlkit.homography.formats import read_matrix
from mlkit.homography.matching import draw_matches, match
from mlkit.homography.warping import canvas, warp_image


def warp_work(matrix=None, pairs=None, size=None, fit=False, order=1, border="constant", robust=None, cmdline=None):
    """The batch work function of `homography warp`, with H read from `matrix` or estimated
    once from `pairs` (src, dst) with the `robust` options of estimate()."""
    if matrix is not None:
        H, dst_points, seed = read_matrix(matrix), None, None
    else:
        result = estimate(*pairs, **(robust or {}))
        H, dst_points, seed = result.H, pairs[1], result.seed
    return functools.partial(
        warp_step, H=H, size=size, fit=fit, dst_points=dst_points, order=order, border=border, seed=seed, cmdline=cmdline
    )


def warp_step(img, seedseq, H, size=None, fit=False, dst_points=None, order=1, border="constant", seed=None, cmdline=None):
    """Batch work function for `mlkit homography warp`: one image warped, its entry recorded."""
    moved, out_size = canvas(H, img.data.shape, size, fit, dst_points)
    out = warp_image(img, moved, out_size, order, border)
    params = {"H": moved.tolist(), "size": list(out_size), "order": order, "border": border}
    return [out.with_entry(provenance.entry("homography warp", params, seed=seed, cmdline=cmdline))]


def match_images(path1, path2, features="orb", ratio=0.75, draw=None, robust=None):
    """Match two image files and estimate H robustly (RANSAC unless `robust` says otherwise);
    with `draw`, save the inlier matches side by side. Returns (found, result)."""
    from mlkit.io import Image, write_image

    gray1, gray2 = (_gray(_read(path), path) for path in (path1, path2))
    src, dst, found = match(gray1, gray2, features, ratio)
    options = dict(robust or {})
    options["robust"] = options.get("robust") or "ransac"
    result = estimate(src, dst, **options)
    if draw:
        picture = draw_matches(gray1, gray2, found, result.inliers)
        write_image(Image(data=picture[..., ::-1].copy(), channels=True, format="png"), draw)
    return found, result


def _read(path):
    from mlkit.io import read_image

    try:
        return read_image(path)
    except MlkitError as exc:
        raise type(exc)(f"{path}: {exc.message}", exc.hint) from None


def _gray(img, path):
    from mlkit.io.image import to_gray

    if img.spatial_ndim != 2:
        raise MlkitError(f"{path}: match needs 2D images, got shape {'x'.join(map(str, img.data.shape))}")
    gray = to_gray(img)
    if not np.isfinite(gray).all():
        raise MlkitError(f"{path}: the image holds NaN or infinite values", "replace them before matching")
    return gray
