"""What `regress` reports: the result as a dict, its table and CSV rows, predictions, plots."""

import numpy as np

HIDDEN = ("loss_history", "loss_trend", "network")  # kept in saved models, left out of printed results


def as_dict(fit):
    """The result: method, coefficients by column, intercept, scores, n, the method's own
    details (OLS statistics, or loss / epochs / convergence) and, when it was checked or
    asked for, the exact least-squares answer beside it."""
    out = {
        "method": fit.method,
        "coefficients": {c: float(v) + 0.0 for c, v in zip(fit.x_cols, fit.coef)},  # + 0.0: no -0.0
        "intercept": fit.intercept,
        "n": fit.n,
    }
    for key, value in fit.details.items():
        if key in HIDDEN:
            continue
        if key in ("std_err", "t", "p_value", "ci95"):
            value = dict(zip(["intercept", *fit.x_cols], value))
        out[key] = value
    if fit.exact is not None:
        exact = fit.exact
        out["exact"] = {"coefficients": dict(zip(fit.x_cols, exact["coef"])), "intercept": exact["intercept"],
                        "relative_difference": exact["relative"]}
    return out


def as_table(result):
    """Aligned text for a person: one row per term, then the scores."""
    head = f"method {result['method']}   n {result['n']}"
    for key in ("r2", "rmse", "mae", "final_loss", "epochs_run", "converged", "nonzero"):
        if key in result:
            value = result[key]
            head += f"   {key} {value:.6g}" if isinstance(value, float) else f"   {key} {value}"
    lines = [head]
    terms = ["intercept", *result["coefficients"]]
    values = [result["intercept"], *result["coefficients"].values()]
    columns = [("coef", values)]
    if "std_err" in result:
        for key in ("std_err", "t", "p_value"):
            columns.append((key, [result[key][t] for t in terms]))
        columns.append(("ci95", [result["ci95"][t] for t in terms]))
    if "exact" in result:
        exact = result["exact"]
        columns.append(("exact", [exact["intercept"], *exact["coefficients"].values()]))
    if result["coefficients"]:
        width = max(len(t) for t in terms) + 2
        lines.append(" " * width + "".join(f"{name:>32}" if name == "ci95" else f"{name:>14}" for name, _ in columns))
        for i, term in enumerate(terms):
            cells = "".join(_cell(name, col[i]) for name, col in columns)
            lines.append(f"{term:<{width}}{cells}")
    if "sparsity" in result:
        lines.append("weight sparsity (|w| < 1e-3) per layer: " + ", ".join(f"{s:.1%}" for s in result["sparsity"]))
        lines.append(f"disconnected hidden neurons: {result['disconnected_neurons']}")
    return "\n".join(lines)


def _cell(name, value):
    if name == "ci95":
        lo, hi = value
        return f"{'[' + _num(lo) + ', ' + _num(hi) + ']':>32}"
    return f"{_num(value):>14}"


def _num(value):
    return "-" if value is None else f"{value:.6g}"


def csv_rows(result):
    """One row per term: coef, and with OLS statistics std_err, t, p_value and the 95% interval."""
    terms = ["intercept", *result["coefficients"]]
    values = [result["intercept"], *result["coefficients"].values()]
    rows = [{"term": t, "coef": v} for t, v in zip(terms, values)]
    if "std_err" in result:
        for row, t in zip(rows, terms):
            low, high = result["ci95"][t]
            row.update(std_err=result["std_err"][t], t=result["t"][t], p_value=result["p_value"][t], ci95_low=low, ci95_high=high)
    return rows


def predictions_csv(fit, table):
    """The feature columns of `table`, each cell as the file wrote it, and a `prediction`
    column (the shortest text that reads back as the same float)."""
    lines = [",".join([*fit.x_cols, "prediction"])]
    for cells, X in table.text_chunks():
        lines += [",".join([*row, repr(float(p))]) for row, p in zip(cells, fit.predict(X))]
    return "\n".join(lines)


# --- plots --------------------------------------------------------------------------------------------


def plot_fit(fit, X, y, path, width=720, height=480):
    """Data and fit: y against x with the fitted line for one feature; otherwise
    predicted against observed with the identity line."""
    import cv2

    from mlkit.io import Image, write_image

    canvas = np.full((height, width, 3), 255, np.uint8)
    box = (70, 20, width - 20, height - 50)
    if X.shape[1] == 1:
        xs, ys = X[:, 0], y
        grid = np.linspace(xs.min(), xs.max(), 200)
        curve = fit.predict(grid[:, None])
        labels = (fit.x_cols[0], fit.y_col or "y")
    else:
        xs, ys = fit.predict(X), y
        grid = np.linspace(min(xs.min(), ys.min()), max(xs.max(), ys.max()), 2)
        curve = grid
        labels = ("predicted", "observed")
    lo = np.array([min(xs.min(), grid.min()), min(ys.min(), curve.min())])
    hi = np.array([max(xs.max(), grid.max()), max(ys.max(), curve.max())])
    to_px = _scaler(lo, hi, box)
    sample = np.linspace(0, len(xs) - 1, min(len(xs), 5000)).astype(int)
    for px in to_px(np.column_stack([xs[sample], ys[sample]])):
        cv2.circle(canvas, tuple(int(v) for v in px), 2, (200, 120, 40), -1)
    cv2.polylines(canvas, [to_px(np.column_stack([grid, curve])).astype(np.int32)], False, (30, 30, 220), 2)
    _axes(canvas, box, lo, hi, labels)
    write_image(Image(data=canvas[..., ::-1].copy(), channels=True, format="png"), path)


def _scaler(lo, hi, box):
    left, top, right, bottom = box
    span = np.where(hi > lo, hi - lo, 1)

    def to_px(points):
        u = left + (points[:, 0] - lo[0]) / span[0] * (right - left)
        v = bottom - (points[:, 1] - lo[1]) / span[1] * (bottom - top)
        return np.column_stack([u, v])

    return to_px


def _axes(canvas, box, lo, hi, labels):
    import cv2

    left, top, right, bottom = box
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.rectangle(canvas, (left, top), (right, bottom), (0, 0, 0), 1)
    cv2.putText(canvas, f"{lo[0]:.3g}", (left - 10, bottom + 20), font, 0.45, (0, 0, 0), 1)
    cv2.putText(canvas, f"{hi[0]:.3g}", (right - 40, bottom + 20), font, 0.45, (0, 0, 0), 1)
    cv2.putText(canvas, f"{lo[1]:.3g}", (5, bottom), font, 0.45, (0, 0, 0), 1)
    cv2.putText(canvas, f"{hi[1]:.3g}", (5, top + 12), font, 0.45, (0, 0, 0), 1)
    cv2.putText(canvas, labels[0], ((left + right) // 2 - 30, bottom + 40), font, 0.5, (0, 0, 0), 1)
    cv2.putText(canvas, labels[1], (left + 5, top + 18), font, 0.5, (0, 0, 0), 1)


def plot_weights(layers, path, cell=12):
    """Each layer's weight matrix as a heat map (red positive, blue negative, white ~0)."""
    from mlkit.io import Image, write_image

    mats = [np.asarray(layer["W"]) for layer in layers]
    scale = max(np.abs(m).max() for m in mats) or 1.0
    height = max(m.shape[0] for m in mats) * cell + 2 * cell
    tiles = []
    for m in mats:
        rgb = np.full(m.shape + (3,), 255.0)
        t = np.clip(m / scale, -1, 1)
        rgb[..., 1] = 255 * (1 - np.abs(t))
        rgb[..., 0] = np.where(t < 0, 255 * (1 + t), 255)
        rgb[..., 2] = np.where(t > 0, 255 * (1 - t), 255)
        big = np.kron(rgb, np.ones((cell, cell, 1)))
        tile = np.full((height, big.shape[1] + 2 * cell, 3), 255.0)
        tile[cell : cell + big.shape[0], cell : cell + big.shape[1]] = big
        tiles.append(tile)
    write_image(Image(data=np.hstack(tiles).astype(np.uint8), channels=True, format="png"), path)
