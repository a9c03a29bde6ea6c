"""Linear models: exact least squares, gradient descent, ridge, lasso and elastic net."""

import dataclasses

import numpy as np

from mlkit.errors import MlkitError


@dataclasses.dataclass
class Fit:
    method: str
    x_cols: list
    y_col: str
    coef: np.ndarray
    intercept: float
    n: int
    details: dict = dataclasses.field(default_factory=dict)
    exact: dict = None  # the exact least-squares answer beside this one, when it was checked or asked for
    warnings: list = dataclasses.field(default_factory=list)

    def predict(self, X):
        return X @ self.coef + self.intercept


# --- exact ----------------------------------------------------------------------------------------


WELL_CONDITIONED = 1e4  # condition number of the features' correlation matrix up to which the normal
# equations give the QR's answer to about 1e-12 (their error grows with it, the QR's with its root)


def fit_exact(table, progress=None):
    """Least squares with an intercept, the CSV parsed once, in memory bounded by one chunk.

    The parse keeps the rows in a binary spool and accumulates the centred moments of [X y]
    (means and scatter matrix, merged chunk by chunk: stable whatever the offset). When the
    features are well conditioned the coefficients solve the centred normal equations, and
    R_x = [[sqrt(n), sqrt(n) mean'], [0, chol(S_xx)]] is the R factor of [1 X] for the
    standard errors, (X'X)^-1 = R_x^-1 R_x^-T. Otherwise the spooled rows go through a chunked
    QR of [1, X, y] (R_xx beta = R_xy), which does not square the condition number. A second
    pass over the spool gives the residuals: RSS and MAE.
    """
    from mlkit.regression.formats import Spool
    from mlkit.regression.parse import chunk_moments

    p = len(table.x_cols)
    check_unknowns(table)
    check_size(table)
    with Spool() as spool:
        moments = Moments()
        for chunk in chunk_moments(table, spool, progress):
            moments.merge(*chunk)
        _check_design(table, moments, p)
        if _well_conditioned(moments.scatter[:p, :p]):
            Rx = _r_factor(moments, p)
            _check_rank(table, Rx)
            theta = _centred_solution(moments, p)
        else:
            R = _chunked_r(spool.blocks())
            Rx = R[: p + 1, : p + 1]
            _check_rank(table, Rx)
            theta = _solve_upper(Rx, R[: p + 1, p + 1])
        fit = Fit("exact", table.x_cols, table.y_col, theta[1:], float(theta[0]), moments.n)
        rss, mae = _residual_sums(fit, spool.blocks())
    n, tss = moments.n, float(moments.scatter[p, p])
    fit.details = _ols_statistics(Rx, theta, rss, n, p)
    fit.details.update(r2=1 - rss / tss if tss > 0 else float("nan"), rmse=float(np.sqrt(rss / n)), mae=mae / n)
    return fit


def moments_of(Z):
    """(rows, means, scatter matrix) of one chunk Z, which is overwritten (it serves as scratch)."""
    first = Z[0].copy()
    Z -= first  # a constant column becomes exactly 0, so its scatter is exactly 0
    centre = Z.mean(axis=0)
    Z -= centre
    return len(Z), first + centre, Z.T @ Z


class Moments:
    """Row count, means and scatter matrix sum (z - mean)(z - mean)' of the rows added so far,
    merged chunk by chunk (Chan, Golub and LeVeque's pairwise update)."""

    def __init__(self):
        self.n, self.mean, self.scatter = 0, None, None

    def add(self, Z):
        """Add the rows of Z, which is overwritten (it serves as scratch)."""
        self.merge(*moments_of(Z))

    def merge(self, k, mean, scatter):
        """Add a chunk of k rows given its means and scatter matrix (from moments_of)."""
        if self.n == 0:
            self.n, self.mean, self.scatter = k, mean, scatter
            return
        total = self.n + k
        delta = mean - self.mean
        self.scatter = self.scatter + scatter + np.outer(delta, delta) * (self.n * k / total)
        self.mean = self.mean + delta * (k / total)
        self.n = total


def _well_conditioned(Sxx):
    with np.errstate(all="ignore"):
        correlation, _ = _correlation(Sxx)
        cond = np.linalg.cond(correlation) if np.isfinite(correlation).all() else np.inf
    return bool(cond <= WELL_CONDITIONED)


def _correlation(Sxx):
    """The scatter matrix with each feature divided by its spread, and the spreads."""
    scale = np.sqrt(np.diag(Sxx))
    return Sxx / np.outer(scale, scale), scale


def _r_factor(moments, p):
    """The R factor of [1 X] from the centred scatter matrix (R'R = [1 X]'[1 X])."""
    Rx = np.zeros((p + 1, p + 1))
    Rx[0, 0] = np.sqrt(moments.n)
    Rx[0, 1:] = np.sqrt(moments.n) * moments.mean[:p]
    Rx[1:, 1:] = np.linalg.cholesky(moments.scatter[:p, :p]).T
    return Rx


def _centred_solution(moments, p):
    """(intercept, coef): S_xx coef = S_xy, solved on the correlation scale (each feature by its
    spread, so that features in different units keep their digits), the intercept from the means."""
    correlation, scale = _correlation(moments.scatter[:p, :p])
    coef = np.linalg.solve(correlation, moments.scatter[:p, p] / scale) / scale
    return np.append(moments.mean[p] - moments.mean[:p] @ coef, coef)


def _chunked_r(blocks):
    """The R factor of [1 X y] from blocks [X y], one at a time."""
    R = None
    for block in blocks:
        block = np.column_stack([np.ones(len(block)), block])
        R = np.linalg.qr(block if R is None else np.vstack([R, block]), mode="r")
    return R


def _residual_sums(fit, blocks):
    """Sums of squared and of absolute residuals y - (X coef + intercept), from blocks [X y]."""
    weights = np.append(-fit.coef, 1.0)
    rss, mae = 0.0, 0.0
    for block in blocks:
        residual = block @ weights - fit.intercept
        rss += float(residual @ residual)
        mae += float(np.abs(residual).sum())
    return rss, mae


SCATTER_COPIES = 4  # a chunk's scatter matrix, the merged one, the merge's update, a factor


def check_size(table):
    """Refuse, before parsing, a table whose (p+1) x (p+1) matrices (the scatter matrix, its
    factors, the penalised methods' Gram matrix) would pass the memory limit."""
    from mlkit.io import limits

    p = len(table.x_cols)
    limits.check((p + 2) ** 2 * 8 * SCATTER_COPIES, f"{table.name}: {p} feature columns squared")


def check_unknowns(table):
    """Refuse, before parsing, a file too short to hold p + 1 rows: each row has a cell per
    header column, a byte each at least with its delimiter or newline."""
    import os

    p = len(table.x_cols)
    most = (os.path.getsize(table.path) - getattr(table, "header_bytes", 0) + 1) // len(table.header)
    if 0 < most < p + 1:  # none at all: the parse says "no data rows"
        raise MlkitError(f"{table.name}: at most {most} rows but {p} features and an intercept: fewer rows than unknowns",
                         "use more rows or fewer --x columns")


def _check_design(table, moments, p):
    n = moments.n
    if n == 0:
        raise MlkitError(f"{table.name}: no data rows")
    if n < p + 1:
        raise MlkitError(f"{table.name}: {n} rows but {p} features and an intercept: fewer rows than unknowns", "use more rows or fewer --x columns")
    for col, spread, mean in zip(table.x_cols, np.diag(moments.scatter), moments.mean):
        if spread == 0:  # exactly: see Moments.add
            raise MlkitError(f"{table.name}: column {col!r} is constant ({float(mean):g}): it cannot be told from the intercept", "drop it with --x")


def _check_rank(table, Rx):
    diag = np.abs(np.diag(Rx))
    weak = np.flatnonzero(diag < 1e-10 * diag.max())
    if weak.size:
        col = (["intercept"] + list(table.x_cols))[weak[0]]
        raise MlkitError(f"{table.name}: column {col!r} is a linear combination of the others: no unique solution", "drop it with --x, or use ridge")


def _solve_upper(R, b):
    return np.linalg.solve(R, b)  # no pivoting happens on a triangular R: back substitution


def _ols_statistics(Rx, theta, rss, n, p):
    """Standard errors, t values, p values and 95% intervals, as an OLS summary shows."""
    from scipy.special import stdtr, stdtrit  # Student's t, without scipy.stats' slow import

    dof = n - p - 1
    if dof <= 0:
        nan = [None] * (p + 1)
        return {"dof": dof, "std_err": nan, "t": nan, "p_value": nan, "ci95": [[None, None]] * (p + 1)}
    inv = _solve_upper(Rx, np.eye(p + 1))
    se = np.sqrt(rss / dof * (inv**2).sum(axis=1))
    t = np.divide(theta, se, out=np.full_like(theta, np.inf), where=se > 0)
    pval = 2 * stdtr(dof, -np.abs(t))
    half = stdtrit(dof, 0.975) * se
    return {
        "dof": dof,
        "std_err": se.tolist(),
        "t": t.tolist(),
        "p_value": pval.tolist(),
        "ci95": np.column_stack([theta - half, theta + half]).tolist(),
    }


def lstsq(X, y):
    """Reference least squares with an intercept: (intercept, coef)."""
    theta = np.linalg.lstsq(np.column_stack([np.ones(len(y)), X]), y, rcond=None)[0]
    return float(theta[0]), theta[1:]


# --- gradient descent -----------------------------------------------------------------------------


PATIENCE = 3  # epochs in a row of a rising loss, above the loss at zero weights: diverging
AGREEMENT = 1e-3  # gradient descent further than this from the exact solution earns a warning


@dataclasses.dataclass
class Schedule:
    lr: float = 0.01
    epochs: int = 100
    batch_size: int = None  # None: the whole data (plain gradient descent)
    shuffle: bool = False
    optimizer: str = "sgd"  # "sgd", "momentum" or "adam"
    tol: float = None  # stop when the epoch loss changes less than this
    seed: int = 0


def fit_gd(X, y, schedule, x_cols, y_col, standardize=False):
    """Minimise the mean squared error (y - y_hat)^2 from zero weights.

    Per mini-batch the gradient is -2/B sum (y - y_hat) x (and -2/B sum (y - y_hat)
    for the intercept). With batch size 1 and no shuffling this is the classic
    per-row loop in file order: w <- w - lr * (-2 * err * x_i).

    The answer is checked against the exact one: further than 0.1% away, the fit carries
    a warning (fit.warnings) and the exact answer (fit.exact).
    """
    Xs, scale = _standardized(X) if standardize else (X, None)
    n, p = Xs.shape
    w, b = np.zeros(p), 0.0
    step = _optimizer(schedule, p + 1)
    rng = np.random.default_rng(schedule.seed)
    batch = schedule.batch_size or n
    start = float(np.mean(y**2))  # the loss at zero weights, where the descent begins
    losses, converged = [], False
    for epoch in range(schedule.epochs):
        order = rng.permutation(n) if schedule.shuffle else np.arange(n)
        with np.errstate(over="ignore", invalid="ignore"):
            if batch == 1 and schedule.optimizer == "sgd":
                w, b = _per_row_epoch(Xs, y, order, w, b, schedule.lr)
            else:
                w, b = _batch_epoch(Xs, y, order, w, b, batch, step)
            loss = float(np.mean((y - (Xs @ w + b)) ** 2))
        losses.append(loss)
        _check_divergence(start, losses, schedule.lr)
        if schedule.tol is not None and epoch and abs(losses[-2] - loss) < schedule.tol:
            converged = True
            break
    coef, intercept = _unscaled(w, b, scale)
    details = {"final_loss": losses[-1], "epochs_run": len(losses), "converged": converged, "loss_history": losses,
               "loss_trend": loss_trend(start, losses)}
    fit = Fit("gd" if batch == n else "sgd", x_cols, y_col, coef, intercept, n, details)
    check_against_exact(fit, X, y, schedule.optimizer)
    return fit


def check_against_exact(fit, X, y, optimizer="sgd"):
    """Gradient descent can end plausible but wrong: when it is more than 0.1% from the exact
    least-squares answer, add a warning that says why and the exact answer to `fit`."""
    exact = compare_exact(fit, X, y)
    if exact["relative"] > AGREEMENT:
        fit.exact = exact
        fit.warnings.append(f"{fit.method} ended {exact['relative']:.2%} away from the exact least-squares solution "
                            f"({_cause(fit.details['loss_trend'], optimizer)}); both are shown")
    return exact


def compare_exact(fit, X, y):
    """The exact least-squares answer and the relative distance of `fit` from it."""
    relative, intercept, coef = disagreement(fit, X, y)
    return {"coef": coef.tolist(), "intercept": intercept, "relative": relative}


def _cause(trend, optimizer):
    """Why descent ended off the mark, read from its loss curve."""
    if trend == "falling":
        return "the loss was still falling: learning rate too low or too few epochs"
    if optimizer != "sgd":  # momentum and Adam overshoot and swing back by design
        return "the loss still oscillates: more epochs, or a lower --lr"
    return "the loss rose in the later epochs: learning rate too high"


def _check_divergence(start, losses, lr):
    """An error once the loss overflows, or rises PATIENCE epochs in a row above where it began."""
    hint = f"lower --lr (try {lr / 10:g}), or --standardize the features"
    if not np.isfinite(losses[-1]):
        raise MlkitError(f"gradient descent diverged in epoch {len(losses)} (the loss overflowed)", hint)
    recent = [start, *losses][-PATIENCE - 1 :]
    rising = len(recent) > PATIENCE and all(b > a for a, b in zip(recent, recent[1:]))
    if rising and losses[-1] > start:
        raise MlkitError(
            f"gradient descent diverged: the loss rose {PATIENCE} epochs in a row, to {losses[-1]:.3g} in epoch {len(losses)} "
            f"(it was {start:.3g} at zero weights): the learning rate is too high", hint)


def loss_trend(start, losses):
    """'rising' when the loss went up in the later half of the epochs (the steps are too
    long: it oscillates or diverges), else 'falling' (still converging, slowly)."""
    later = [start, *losses][len(losses) // 2 :]
    return "rising" if any(b > a for a, b in zip(later, later[1:])) else "falling"


def _per_row_epoch(X, y, order, w, b, lr):
    for i in order:
        err = y[i] - (X[i] @ w + b)
        w = w - lr * (-2 * err * X[i])
        b = b - lr * (-2 * err)
    return w, b


def _batch_epoch(X, y, order, w, b, batch, step):
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        xb, yb = X[idx], y[idx]
        err = yb - (xb @ w + b)
        grad = np.append(-2 * (xb.T @ err) / len(idx), -2 * err.sum() / len(idx))
        delta = step(grad)
        w, b = w - delta[:-1], b - delta[-1]
    return w, b


def _optimizer(schedule, size):
    """A function gradient -> parameter change, with its state (momentum, Adam moments)."""
    lr = schedule.lr
    if schedule.optimizer == "sgd":
        return lambda g: lr * g
    if schedule.optimizer == "momentum":
        velocity = np.zeros(size)

        def momentum(g):
            velocity[:] = 0.9 * velocity + g
            return lr * velocity

        return momentum
    if schedule.optimizer == "adam":
        m, v, t = np.zeros(size), np.zeros(size), [0]

        def adam(g):
            t[0] += 1
            m[:] = 0.9 * m + 0.1 * g
            v[:] = 0.999 * v + 0.001 * g * g
            m_hat, v_hat = m / (1 - 0.9 ** t[0]), v / (1 - 0.999 ** t[0])
            return lr * m_hat / (np.sqrt(v_hat) + 1e-8)

        return adam
    raise MlkitError(f"unknown optimizer {schedule.optimizer!r}")


def _standardized(X):
    mean, std = X.mean(axis=0), X.std(axis=0)
    if (std == 0).any():
        raise MlkitError("a feature column is constant: it cannot be standardised")
    return (X - mean) / std, (mean, std)


def _unscaled(w, b, scale):
    if scale is None:
        return w, float(b)
    mean, std = scale
    coef = w / std
    return coef, float(b - coef @ mean)


def disagreement(fit, X, y):
    """Relative distance of (intercept, coef) from the exact least-squares solution."""
    intercept, coef = lstsq(X, y)
    exact = np.append(intercept, coef)
    mine = np.append(fit.intercept, fit.coef)
    return float(np.linalg.norm(mine - exact) / max(np.linalg.norm(exact), 1e-300)), intercept, coef


# --- regularised ----------------------------------------------------------------------------------


def fit_ridge(X, y, alpha, x_cols, y_col, standardize=False):
    """scikit-learn's Ridge: ||y - Xw - b||^2 + alpha ||w||^2, intercept not penalised (closed form)."""
    Xs, scale = _standardized(X) if standardize else (X, None)
    mean, ymean = Xs.mean(axis=0), y.mean()
    Xc, yc = Xs - mean, y - ymean
    w = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(Xs.shape[1]), Xc.T @ yc)
    coef, intercept = _unscaled(w, ymean - mean @ w, scale)
    return Fit("ridge", x_cols, y_col, coef, intercept, len(y), {"alpha": alpha})


def fit_elastic_net(X, y, alpha, l1_ratio, x_cols, y_col, standardize=False, tol=1e-12, max_iter=100_000):
    """scikit-learn's objective 1/(2n) ||y - Xw - b||^2 + alpha*l1_ratio ||w||_1
    + alpha*(1 - l1_ratio)/2 ||w||^2 (lasso: l1_ratio = 1), by coordinate descent
    on the Gram matrix; the intercept is not penalised."""
    if alpha < 0 or not 0 <= l1_ratio <= 1:
        raise MlkitError("need alpha >= 0 and 0 <= l1-ratio <= 1")
    Xs, scale = _standardized(X) if standardize else (X, None)
    n, p = Xs.shape
    mean, ymean = Xs.mean(axis=0), y.mean()
    Xc, yc = Xs - mean, y - ymean
    gram, corr = Xc.T @ Xc / n, Xc.T @ yc / n
    l1, l2 = alpha * l1_ratio, alpha * (1 - l1_ratio)
    w = np.zeros(p)
    iterations, converged = 0, False
    for iterations in range(1, max_iter + 1):
        largest = 0.0
        for j in range(p):
            rho = corr[j] - gram[j] @ w + gram[j, j] * w[j]
            new = np.sign(rho) * max(abs(rho) - l1, 0.0) / (gram[j, j] + l2) if gram[j, j] + l2 > 0 else 0.0
            largest = max(largest, abs(new - w[j]))
            w[j] = new
        if largest <= tol * max(np.abs(w).max(), 1e-300):
            converged = True
            break
    coef, intercept = _unscaled(w, ymean - mean @ w, scale)
    method = "lasso" if l1_ratio == 1 else "elastic-net"
    details = {"alpha": alpha, "l1_ratio": l1_ratio, "iterations": iterations, "converged": converged, "nonzero": int((coef != 0).sum())}
    return Fit(method, x_cols, y_col, coef, intercept, n, details)


def scores(fit, X, y):
    """r2, rmse and mae of a fit on (X, y)."""
    residual = y - fit.predict(X)
    tss = ((y - y.mean()) ** 2).sum()
    return {
        "r2": float(1 - (residual**2).sum() / tss) if tss > 0 else float("nan"),
        "rmse": float(np.sqrt((residual**2).mean())),
        "mae": float(np.abs(residual).mean()),
    }
