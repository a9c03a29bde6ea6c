"""`mlkit regress`: linear regression done right, from CSV/TSV tables."""

import click

from mlkit.commands._options import seed_option

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
METHODS = ["exact", "gd", "sgd", "lasso", "ridge", "elastic-net", "mlp"]
# gradient descent further than this from the exact solution earns a warning
AGREEMENT = 1e-3


# an option left out means this, per method ("*": every other method). The MLP needs
# Adam, more epochs and a light penalty to fit anything; the linear penalties a real one.
DEFAULTS = {
    "alpha": {"mlp": 1e-4, "*": 1.0},
    "lr": {"*": 0.01},
    "epochs": {"mlp": 300, "*": 100},
    "optimizer": {"mlp": "adam", "*": "sgd"},
}


def _with_defaults(method, opts):
    filled = dict(opts)
    for key, per_method in DEFAULTS.items():
        if filled.get(key) is None:
            filled[key] = per_method.get(method, per_method["*"])
    return filled


def _hidden(ctx, param, value):
    try:
        sizes = tuple(int(h) for h in value.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of layer sizes (positive integers, e.g. 10,10,10)")
    return sizes


def _columns(text):
    return [c.strip() for c in text.split(",")] if text else None


@click.command(context_settings=CONTEXT)
@click.argument("data", type=click.Path(dir_okay=False, allow_dash=True), metavar="DATA")
@click.option("--x", "x_cols", help="Feature columns, comma-separated [default: all but --y].")
@click.option("--y", "y_col", help="Target column [default: the last].")
@click.option("--method", type=click.Choice(METHODS), default="exact", show_default=True)
@click.option("--alpha", type=click.FloatRange(0), help="Penalty strength (lasso, ridge, elastic-net, mlp) [default: 1.0; mlp 1e-4].")
@click.option("--l1-ratio", type=click.FloatRange(0, 1), default=0.5, show_default=True, help="Elastic-net mix: 1 is lasso, 0 ridge.")
@click.option("--penalty", type=click.Choice(["l1", "l2"]), default="l2", show_default=True, help="MLP weight penalty.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), help="Learning rate [default: 0.01].")
@click.option("--epochs", type=click.IntRange(1), help="[default: 100; mlp 300]")
@click.option("--batch-size", type=click.IntRange(1), help="[default: gd and mlp all rows, sgd 32]")
@click.option("--shuffle/--no-shuffle", default=None, help="Shuffle rows each epoch [default: sgd and mlp yes].")
@click.option("--optimizer", type=click.Choice(["sgd", "momentum", "adam"]), help="[default: sgd; mlp adam]")
@click.option("--tol", type=float, help="Stop when the epoch loss changes less than this.")
@seed_option
@click.option("--standardize", is_flag=True, help="Z-score the features first (coefficients are reported in original units).")
@click.option("--hidden", default="10,10,10", show_default=True, callback=_hidden, help="MLP hidden layer sizes.")
@click.option("--activation", type=click.Choice(["relu", "leaky-relu", "prelu", "elu", "sigmoid", "tanh"]), default="relu", show_default=True)
@click.option("--dropna", is_flag=True, help="Skip rows with missing, NaN or infinite values.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--predict", "predict_path", type=click.Path(dir_okay=False, allow_dash=True), help="Predict for these rows (CSV to stdout).")
@click.option("--save", type=click.Path(dir_okay=False), help="Save the model as JSON (reusable: mlkit regress MODEL.json --predict NEW.csv).")
@click.option("--plot", type=click.Path(dir_okay=False), help="Draw data and fit (PNG).")
@click.option("--plot-weights", type=click.Path(dir_okay=False), help="MLP: draw the weight matrices (PNG).")
@click.option("--compare", is_flag=True, help="Show the exact solution beside the chosen method.")
def command(data, x_cols, y_col, method, seed, fmt, predict_path, save, plot, plot_weights, compare, dropna, **opts):
    """Fit y = X w + b from a CSV/TSV with a header (DATA, or - for stdin).

    exact is least squares by a chunked QR (any number of rows, bounded memory,
    with standard errors, t and p values, 95% intervals). gd/sgd minimise the
    squared error from zero weights and are checked against the exact answer:
    a plausible but wrong result gets a warning. lasso, ridge and elastic-net
    use scikit-learn's objectives; mlp is a small Keras network.

    \b
    Examples:
      mlkit regress data.csv --y price --format json
      mlkit regress data.csv --method gd --lr 0.5 --epochs 10 --compare
      mlkit regress data.csv --method lasso --alpha 0.1 --save model.json
      mlkit regress model.json --predict new.csv > predictions.csv
    """
    from mlkit.regression import report

    opts = _with_defaults(method, opts)
    if plot_weights and method != "mlp":
        raise click.UsageError("--plot-weights is for --method mlp")
    if report.is_model_file(data):
        if not predict_path:
            raise click.UsageError("a saved model needs --predict NEW.csv")
        _predict(report.load_model(data), predict_path, dropna, model_path=data)
        return 0
    fit, X, y, exact = _fit(data, _columns(x_cols), y_col, method, seed, dropna, compare, opts)
    result = report.as_dict(fit, exact)
    _print(result, fmt, to_stderr=bool(predict_path))
    if save:
        report.save_model(fit, save)
    if plot:
        if X is None:
            X, y = _table(data, fit.x_cols, fit.y_col, dropna).load()
        report.plot_fit(fit, X, y, plot)
    if plot_weights:
        report.plot_weights(fit.details["network"]["layers"], plot_weights)
    if predict_path:
        _predict(fit, predict_path, dropna)
    return 0


def _table(path, x_cols, y_col, dropna, target=True, needed_by=None):
    from mlkit.regression.data import Table

    return Table(path, x_cols, y_col, dropna, target, needed_by)


def _fit(data, x_cols, y_col, method, seed, dropna, compare, opts):
    from mlkit import ui
    from mlkit.regression import linear

    table = _table(data, x_cols, y_col, dropna)
    if method == "exact" and not compare:
        fit = _exact_with_progress(table)
        _report_dropped(table)
        return fit, None, None, None
    X, y = table.load()
    _report_dropped(table)
    fit = _exact_with_progress(table) if method == "exact" else _fit_arrays(method, X, y, table, seed, opts)
    if method != "exact":
        fit.details.update(linear.scores(fit, X, y))
    exact = None
    if method in ("gd", "sgd") or compare:
        relative, intercept, coef = linear.disagreement(fit, X, y)
        if method in ("gd", "sgd") and relative > AGREEMENT:
            ui.warn(f"{method} ended {relative:.2%} away from the exact least-squares solution ({_cause(fit, opts)}); both are shown")
            compare = True
        if compare:
            exact = {"coef": coef.tolist(), "intercept": intercept, "relative": relative}
    return fit, X, y, exact


def _fit_arrays(method, X, y, table, seed, opts):
    """The methods that work on the loaded rows; their errors name the data file."""
    from mlkit.errors import MlkitError
    from mlkit.regression import linear

    try:
        if method in ("gd", "sgd", "mlp"):
            return _iterative(method, X, y, table, seed, opts)
        if method == "ridge":
            return linear.fit_ridge(X, y, opts["alpha"], table.x_cols, table.y_col, opts["standardize"])
        ratio = 1.0 if method == "lasso" else opts["l1_ratio"]
        return linear.fit_elastic_net(X, y, opts["alpha"], ratio, table.x_cols, table.y_col, opts["standardize"])
    except MlkitError as exc:
        raise type(exc)(f"{table.name}: {exc.message}", exc.hint) from None


def _cause(fit, opts):
    """Why descent ended off the mark, read from its loss curve."""
    if fit.details["loss_trend"] == "falling":
        return "the loss was still falling: learning rate too low or too few epochs"
    if opts["optimizer"] != "sgd":  # momentum and Adam overshoot and swing back by design
        return "the loss still oscillates: more epochs, or a lower --lr"
    return "the loss rose in the later epochs: learning rate too high"


def _exact_with_progress(table):
    import os

    from mlkit import ui
    from mlkit.regression import linear

    total = os.path.getsize(table.path)
    with ui.progress(total if total > 10_000_000 else 0, "least squares") as advance:
        return linear.fit_exact(table, progress=advance)


def _iterative(method, X, y, table, seed, opts):
    from mlkit.regression.linear import Schedule, fit_gd

    default_batch = {"gd": None, "sgd": 32, "mlp": None}[method]
    shuffle = opts["shuffle"] if opts["shuffle"] is not None else method != "gd"
    schedule = Schedule(
        lr=opts["lr"],
        epochs=opts["epochs"],
        batch_size=opts["batch_size"] or default_batch,
        shuffle=shuffle,
        optimizer=opts["optimizer"],
        tol=opts["tol"],
        seed=seed or 0,
    )
    if method == "mlp":
        from mlkit.regression.mlp import fit_mlp

        return fit_mlp(X, y, table.x_cols, table.y_col, opts["hidden"], opts["activation"], opts["penalty"], opts["alpha"], schedule)
    fit = fit_gd(X, y, schedule, table.x_cols, table.y_col, opts["standardize"])
    if method == "sgd" and schedule.batch_size is None:
        fit.method = "sgd"
    return fit


def _report_dropped(table):
    from mlkit import ui

    if table.dropped:
        ui.info(f"skipped {table.dropped} rows with missing or non-finite values (--dropna)")


def _print(result, fmt, to_stderr=False):
    import json

    from mlkit.regression import report

    as_json = lambda r: json.dumps(report.json_safe(r), indent=2, allow_nan=False)  # noqa: E731
    text = {"json": as_json, "table": report.as_table, "csv": report.as_csv}[fmt](result)
    click.echo(text, err=to_stderr)


def _predict(fit, path, dropna, model_path=None):
    from mlkit.regression import report

    table = _table(path, list(fit.x_cols), None, dropna, target=False, needed_by=model_path)
    click.echo(report.predictions_csv(fit, table))
