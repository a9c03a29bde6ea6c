"""regress exact: one parse of the CSV, numbers equal to an OLS summary computed from numpy's QR
and lstsq on real data (scikit-learn's diabetes table), on both routes (normal equations, QR)."""

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_diabetes

from mlkit.regression import linear
from mlkit.regression.formats import Table
from mlkit.regression.linear import fit_exact


def write_csv(path, X, y):
    names = [f"x{i}" for i in range(X.shape[1])] + ["y"]
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt="%.17g", header=",".join(names), comments="")
    return str(path)


def ols_summary(X, y):
    """What statsmodels' OLS summary shows, from numpy's lstsq and QR."""
    A = np.column_stack([np.ones(len(y)), X])
    theta = np.linalg.lstsq(A, y, rcond=None)[0]
    resid = y - A @ theta
    n, k = A.shape
    dof = n - k
    R = np.linalg.qr(A, mode="r")
    inv = np.linalg.inv(R)
    se = np.sqrt(resid @ resid / dof * (inv**2).sum(axis=1))
    t = theta / se
    half = stats.t.ppf(0.975, dof) * se
    return {
        "theta": theta, "std_err": se, "t": t, "p_value": 2 * stats.t.sf(np.abs(t), dof),
        "ci95": np.column_stack([theta - half, theta + half]),
        "r2": 1 - resid @ resid / ((y - y.mean()) ** 2).sum(), "rmse": np.sqrt(np.mean(resid**2)), "mae": np.abs(resid).mean(),
    }


def assert_matches(fit, want, rtol):
    np.testing.assert_allclose(np.append(fit.intercept, fit.coef), want["theta"], rtol=rtol)
    for key in ("std_err", "t", "ci95"):
        np.testing.assert_allclose(np.array(fit.details[key], float), want[key], rtol=rtol, err_msg=key)
    np.testing.assert_allclose(fit.details["p_value"], want["p_value"], rtol=1e-8, atol=1e-300)
    for key in ("r2", "rmse", "mae"):
        assert fit.details[key] == pytest.approx(want[key], rel=rtol), key


def counting_qr(monkeypatch):
    calls = []
    original = linear._chunked_r
    monkeypatch.setattr(linear, "_chunked_r", lambda blocks: calls.append(1) or original(blocks))
    return calls


@pytest.mark.parametrize("scaled", [True, False])
def test_diabetes_matches_an_ols_summary(tmp_path, monkeypatch, scaled):
    X, y = load_diabetes(return_X_y=True, scaled=scaled)
    qr = counting_qr(monkeypatch)
    fit = fit_exact(Table(write_csv(tmp_path / "d.csv", X, y)))
    assert not qr  # well conditioned: the normal equations
    assert_matches(fit, ols_summary(X, y), rtol=1e-10)


def test_ill_conditioned_features_go_through_the_qr(tmp_path, monkeypatch):
    X, y = load_diabetes(return_X_y=True)
    twin = X[:, 2] + 1e-4 * X[:, 2].std() * np.random.default_rng(0).normal(size=len(y))  # 0.999999995 correlated
    X = np.column_stack([X, twin])
    qr = counting_qr(monkeypatch)
    fit = fit_exact(Table(write_csv(tmp_path / "d.csv", X, y)))
    assert qr == [1]
    assert_matches(fit, ols_summary(X, y), rtol=1e-8)


def test_features_far_from_zero_keep_their_digits(tmp_path):
    """x around 1e6: the centred moments stay accurate where a QR of uncentred [1 X] loses
    about six digits of the intercept; the reference is lstsq on centred features and target."""
    rng = np.random.default_rng(0)
    X = 1e6 + rng.normal(size=(5000, 3))
    y = X @ [1.0, 2.0, 3.0] + 10 + rng.normal(0, 1e-3, 5000)
    fit = fit_exact(Table(write_csv(tmp_path / "d.csv", X, y)))
    x_mean, y_mean = X.mean(axis=0), y.mean()
    coef = np.linalg.lstsq(X - x_mean, y - y_mean, rcond=None)[0]
    np.testing.assert_allclose(fit.coef, coef, rtol=1e-10)
    assert fit.intercept == pytest.approx(y_mean - x_mean @ coef, rel=1e-10)


def test_the_csv_is_parsed_once(tmp_path):
    X, y = load_diabetes(return_X_y=True)
    table = Table(write_csv(tmp_path / "d.csv", X, y))
    passes = []
    original = table.chunks
    table.chunks = lambda **kwargs: passes.append(1) or original(**kwargs)
    fit_exact(table)
    assert passes == [1]
