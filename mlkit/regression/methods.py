"""One call for every method, as `mlkit regress` makes it: the per-method defaults, the fit,
its scores, and the exact answer beside it when gradient descent is off or it is asked for."""

import os

from mlkit import ui
from mlkit.errors import MlkitError
from mlkit.regression import linear

METHODS = ("exact", "gd", "sgd", "lasso", "ridge", "elastic-net", "mlp")

# an option left out means this, per method ("*": every other method). The MLP needs Adam,
# more epochs and a light penalty to fit anything; the linear penalties a real one.
DEFAULTS = {
    "alpha": {"mlp": 1e-4, "*": 1.0},
    "lr": {"*": 0.01},
    "epochs": {"mlp": 300, "*": 100},
    "optimizer": {"mlp": "adam", "*": "sgd"},
    "batch_size": {"sgd": 32, "*": None},  # gd and mlp: all rows
    "l1_ratio": {"*": 0.5},
    "penalty": {"*": "l2"},
    "hidden": {"*": (10, 10, 10)},
    "activation": {"*": "relu"},
    "standardize": {"*": False},
    "device": {"*": "auto"},
}


def with_defaults(method, options):
    """`options` with each one left out (or None) set to the method's default."""
    filled = dict(options)
    for key, per_method in DEFAULTS.items():
        if filled.get(key) is None:
            filled[key] = per_method.get(method, per_method["*"])
    if filled.get("shuffle") is None:
        filled["shuffle"] = method != "gd"
    return filled


def fit_table(table, method="exact", seed=None, compare=False, **options):
    """Fit `method` to a Table. Iterative fits carry their scores; gd/sgd carry a warning and
    the exact answer when they are off by more than 0.1% (fit.warnings, fit.exact); with
    `compare` every method carries the exact answer. seed None: the seed of the MLP run in
    `checkpoint_dir` when there is one, else drawn (fit.details["seed"] says which)."""
    if method not in METHODS:
        raise MlkitError(f"unknown method {method!r}", f"choose from {', '.join(METHODS)}")
    options = with_defaults(method, options)
    seed = _seed(seed, method, options.get("checkpoint_dir"))
    if method == "mlp" and options.get("checkpoint_dir"):
        from mlkit.regression.train import check_run_folder

        check_run_folder(options["checkpoint_dir"])
    if method in ("exact", "lasso", "ridge", "elastic-net") or compare:
        linear.check_size(table)  # before the rows are loaded
    if method == "exact" and not compare:
        return _exact_with_progress(table)
    X, y = table.load()
    fit = _exact_with_progress(table) if method == "exact" else _fit_arrays(method, X, y, table, seed, options)
    if method != "exact":
        fit.details.update(linear.scores(fit, X, y), seed=seed)
    if compare and fit.exact is None:
        fit.exact = linear.compare_exact(fit, X, y)
    return fit


def _seed(seed, method, checkpoint_dir):
    if seed is None and method == "mlp" and checkpoint_dir:
        from mlkit.regression.train import stored_seed

        seed = stored_seed(checkpoint_dir)
    if seed is not None:
        return seed
    import secrets  # here: it loads OpenSSL (4 MB), which the exact fit's parse workers do without

    return secrets.randbits(32)


def _fit_arrays(method, X, y, table, seed, opts):
    """The methods that work on the loaded rows; their errors name the data file."""
    try:
        if method in ("gd", "sgd", "mlp"):
            return _iterative(method, X, y, table, seed, opts)
        if method == "ridge":
            return linear.fit_ridge(X, y, opts["alpha"], table.x_cols, table.y_col, opts["standardize"])
        ratio = 1.0 if method == "lasso" else opts["l1_ratio"]
        return linear.fit_elastic_net(X, y, opts["alpha"], ratio, table.x_cols, table.y_col, opts["standardize"])
    except MlkitError as exc:
        if exc.message.startswith(("--", opts.get("checkpoint_dir") or "--")):
            raise  # about an option (--device) or the checkpoint folder, which it names
        raise type(exc)(f"{table.name}: {exc.message}", exc.hint) from None


def _iterative(method, X, y, table, seed, opts):
    schedule = linear.Schedule(lr=opts["lr"], epochs=opts["epochs"], batch_size=opts["batch_size"], shuffle=opts["shuffle"],
                               optimizer=opts["optimizer"], tol=opts.get("tol"), seed=seed)
    if method == "mlp":
        from mlkit.regression.train import CHECKPOINT_EVERY, fit_mlp

        return fit_mlp(X, y, table.x_cols, table.y_col, opts["hidden"], opts["activation"], opts["penalty"], opts["alpha"],
                       schedule, opts["device"], opts.get("checkpoint_dir"), opts.get("checkpoint_every") or CHECKPOINT_EVERY)
    return linear.fit_gd(X, y, schedule, table.x_cols, table.y_col, opts["standardize"])


def _exact_with_progress(table):
    total = os.path.getsize(table.path)
    with ui.progress(total if total > 10_000_000 else 0, "least squares") as advance:
        return linear.fit_exact(table, progress=advance)
