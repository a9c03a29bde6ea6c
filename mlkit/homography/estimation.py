"""Estimating a planar homography from point pairs: normalised DLT, RANSAC or LMedS, then
Levenberg-Marquardt on the reprojection error.

A homography H (3x3, 8 degrees of freedom, H[2,2] = 1) maps source pixel
coordinates to destination ones (x right, y down). Each pair gives two rows of
A (2N x 9); h is the right singular vector of A's smallest singular value, on
Hartley-normalised points (found as the eigenvector of the 9x9 A^T A, with the
SVD itself when the rank is in doubt), then refined by Levenberg-Marquardt on
the reprojection error (as cv2.findHomography does). RANSAC scores batches of
minimal 4-pair hypotheses at once (each an 8x8 solve with h33 = 1) and refits
on all inliers at the end.
"""

import dataclasses

import numpy as np

from mlkit.errors import MlkitError

BATCH = 256  # most RANSAC hypotheses scored at once
MAX_COORDINATE = 1e9  # pixels; beyond this the normalisation's squares overflow float64 sums


@dataclasses.dataclass
class Result:
    H: np.ndarray
    inliers: np.ndarray  # bool, one per pair
    rmse_px: float  # over the inliers
    seed: "int | None" = None  # of the random samples; None when there were none

    def as_dict(self):
        return {"H": self.H.tolist(), "inliers": self.inliers.tolist(), "rmse_px": self.rmse_px, "seed": self.seed}


def check_pairs(src, dst):
    """(N, 2) float arrays, or a clear error for what is wrong with them."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    if src.ndim != 2 or src.shape[1] != 2 or dst.ndim != 2 or dst.shape[1] != 2:
        raise MlkitError("points must be x,y pairs")
    if len(src) != len(dst):
        raise MlkitError(f"{len(src)} source points but {len(dst)} destination points", "give one destination per source point")
    if len(src) < 4:
        raise MlkitError(f"a homography needs at least 4 point pairs, got {len(src)}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise MlkitError("points contain NaN or infinite values")
    largest = float(max(np.abs(src).max(), np.abs(dst).max()))
    if largest > MAX_COORDINATE:
        raise MlkitError(f"a point coordinate is {largest:g} pixels", f"coordinates are pixels, at most {MAX_COORDINATE:g}")
    for name, pts in (("source", src), ("destination", dst)):
        if _collinear(pts):
            raise MlkitError(f"the {name} points are collinear: a homography is not determined", "spread the points over the plane")
        if len(pts) == 4 and not _general_position(pts[None] / max(np.abs(pts).max(), 1))[0]:
            raise MlkitError(f"three of the four {name} points are collinear: the configuration is degenerate", "use points in general position")
    return src, dst


def _collinear(points, tol=1e-9):
    centred = points - points.mean(axis=0)
    s = np.linalg.svd(centred, compute_uv=False)
    return s[0] == 0 or s[1] / s[0] < tol


def hartley(points):
    """T (3x3) moving the centroid to the origin and the mean distance to sqrt(2)."""
    centre = points.mean(axis=0)
    mean_dist = np.sqrt(((points - centre) ** 2).sum(axis=1)).mean()
    scale = np.sqrt(2) / mean_dist if mean_dist > 0 else 1.0
    return np.array([[scale, 0, -scale * centre[0]], [0, scale, -scale * centre[1]], [0, 0, 1.0]])


def _apply(T, points):
    return points * T[0, 0] + T[:2, 2]


def _design(src, dst):
    """The DLT matrix A, (..., 2N, 9), for (..., N, 2) normalised point sets."""
    x, y = src[..., 0], src[..., 1]
    u, v = dst[..., 0], dst[..., 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    rows_u = np.stack([-x, -y, -one, zero, zero, zero, u * x, u * y, u], axis=-1)
    rows_v = np.stack([zero, zero, zero, -x, -y, -one, v * x, v * y, v], axis=-1)
    return np.concatenate([rows_u, rows_v], axis=-2)


def dlt(src, dst):
    """Least-squares H from all pairs (normalised DLT); an error when degenerate."""
    T1, T2 = hartley(src), hartley(dst)
    A = _design(_apply(T1, src), _apply(T2, dst))
    values, vectors = np.linalg.eigh(A.T @ A)  # 9x9: far cheaper than the SVD of 2N x 9
    Hn = vectors[:, 0].reshape(3, 3)
    if values[1] < 1e-14 * values[-1]:  # possibly rank-deficient: let the SVD decide
        _, s, vt = np.linalg.svd(A, full_matrices=len(A) < 9)  # 4 pairs: the null vector is the 9th row
        Hn = vt[-1].reshape(3, 3)
    else:
        s = np.sqrt(np.maximum(values[::-1], 0))  # eigh can return -0.0 for the null direction
    if s[7] < 1e-10 * s[0] or abs(Hn[2, 2]) < 1e-12 or abs(np.linalg.det(Hn)) < 1e-12:
        raise MlkitError("the point configuration is degenerate (rank too low)", "use points in general position, no three collinear")
    return _denormalise(Hn, T1, T2)


def _denormalise(Hn, T1, T2):
    H = np.linalg.inv(T2) @ Hn @ T1
    return H / H[..., 2:3, 2:3]


def project(H, points):
    """H applied to (N, 2) points (or a stack of H to the same points: (B, N, 2))."""
    homog = points @ H[..., :, :2].swapaxes(-1, -2) + H[..., None, :, 2]
    return homog[..., :2] / homog[..., 2:3]


def errors(H, src, dst):
    """Reprojection error per pair, pixels: |dst - H(src)|."""
    return np.sqrt(((project(H, src) - dst) ** 2).sum(axis=-1))


def _squared_errors(Hs, src, dst):
    """Squared reprojection errors (B, N) of a stack of hypotheses, for scoring.

    One matrix product gives every hypothesis' projections; float32 keeps the
    buffers small (scores need no more than 1e-4 px)."""
    points = np.empty((3, len(src)), np.float32)
    points[:2], points[2] = src.T, 1
    proj = (Hs.astype(np.float32).reshape(-1, 3) @ points).reshape(len(Hs), 3, -1)
    u, v, w = proj[:, 0], proj[:, 1], proj[:, 2]
    u /= w
    v /= w
    u -= dst[:, 0].astype(np.float32)
    v -= dst[:, 1].astype(np.float32)
    u *= u
    v *= v
    u += v
    return u


def refine(H, src, dst, iterations=20, norms=None):
    """Levenberg-Marquardt on the reprojection error, in normalised coordinates
    (`norms`: the (T1, T2) to use, default Hartley's for these points)."""
    T1, T2 = norms or (hartley(src), hartley(dst))
    s, d = _apply(T1, src), _apply(T2, dst)
    Hn = T2 @ H @ np.linalg.inv(T1)
    h = (Hn / Hn[2, 2]).ravel()[:8]
    x, y = s[:, 0], s[:, 1]
    J = np.zeros((len(s), 2, 8))
    J[:, 0, 2] = J[:, 1, 5] = 1.0
    r, u, v, w = _residuals(h, x, y, d)
    cost, lam = r @ r, 1e-3
    for _ in range(iterations):
        _fill_jacobian(J, x, y, u, v, w)
        flat = J.reshape(-1, 8)
        JtJ, Jtr = flat.T @ flat, flat.T @ r
        step = np.linalg.solve(JtJ + lam * np.diag(np.diag(JtJ) + 1e-12), -Jtr)
        trial = _residuals(h + step, x, y, d)
        new_cost = trial[0] @ trial[0]
        if new_cost < cost:
            h, lam = h + step, lam / 10
            r, u, v, w = trial
            converged = cost - new_cost <= 1e-10 * cost
            cost = new_cost
            if converged:
                break
        else:
            lam *= 10
            if lam > 1e8:
                break
    return _denormalise(np.append(h, 1).reshape(3, 3), T1, T2)


def _residuals(h, x, y, d):
    """Residuals (interleaved u, v) and the projected u, v with the denominators w."""
    w = h[6] * x + h[7] * y + 1
    u = (h[0] * x + h[1] * y + h[2]) / w
    v = (h[3] * x + h[4] * y + h[5]) / w
    r = np.empty(2 * len(x))
    r[0::2], r[1::2] = u - d[:, 0], v - d[:, 1]
    return r, u, v, w


def _fill_jacobian(J, x, y, u, v, w):
    """d(u, v)/dh for H = [h0 h1 h2; h3 h4 h5; h6 h7 1], per point; constant zeros stay."""
    xw, yw = x / w, y / w
    J[:, 0, 0], J[:, 0, 1], J[:, 0, 2] = xw, yw, 1 / w
    J[:, 1, 3], J[:, 1, 4], J[:, 1, 5] = xw, yw, 1 / w
    J[:, 0, 6], J[:, 0, 7] = -u * xw, -u * yw
    J[:, 1, 6], J[:, 1, 7] = -v * xw, -v * yw


def _hypotheses(src_n, dst_n, rng, count):
    """`count` minimal-sample homographies (normalised coordinates), degenerate samples dropped."""
    n = len(src_n)
    idx = rng.integers(0, n, size=(count, 4))
    distinct = (np.sort(idx, axis=1)[:, 1:] != np.sort(idx, axis=1)[:, :-1]).all(axis=1)
    idx = idx[distinct & _general_position(src_n[idx]) & _general_position(dst_n[idx])]
    if len(idx) == 0:
        return np.empty((0, 3, 3))
    A = _design(src_n[idx], dst_n[idx])
    try:  # 8 equations, 8 unknowns with h33 = 1: a batched solve is far cheaper than SVDs
        h = np.linalg.solve(A[:, :, :8], -A[:, :, 8:])[:, :, 0]
        return np.concatenate([h, np.ones((len(h), 1))], axis=1).reshape(-1, 3, 3)
    except np.linalg.LinAlgError:  # h33 = 0 for some sample: take null vectors instead
        return np.linalg.svd(A)[2][:, -1].reshape(-1, 3, 3)


def _general_position(quads, tol=1e-6):
    """No three of the four points in each sample are collinear."""
    ok = np.ones(len(quads), bool)
    for a, b, c in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
        e1, e2 = quads[:, b] - quads[:, a], quads[:, c] - quads[:, a]
        ok &= np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) > tol
    return ok


def _robust(src, dst, norms, score, rng, max_iters, confidence, adaptive):
    """Best hypothesis by `score(squared errors (B, N)) -> (values (B,), inlier fractions (B,))`, lower is better."""
    T1, T2 = norms
    src_n, dst_n = _apply(T1, src), _apply(T2, dst)
    best_H, best_value, tried, needed, batch = None, np.inf, 0, max_iters, 32
    while tried < min(needed, max_iters):
        count = int(min(batch, max(16, min(needed, max_iters) - tried)))
        batch = min(2 * batch, BATCH)  # small first: with many inliers one batch is enough
        hyps = _denormalise(_hypotheses(src_n, dst_n, rng, count), T1, T2)
        tried += count
        if len(hyps) == 0:
            continue
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            sq = _squared_errors(hyps, src, dst)
        values, fractions = score(np.where(np.isnan(sq), np.inf, sq))
        k = int(np.argmin(values))
        if values[k] < best_value:
            best_H, best_value = hyps[k], values[k]
            if adaptive:
                needed = _iterations_needed(fractions[k], confidence)
    if best_H is None:
        raise MlkitError("no non-degenerate sample of 4 pairs was found", "check the points")
    return best_H


def _iterations_needed(inlier_fraction, confidence):
    good = inlier_fraction**4
    if good >= 1:
        return 1
    if good <= 0:
        return np.inf
    return int(np.ceil(np.log(1 - confidence) / np.log(1 - good)))


def estimate(src, dst, robust=None, threshold=3.0, max_iters=2000, confidence=0.995, seed=0):
    """Estimate H. robust: None (RANSAC when more than 4 pairs), "none", "ransac" or "lmeds"."""
    src, dst = check_pairs(src, dst)
    robust = robust or ("ransac" if len(src) > 4 else "none")
    rng = np.random.default_rng(seed)
    norms = hartley(src), hartley(dst)
    if robust == "none" or len(src) == 4:
        H = refine(dlt(src, dst), src, dst)
        inliers, seed = np.ones(len(src), bool), None
    elif robust == "ransac":
        def score(sq):
            inl = sq < threshold**2
            return -inl.sum(axis=1), inl.mean(axis=1)

        H = _robust(src, dst, norms, score, rng, max_iters, confidence, adaptive=True)
        H, inliers = _refit(H, src, dst, norms, lambda e: e < threshold)
    elif robust == "lmeds":
        def score(sq):
            return np.median(sq, axis=1), np.full(len(sq), 0.5)

        H = _robust(src, dst, norms, score, rng, max_iters, confidence, adaptive=False)
        sigma = 1.4826 * (1 + 5 / (len(src) - 4)) * np.sqrt(np.median(errors(H, src, dst) ** 2))
        H, inliers = _refit(H, src, dst, norms, lambda e: e <= 2.5 * max(sigma, 1e-12))
    else:
        raise MlkitError(f"unknown robust method {robust!r}", "use none, ransac or lmeds")
    err = errors(H, src, dst)[inliers]
    return Result(H=H / H[2, 2], inliers=inliers, rmse_px=float(np.sqrt((err**2).mean())), seed=seed)


def _refit(H, src, dst, norms, is_inlier):
    """Refit on all inliers (DLT, then LM); the inliers are those of the refined H."""
    inliers = is_inlier(errors(H, src, dst))
    if inliers.sum() < 4:
        raise MlkitError(f"only {inliers.sum()} inliers", "raise --threshold or check the pairs")
    refit = refine(H, src[inliers], dst[inliers], norms=norms)  # the best sample's H is close: LM from there
    final = is_inlier(errors(refit, src, dst))
    return (refit, final) if final.sum() >= 4 else (H, inliers)
