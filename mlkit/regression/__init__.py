"""Linear regression done right, usable without the CLI.

    from mlkit.regression.data import read_table
    from mlkit.regression.linear import fit_exact, fit_gd, fit_elastic_net, fit_ridge

Lessons built in: a least-squares line has an exact solution (chunked QR here,
in bounded memory for any number of rows), while gradient descent with a too
high learning rate or too few epochs returns a plausible but wrong answer, so
its result is always checked against the exact one. L1 drives weights to
exactly zero, L2 shrinks them all, elastic net mixes both.
"""
