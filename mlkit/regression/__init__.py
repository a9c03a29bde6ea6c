"""Linear regression done right, usable without the CLI.

    from mlkit.regression import Table, fit_table
    fit = fit_table(Table("data.csv"), "gd", lr=0.1, epochs=50)
    fit.coef, fit.intercept, fit.warnings, fit.exact

Lessons built in: a least-squares line has an exact solution (from one parse of the CSV, in
bounded memory for any number of rows: centred normal equations, or a chunked QR when the
features are ill-conditioned), while gradient descent with a too high learning rate or too
few epochs returns a plausible but wrong answer, so its result is always checked against the
exact one (a warning on the fit when they differ by more than 0.1%). L1 drives weights to
exactly zero, L2 shrinks them all, elastic net mixes both. The MLP trains on mlkit.deep.

    formats.py   CSV/TSV tables; saved models (JSON, .keras), checked field by field
    linear.py    exact least squares, gradient descent and its check, ridge, lasso, elastic net
    parse.py     the exact fit's one parse of the CSV: here, or in worker processes for big files
    mlp.py       the MLP's weights, predictions and sparsity in numpy
    model.py     the MLP as a Keras network (with its standardisation inside) and its step
    train.py     MLP training on mlkit.deep: loop, checkpoints, resume
    methods.py   one call for every method, as `mlkit regress` makes it
    report.py    the result as a dict, table and CSV rows, predictions
    plot.py      the data with the fit, the MLP's weight matrices (matplotlib, via mlkit.plots)
"""

from mlkit.regression.formats import Table, load_model, save_model
from mlkit.regression.linear import Fit, Schedule, fit_elastic_net, fit_exact, fit_gd, fit_ridge
from mlkit.regression.methods import METHODS, fit_table
from mlkit.regression.train import fit_mlp

__all__ = ["Table", "load_model", "save_model", "Fit", "Schedule", "fit_elastic_net", "fit_exact", "fit_gd", "fit_ridge",
           "METHODS", "fit_table", "fit_mlp"]
