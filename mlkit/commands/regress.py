"""`mlkit regress`: linear regression done right, from CSV/TSV tables."""

import os

import click

from mlkit.commands._options import device_option, seed_option
from mlkit.commands._output import format_option

METHODS = ["exact", "gd", "sgd", "lasso", "ridge", "elastic-net", "mlp"]  # as mlkit.regression.methods.METHODS


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


@click.command()
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
@device_option
@click.option("--checkpoint-dir", type=click.Path(file_okay=False), help="MLP: checkpoint here and resume from here (the same command continues).")
@click.option("--checkpoint-every", type=click.IntRange(1), default=50, show_default=True, help="MLP: epochs between checkpoints.")
@click.option("-j", "--jobs", type=click.IntRange(1),
              help="exact: processes that parse a CSV over 32 MiB [default: one per core]; 1 parses in this one.")
@click.option("--dropna", is_flag=True, help="Skip rows with missing, NaN or infinite values.")
@format_option()
@click.option("--predict", "predict_path", type=click.Path(dir_okay=False, allow_dash=True), help="Predict for these rows (CSV to stdout).")
@click.option("--save", type=click.Path(dir_okay=False),
              help="Save the model: MODEL.json (any method) or MODEL.keras (mlp); reuse it with mlkit regress MODEL --predict NEW.csv.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Draw the data and the fit (PNG, SVG or PDF by extension).")
@click.option("--plot-weights", type=click.Path(dir_okay=False),
              help="MLP: draw the weight matrices as heat maps (PNG, SVG or PDF by extension).")
@click.option("--compare", is_flag=True, help="Show the exact solution beside the chosen method.")
def command(data, x_cols, y_col, method, fmt, predict_path, save, plot, plot_weights, compare, dropna, jobs, **opts):
    """Fit y = X w + b from a CSV/TSV with a header (DATA, or - for stdin).

    exact is least squares from one parse of the file (any number of rows,
    bounded memory: the centred normal equations, or a chunked QR when the
    features are ill-conditioned), with standard errors, t and p values and
    95% intervals. gd/sgd minimise the
    squared error from zero weights and are checked against the exact answer:
    a plausible but wrong result gets a warning. lasso, ridge and elastic-net
    use scikit-learn's objectives; mlp is a small Keras network that checkpoints
    and resumes with --checkpoint-dir.

    \b
    Examples:
      mlkit regress data.csv --y price --format json
      mlkit regress data.csv --method gd --lr 0.5 --epochs 10 --compare
      mlkit regress data.csv --method mlp --checkpoint-dir run/ --save model.keras
      mlkit regress model.keras --predict new.csv > predictions.csv
    """
    # Before numpy loads: regress's BLAS work is on chunks 10 columns wide, where OpenBLAS
    # threads only cost (a 65536 x 11 matrix-vector product took 16 ms threaded, 0.5 ms not,
    # on a busy 2-core machine). A value the user set is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from mlkit import ui
    from mlkit.regression import formats, methods, report
    from mlkit.regression import plot as pictures

    _check_usage(method, save, plot, plot_weights, opts)
    _check_deep(method, data)
    if formats.is_model_file(data):
        if not predict_path:
            raise click.UsageError("a saved model needs --predict NEW.csv")
        _predict(formats.load_model(data), predict_path, dropna, model_path=data)
        return 0
    if opts["checkpoint_dir"] and click.get_current_context().get_parameter_source("seed").name == "DEFAULT":
        opts["seed"] = None  # resuming: the run's own seed (the same command continues)
    table = formats.Table(data, _columns(x_cols), y_col, dropna, jobs=jobs)
    fit = methods.fit_table(table, method, compare=compare, **opts)
    if table.dropped:
        ui.info(f"skipped {table.dropped} rows with missing or non-finite values (--dropna)")
    for warning in fit.warnings:
        ui.warn(warning)
    _report(report.as_dict(fit), fmt, to_stderr=bool(predict_path))
    if save:
        formats.save_model(fit, save)
    if plot:
        pictures.write_fit(fit, *table.load(), plot)
    if plot_weights:
        pictures.write_weights(fit.details["network"]["layers"], plot_weights, fit.x_cols)
    if predict_path:
        _predict(fit, predict_path, dropna)
    return 0


def _check_deep(method, data):
    """The MLP and .keras models need TensorFlow: said before any work when it is missing."""
    from mlkit.deep.runtime import require_deep

    if data.lower().endswith(".keras"):
        require_deep("a .keras model")
    elif method == "mlp":
        require_deep("--method mlp")


def _check_usage(method, save, plot, plot_weights, opts):
    from mlkit.plots import plot_format

    for path in (plot, plot_weights):
        if path:
            plot_format(path)  # .png, .svg or .pdf: refused before the fit, not after
    if method != "mlp":
        if plot_weights:
            raise click.UsageError("--plot-weights is for --method mlp")
        if opts["checkpoint_dir"]:
            raise click.UsageError("--checkpoint-dir is for --method mlp")
        if save and save.lower().endswith(".keras"):
            raise click.UsageError("a .keras model is for --method mlp: save other methods as MODEL.json")


def _report(result, fmt, to_stderr):
    """The result through the one output writer; on stderr when stdout carries predictions."""
    from mlkit.commands._output import emit, render
    from mlkit.regression import report

    rows = report.csv_rows(result) if fmt == "csv" else [result]
    if to_stderr:  # a summary beside the predictions: -q silences it
        from mlkit import ui

        if not ui.state["quiet"]:
            click.echo(render(rows, fmt, text=report.as_table), nl=False, err=True)
    else:
        emit(rows, fmt, text=report.as_table)


def _predict(fit, path, dropna, model_path=None):
    from mlkit.regression import formats, report

    table = formats.Table(path, list(fit.x_cols), None, dropna, target=False, needed_by=model_path)
    click.echo(report.predictions_csv(fit, table))
