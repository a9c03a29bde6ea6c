"""Planar homographies: estimate from point pairs (DLT, RANSAC, LMedS), warp, match.

    from mlkit.homography import estimate, warp
    result = estimate(src, dst, robust="ransac", seed=1)
    out = warp(image, result.H, (300, 200), order=1)   # as cv2.warpPerspective(image, H, (300, 200))
"""

from mlkit.homography.estimation import Result, check_pairs, dlt, errors, estimate, hartley, project, refine
from mlkit.homography.formats import pairs_from_csv, pairs_from_text, parse_size, read_matrix, write_result
from mlkit.homography.matching import FEATURES, draw_matches, match
from mlkit.homography.steps import match_images, warp_step, warp_work
from mlkit.homography.warping import ORDERS, canvas, warp, warp_image

__all__ = [
    "FEATURES",
    "ORDERS",
    "Result",
    "canvas",
    "check_pairs",
    "dlt",
    "draw_matches",
    "errors",
    "estimate",
    "hartley",
    "match",
    "match_images",
    "pairs_from_csv",
    "pairs_from_text",
    "parse_size",
    "project",
    "read_matrix",
    "refine",
    "warp",
    "warp_image",
    "warp_step",
    "warp_work",
    "write_result",
]
