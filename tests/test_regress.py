"""regress: exact vs numpy, penalised fits vs scikit-learn, SGD vs a hand loop, MLP sparsity, errors."""

import json

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import ElasticNet, Lasso, Ridge

from conftest import run_mlkit
from mlkit.errors import MlkitError
from mlkit.regression import data as data_module
from mlkit.regression.data import Table
from mlkit.regression.linear import Schedule, disagreement, fit_elastic_net, fit_exact, fit_gd, fit_ridge


def synthetic(n=400, p=6, seed=0, noise=0.5, scales=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * (scales if scales is not None else 1)
    w = np.array([3.0, 0, 0, -2.0, 0, 1.5][:p])
    y = X @ w + 4 + rng.normal(0, noise, n)
    return X, y, w


def write_csv(path, X, y, names=None, sep=","):
    names = names or [f"x{i}" for i in range(X.shape[1])] + ["y"]
    rows = [sep.join(names)] + [sep.join(f"{v:.17g}" for v in row) for row in np.column_stack([X, y])]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_exact_agrees_with_numpy_lstsq(tmp_path):
    X, y, _ = synthetic(n=1000, p=6, scales=[1, 10, 0.1, 5, 1, 100])
    fit = fit_exact(Table(str(write_csv(tmp_path / "d.csv", X, y))))
    theta = np.linalg.lstsq(np.column_stack([np.ones(len(y)), X]), y, rcond=None)[0]
    np.testing.assert_allclose(np.append(fit.intercept, fit.coef), theta, rtol=1e-10)


def test_exact_in_many_chunks_gives_the_same_answer(tmp_path, monkeypatch):
    X, y, _ = synthetic(n=1000)
    path = str(write_csv(tmp_path / "d.csv", X, y))
    whole = fit_exact(Table(path))
    monkeypatch.setattr(data_module, "CHUNK_ROWS", 37)
    table = Table(path)
    assert len(list(table.chunks(rows=37))) == 28
    pieces = fit_exact_chunked(table)
    np.testing.assert_allclose(pieces.coef, whole.coef, rtol=1e-12)
    assert pieces.details["mae"] == pytest.approx(whole.details["mae"], rel=1e-12)


def fit_exact_chunked(table):
    original = table.chunks
    table.chunks = lambda rows=37, on_bytes=None: original(rows=37, on_bytes=on_bytes)
    return fit_exact(table)


def test_exact_statistics_match_a_hand_computation(tmp_path):
    X, y, _ = synthetic(n=60, p=3, noise=1.0)
    fit = fit_exact(Table(str(write_csv(tmp_path / "d.csv", X, y))))
    A = np.column_stack([np.ones(len(y)), X])
    theta = np.linalg.solve(A.T @ A, A.T @ y)
    resid = y - A @ theta
    dof = len(y) - 4
    se = np.sqrt(resid @ resid / dof * np.diag(np.linalg.inv(A.T @ A)))
    np.testing.assert_allclose(fit.details["std_err"], se, rtol=1e-8)
    t = theta / se
    np.testing.assert_allclose(fit.details["t"], t, rtol=1e-8)
    np.testing.assert_allclose(fit.details["p_value"], 2 * stats.t.sf(np.abs(t), dof), rtol=1e-6, atol=1e-300)
    ci = np.array(fit.details["ci95"])
    np.testing.assert_allclose(ci[:, 1] - theta, stats.t.ppf(0.975, dof) * se, rtol=1e-8)
    assert fit.details["r2"] == pytest.approx(1 - resid @ resid / ((y - y.mean()) ** 2).sum(), rel=1e-10)
    assert fit.details["mae"] == pytest.approx(np.abs(resid).mean(), rel=1e-10)


@pytest.mark.parametrize("alpha", [0.01, 0.1, 1.0])
def test_penalised_fits_agree_with_sklearn(alpha):
    X, y, _ = synthetic(scales=[1, 2, 3, 1, 5, 1])
    ours = fit_ridge(X, y, alpha, [], "y")
    theirs = Ridge(alpha=alpha).fit(X, y)
    np.testing.assert_allclose(ours.coef, theirs.coef_, atol=1e-6)
    assert ours.intercept == pytest.approx(theirs.intercept_, abs=1e-6)
    ours = fit_elastic_net(X, y, alpha, 1.0, [], "y")
    theirs = Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef, theirs.coef_, atol=1e-6)
    assert ours.intercept == pytest.approx(theirs.intercept_, abs=1e-6)
    ours = fit_elastic_net(X, y, alpha, 0.3, [], "y")
    theirs = ElasticNet(alpha=alpha, l1_ratio=0.3, tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef, theirs.coef_, atol=1e-6)


def test_lasso_recovers_the_true_support():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 20))
    w = np.zeros(20)
    w[[2, 7, 11]] = [2.0, -3.0, 1.5]
    y = X @ w + 1 + rng.normal(0, 0.3, 300)
    fit = fit_elastic_net(X, y, 0.1, 1.0, [], "y")
    assert set(np.flatnonzero(fit.coef)) == {2, 7, 11}
    ridge = fit_ridge(X, y, 10.0, [], "y")
    assert np.count_nonzero(ridge.coef) == 20  # L2 shrinks but never zeroes


def test_per_row_sgd_equals_a_hand_written_loop():
    X, y, _ = synthetic(n=50, p=3)
    fit = fit_gd(X, y, Schedule(lr=0.01, epochs=3, batch_size=1, shuffle=False), ["a", "b", "c"], "y")
    w, b = np.zeros(3), 0.0
    for _ in range(3):
        for i in range(len(y)):  # file order, one update per row: gradient of (y_i - y_hat_i)^2
            err = y[i] - (X[i] @ w + b)
            w = w - 0.01 * (-2 * err * X[i])
            b = b - 0.01 * (-2 * err)
    np.testing.assert_array_equal(fit.coef, w)
    assert fit.intercept == b


def test_full_batch_gd_converges_to_the_exact_answer():
    X, y, _ = synthetic(n=300, p=4)
    fit = fit_gd(X, y, Schedule(lr=0.1, epochs=500), list("abcd"), "y")
    assert disagreement(fit, X, y)[0] < 1e-8


def test_optimizers_and_standardization_reach_the_answer():
    X, y, _ = synthetic(n=300, p=3, scales=[1, 100, 0.01])
    for optimizer, lr in (("momentum", 0.05), ("adam", 0.05)):
        fit = fit_gd(X, y, Schedule(lr=lr, epochs=2000, optimizer=optimizer), list("abc"), "y", standardize=True)
        assert disagreement(fit, X, y)[0] < 1e-4, optimizer


def test_cli_warns_when_gd_is_plausible_but_wrong(tmp_path):
    X, y, _ = synthetic(n=200, p=2)
    path = write_csv(tmp_path / "d.csv", X, y)
    proc = run_mlkit("regress", path, "--method", "gd", "--lr", "0.01", "--epochs", "5", "--format", "json")
    assert proc.returncode == 0
    assert b"learning rate too high or too few epochs" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["converged"] is False and result["epochs_run"] == 5 and "final_loss" in result
    assert result["exact"]["relative_difference"] > 1e-3  # both answers are shown
    good = run_mlkit("regress", path, "--method", "gd", "--lr", "0.1", "--epochs", "500", "--format", "json")
    assert good.stderr == b"" and "exact" not in json.loads(good.stdout)


def test_cli_diverging_gd_fails_loudly(tmp_path):
    X, y, _ = synthetic(n=200, p=2, scales=[10, 10])
    proc = run_mlkit("regress", write_csv(tmp_path / "d.csv", X, y), "--method", "gd", "--lr", "5", "--epochs", "200")
    assert proc.returncode == 1 and b"diverged" in proc.stderr and b"--lr" in proc.stderr


def test_mlp_l1_is_sparser_than_l2():
    from mlkit.regression.mlp import fit_mlp

    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (200, 1))
    y = np.sin(2 * x[:, 0]) + 0.1 * rng.normal(size=200)
    schedule = Schedule(lr=0.02, epochs=300, optimizer="adam", seed=1)
    l1 = fit_mlp(x, y, ["x"], "y", (10, 10, 10), "tanh", "l1", 3e-3, schedule)
    l2 = fit_mlp(x, y, ["x"], "y", (10, 10, 10), "tanh", "l2", 3e-3, schedule)
    assert np.mean(l1.details["sparsity"]) > np.mean(l2.details["sparsity"]) + 0.2
    assert l1.details["disconnected_neurons"] > l2.details["disconnected_neurons"]
    for fit in (l1, l2):
        pred = fit.predict(x)
        assert 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum() > 0.9  # both still fit the curve


def test_cli_json_table_csv_and_stdin(tmp_path):
    X, y, _ = synthetic(n=100, p=2)
    path = write_csv(tmp_path / "d.csv", X, y, names=["size", "age", "price"])
    result = json.loads(run_mlkit("regress", path, "--format", "json").stdout)
    assert {"method", "coefficients", "intercept", "r2", "rmse", "mae", "n", "std_err", "t", "p_value", "ci95"} <= set(result)
    assert list(result["coefficients"]) == ["size", "age"] and result["n"] == 100
    picked = json.loads(run_mlkit("regress", path, "--x", "age", "--y", "price", "--format", "json").stdout)
    assert list(picked["coefficients"]) == ["age"]
    table = run_mlkit("regress", path).stdout.decode()
    assert "intercept" in table and "std_err" in table
    csv_out = run_mlkit("regress", "-", "--format", "csv", stdin=path.read_bytes()).stdout.decode().splitlines()
    assert csv_out[0] == "term,coef,std_err,t,p_value,ci95_low,ci95_high" and len(csv_out) == 4
    tsv = write_csv(tmp_path / "d.tsv", X, y, names=["size", "age", "price"], sep="\t")
    assert json.loads(run_mlkit("regress", tsv, "--format", "json").stdout)["coefficients"] == result["coefficients"]


def test_cli_save_predict_and_plot(tmp_path):
    X, y, _ = synthetic(n=100, p=2)
    path = write_csv(tmp_path / "d.csv", X, y)
    proc = run_mlkit("regress", path, "--method", "ridge", "--alpha", "0.5", "--save", tmp_path / "m.json", "--plot", tmp_path / "fit.png")
    assert proc.returncode == 0, proc.stderr
    new = write_csv(tmp_path / "new.csv", X[:5], y[:5])
    out = run_mlkit("regress", tmp_path / "m.json", "--predict", new).stdout.decode().splitlines()
    assert out[0] == "x0,x1,prediction"
    ref = fit_ridge(X, y, 0.5, ["x0", "x1"], "y").predict(X[:5])
    np.testing.assert_allclose([float(line.split(",")[-1]) for line in out[1:]], ref, rtol=1e-12)
    import cv2

    assert cv2.imread(str(tmp_path / "fit.png")).shape == (480, 720, 3)


@pytest.mark.parametrize(
    "text,args,message",
    [
        ("a,b\n1,2\n2,x\n3,4\n", [], "line 3, column 'b': 'x' is not a number"),
        ("a,b\n1,2\n2,\n3,4\n", [], "line 3, column 'b': missing value"),
        ("a,c,b\n1,5,2\n2,5,3\n3,5,5\n", [], "column 'c' is constant"),
        ("a,c,b\n1,2,2\n", [], "fewer rows than unknowns"),
        ("a,b\n1,2\n2,nan\n3,4\n", [], "line 3, column 'b'"),
        ("a,b\n1,2\ninf,3\n3,4\n", [], "line 3, column 'a'"),
        ("a,b\n1,2\n2,3\n", ["--y", "zz"], "no column 'zz'"),
        ("", [], "empty input"),
        ("a,b,c\n1,2,3\n2,4,5\n3,6,8\n4,8,9\n", [], "linear combination"),
    ],
)
def test_cli_errors_name_the_cell(tmp_path, text, args, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    proc = run_mlkit("regress", path, *args)
    assert proc.returncode == 1
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_dropna_skips_bad_rows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n2,\n3,4\nnan,1\n4,6\n")
    proc = run_mlkit("regress", path, "--dropna", "--format", "json")
    assert proc.returncode == 0 and b"skipped 2 rows" in proc.stderr
    assert json.loads(proc.stdout)["n"] == 3
