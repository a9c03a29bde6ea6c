"""Point pairs found automatically: ORB or SIFT features matched with Lowe's ratio test."""

import numpy as np

from mlkit.errors import MlkitError

FEATURES = ("orb", "sift")  # both in OpenCV's main module; AKAZE is gone from OpenCV 5


def match(gray1, gray2, features="orb", ratio=0.75, max_features=5000):
    """Point pairs found automatically: ORB or SIFT features, Lowe's ratio test."""
    import cv2

    detector, norm = _detector(cv2, features, max_features)
    k1, d1 = detector.detectAndCompute(_as_uint8(gray1), None)
    k2, d2 = detector.detectAndCompute(_as_uint8(gray2), None)
    if d1 is None or d2 is None or len(k1) < 4 or len(k2) < 4:
        raise MlkitError("too few features found to match", "use textured images, or give the points")
    pairs = cv2.BFMatcher(norm).knnMatch(d1, d2, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < ratio * m[1].distance]
    if len(good) < 4:
        raise MlkitError(f"only {len(good)} matches pass the ratio test", "raise --ratio or use other images")
    src = np.array([k1[m.queryIdx].pt for m in good])
    dst = np.array([k2[m.trainIdx].pt for m in good])
    return src, dst, (k1, k2, good)


def _detector(cv2, features, max_features):
    """The feature detector and the norm its descriptors are compared with."""
    if features == "orb":
        return cv2.ORB_create(nfeatures=max_features), cv2.NORM_HAMMING  # binary descriptors
    if features == "sift":
        return cv2.SIFT_create(nfeatures=max_features), cv2.NORM_L2
    raise MlkitError(f"unknown features {features!r}", f"choose from {', '.join(FEATURES)}")


def _as_uint8(gray):
    if gray.dtype == np.uint8:
        return gray
    lo, hi = float(gray.min()), float(gray.max())
    return np.zeros(gray.shape, np.uint8) if hi == lo else ((gray - lo) * (255 / (hi - lo))).astype(np.uint8)


def draw_matches(image1, image2, found, inliers):
    """Side by side with the inlier matches drawn (for --draw)."""
    import cv2

    k1, k2, good = found
    kept = [m for m, ok in zip(good, inliers) if ok]
    return cv2.drawMatches(_as_uint8(image1), k1, _as_uint8(image2), k2, kept, None, flags=2)
