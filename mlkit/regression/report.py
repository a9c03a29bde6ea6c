"""What `regress` prints and writes: JSON, a table, CSV, saved models, plots."""

import json

import numpy as np

from mlkit.errors import MlkitError

MODEL_FORMAT = "mlkit-regress-1"
HIDDEN = ("loss_history", "network")  # kept in saved models, left out of printed results


def as_dict(fit, compare=None):
    """The JSON result: method, coefficients by column, intercept, scores, n, and
    the method's own details (OLS statistics, or loss / epochs / convergence)."""
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
    if compare is not None:
        out["exact"] = {"coefficients": dict(zip(fit.x_cols, compare["coef"])), "intercept": compare["intercept"], "relative_difference": compare["relative"]}
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


def as_csv(result):
    terms = ["intercept", *result["coefficients"]]
    values = [result["intercept"], *result["coefficients"].values()]
    header = ["term", "coef"]
    rows = [[t, v] for t, v in zip(terms, values)]
    if "std_err" in result:
        header += ["std_err", "t", "p_value", "ci95_low", "ci95_high"]
        for row, t in zip(rows, terms):
            row += [result["std_err"][t], result["t"][t], result["p_value"][t], *result["ci95"][t]]
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    return "\n".join(lines)


# --- saved models -----------------------------------------------------------------------------------


def save_model(fit, path):
    from mlkit.io.write import atomic_write

    payload = {
        "format": MODEL_FORMAT,
        "method": fit.method,
        "x_cols": list(fit.x_cols),
        "y_col": fit.y_col,
        "coef": [float(v) for v in fit.coef],
        "intercept": fit.intercept,
        "network": fit.details.get("network"),
    }
    with atomic_write(path) as out:
        out.write(json.dumps(payload, indent=1).encode())


def load_model(path):
    """A saved model; plain JSON, checked field by field."""
    from mlkit.regression.linear import Fit
    from mlkit.regression.mlp import MlpFit

    try:
        with open(path) as f:
            payload = json.load(f)
    except (OSError, ValueError) as exc:
        raise MlkitError(f"cannot read model {path}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise MlkitError(f"{path} is not an mlkit regress model (saved with --save)")
    x_cols, coef = payload.get("x_cols"), payload.get("coef")
    if not isinstance(x_cols, list) or not isinstance(coef, list):
        raise MlkitError(f"{path} is a malformed model")
    if payload.get("network"):
        return MlpFit("mlp", x_cols, payload.get("y_col"), np.zeros(0), 0.0, 0, {"network": payload["network"]})
    if len(coef) != len(x_cols):
        raise MlkitError(f"{path} is a malformed model: {len(coef)} coefficients for {len(x_cols)} columns")
    return Fit(payload["method"], x_cols, payload.get("y_col"), np.asarray(coef, float), float(payload["intercept"]), 0)


def is_model_file(path):
    if not path.endswith(".json"):
        return False
    try:
        with open(path) as f:
            return json.load(f).get("format") == MODEL_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def predictions_csv(fit, table):
    """The feature columns of `table` with a `prediction` column."""
    lines = [",".join([*fit.x_cols, "prediction"])]
    for X, _ in table.chunks():
        pred = fit.predict(X)
        lines += [",".join(f"{v:.17g}" for v in [*row, p]) for row, p in zip(X, pred)]
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
