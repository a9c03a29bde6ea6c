"""What `regress` reports: the result as a dict, its table and CSV rows, predictions (its
pictures are plot.py's)."""


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
