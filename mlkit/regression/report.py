"""What `regress` prints and writes: JSON, a table, CSV, saved models, plots."""

import json
import math

import numpy as np

from mlkit.errors import MlkitError

MODEL_FORMAT = "mlkit-regress-1"
HIDDEN = ("loss_history", "loss_trend", "network")  # kept in saved models, left out of printed results


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


def json_safe(value):
    """NaN and infinities as null (JSON has neither), in nested dicts and lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


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


SAVE_HINT = "save a model with mlkit regress DATA --save MODEL.json"
METHODS = ("exact", "gd", "sgd", "lasso", "ridge", "elastic-net", "mlp")  # as in commands/regress.py


def load_model(path):
    """A saved model: plain JSON, checked field by field; an error names the file and the field."""
    try:
        return _model_from(_read_json(path))
    except MlkitError as exc:
        raise type(exc)(f"{path}: {exc.message}", exc.hint or SAVE_HINT) from None


def _read_json(path):
    import os

    from mlkit.io import limits

    try:
        limits.check(os.path.getsize(path), "the model file")
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise MlkitError(f"cannot read the model: {exc.strerror or exc}") from None
    except RecursionError:
        raise MlkitError("not a model: its JSON is nested too deeply") from None
    except ValueError as exc:
        raise MlkitError(f"not a model: not valid JSON ({str(exc).splitlines()[0]})") from None


def _model_from(payload):
    from mlkit.regression.linear import Fit
    from mlkit.regression.mlp import MlpFit

    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise MlkitError("not an mlkit regress model (saved with --save)")
    method = _field(payload, "method", str)
    if method not in METHODS:
        raise MlkitError(f"method is {method!r}, not one of {', '.join(METHODS)}")
    x_cols = _field(payload, "x_cols", list)
    if not x_cols or not all(isinstance(c, str) for c in x_cols) or len(set(x_cols)) != len(x_cols):
        raise MlkitError("x_cols must be a list of distinct column names")
    y_col = payload.get("y_col")
    if y_col is not None and not isinstance(y_col, str):
        raise MlkitError("y_col must be a column name")
    if method == "mlp":
        network = _field(payload, "network", dict)
        _check_network(network, len(x_cols))
        return MlpFit("mlp", x_cols, y_col, np.zeros(0), 0.0, 0, {"network": network})
    coef = _vector(_field(payload, "coef", list), len(x_cols), "coef")
    return Fit(method, x_cols, y_col, coef, _number(payload.get("intercept"), "intercept"), 0)


def _field(payload, key, kind):
    if key not in payload:
        raise MlkitError(f"{key!r} is missing")
    if not isinstance(payload[key], kind):
        raise MlkitError(f"{key} must be a {'text' if kind is str else kind.__name__}")
    return payload[key]


def _number(value, what, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MlkitError(f"{what} is {json.dumps(value)[:40]}, not a finite number")
    if positive and value <= 0:
        raise MlkitError(f"{what} is {value}: it must be positive")
    return float(value)


def _vector(values, n, what, positive=False):
    if not isinstance(values, list) or len(values) != n:
        raise MlkitError(f"{what} must be a list of {n} number{'s' if n != 1 else ''}")
    return np.array([_number(v, f"{what}[{i}]", positive) for i, v in enumerate(values)], float)


def _check_network(net, n_inputs):
    """Standardisation of the right lengths (std > 0) and layers that chain from the
    inputs to one output, all numbers finite."""
    from mlkit.regression.mlp import ACTIVATIONS

    _vector(net.get("x_mean"), n_inputs, "network x_mean")
    _vector(net.get("x_std"), n_inputs, "network x_std", positive=True)
    _number(net.get("y_mean"), "network y_mean")
    _number(net.get("y_std"), "network y_std", positive=True)
    layers = net.get("layers")
    if not isinstance(layers, list) or not layers or not all(isinstance(layer, dict) for layer in layers):
        raise MlkitError("network layers must be a non-empty list")
    width = n_inputs
    for i, layer in enumerate(layers):
        what = f"network layer {i + 1}"
        rows = layer.get("W")
        if not isinstance(rows, list) or len(rows) != width or not rows or not isinstance(rows[0], list) or not rows[0]:
            raise MlkitError(f"{what}: W must be a {width} x N list of lists")
        out = len(rows[0])
        for r, row in enumerate(rows):
            _vector(row, out, f"{what} W[{r}]")
        _vector(layer.get("b"), out, f"{what} b")
        kind = layer.get("activation")
        fits = kind is None if i == len(layers) - 1 else kind in ACTIVATIONS
        if not fits:
            raise MlkitError(f"{what}: activation {kind!r}", f"hidden layers use one of {', '.join(ACTIVATIONS)}, the last none")
        if kind == "prelu":
            _vector(layer.get("slopes"), out, f"{what} slopes")
        width = out
    if width != 1:
        raise MlkitError(f"the network ends in {width} outputs, not 1")


def is_model_file(path):
    """Models are JSON; data are CSV or TSV. So a .json argument is read as a model
    (and a broken one is reported as a broken model)."""
    return path != "-" and path.lower().endswith(".json")


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
