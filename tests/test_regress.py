"""regress: exact vs numpy, penalised fits vs scikit-learn, SGD vs a hand loop, MLP sparsity, errors."""

import json

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import ElasticNet, Lasso, Ridge

from conftest import run_mlkit
from mlkit.errors import MlkitError
from mlkit.regression import formats as data_module
from mlkit.regression.formats import Table
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


def one_result(stdout, **kwargs):
    """The JSON report: a list with one object per fit (issue 10: the shape every command's JSON has)."""
    results = json.loads(stdout, **kwargs)
    assert isinstance(results, list) and len(results) == 1, results
    return results[0]


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
    assert b"learning rate too low or too few epochs" in proc.stderr  # the loss was still falling (issue 9: not "too high")
    result = one_result(proc.stdout)
    assert result["converged"] is False and result["epochs_run"] == 5 and "final_loss" in result
    assert result["exact"]["relative_difference"] > 1e-3  # both answers are shown
    good = run_mlkit("regress", path, "--method", "gd", "--lr", "0.1", "--epochs", "500", "--format", "json")
    assert good.stderr == b"" and "exact" not in one_result(good.stdout)


def test_cli_diverging_gd_fails_loudly(tmp_path):
    X, y, _ = synthetic(n=200, p=2, scales=[10, 10])
    proc = run_mlkit("regress", write_csv(tmp_path / "d.csv", X, y), "--method", "gd", "--lr", "5", "--epochs", "200")
    assert proc.returncode == 1 and b"diverged" in proc.stderr and b"--lr" in proc.stderr


@pytest.mark.deep
def test_mlp_l1_is_sparser_than_l2():
    from mlkit.regression.train import fit_mlp

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
    result = one_result(run_mlkit("regress", path, "--format", "json").stdout)
    assert {"method", "coefficients", "intercept", "r2", "rmse", "mae", "n", "std_err", "t", "p_value", "ci95"} <= set(result)
    assert list(result["coefficients"]) == ["size", "age"] and result["n"] == 100
    picked = one_result(run_mlkit("regress", path, "--x", "age", "--y", "price", "--format", "json").stdout)
    assert list(picked["coefficients"]) == ["age"]
    table = run_mlkit("regress", path).stdout.decode()
    assert "intercept" in table and "std_err" in table
    csv_out = run_mlkit("regress", "-", "--format", "csv", stdin=path.read_bytes()).stdout.decode().splitlines()
    assert csv_out[0] == "term,coef,std_err,t,p_value,ci95_low,ci95_high" and len(csv_out) == 4
    tsv = write_csv(tmp_path / "d.tsv", X, y, names=["size", "age", "price"], sep="\t")
    assert one_result(run_mlkit("regress", tsv, "--format", "json").stdout)["coefficients"] == result["coefficients"]


def test_cli_save_predict_and_plot(tmp_path):
    X, y, _ = synthetic(n=100, p=2)
    path = write_csv(tmp_path / "d.csv", X, y)
    proc = run_mlkit("regress", path, "--method", "ridge", "--alpha", "0.5", "--save", tmp_path / "m.json", "--plot", tmp_path / "fit.svg")
    assert proc.returncode == 0, proc.stderr
    new = write_csv(tmp_path / "new.csv", X[:5], y[:5])
    out = run_mlkit("regress", tmp_path / "m.json", "--predict", new).stdout.decode().splitlines()
    assert out[0] == "x0,x1,prediction"
    ref = fit_ridge(X, y, 0.5, ["x0", "x1"], "y").predict(X[:5])
    np.testing.assert_allclose([float(line.split(",")[-1]) for line in out[1:]], ref, rtol=1e-12)
    svg = (tmp_path / "fit.svg").read_text()
    assert svg.startswith("<?xml") and "predicted y" in svg and "observed = predicted" in svg  # labels and legend as text


def test_plot_draws_the_data_and_the_fits_own_values(tmp_path):
    """The points and the line in the matplotlib Axes are the rows and fit.predict, not a
    redrawing of them; the file's format follows its extension, the same bytes each time."""
    from mlkit import plots
    from mlkit.regression.plot import fit_figure, write_fit

    X, y, _ = synthetic(n=300, p=1)
    fit = fit_ridge(X, y, 0.5, ["x0"], "y")
    ax = fit_figure(fit, X, y).axes[0]
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), np.column_stack([X[:, 0], y]))
    line_x, line_y = ax.lines[0].get_xydata().T
    assert line_x.min() == X.min() and line_x.max() == X.max()
    np.testing.assert_allclose(line_y, fit.coef[0] * line_x + fit.intercept, rtol=1e-12, atol=1e-12)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x0", "y")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["data", "fit"]
    plots.pyplot().close(ax.figure)

    X, y, _ = synthetic(n=300, p=3)
    fit = fit_ridge(X, y, 0.5, ["a", "b", "c"], "y")
    ax = fit_figure(fit, X, y).axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.column_stack([X @ fit.coef + fit.intercept, y]), rtol=1e-12)
    ends = ax.lines[0].get_xydata()
    np.testing.assert_array_equal(ends[:, 0], ends[:, 1])  # the identity line
    plots.pyplot().close(ax.figure)
    for name in ("a.pdf", "b.pdf"):
        write_fit(fit, X, y, tmp_path / name)
    assert (tmp_path / "a.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()


def test_a_plot_named_other_than_png_svg_pdf_is_refused_before_the_fit(tmp_path):
    X, y, _ = synthetic(n=50, p=2)
    proc = run_mlkit("regress", write_csv(tmp_path / "d.csv", X, y), "--plot", tmp_path / "fit.jpg")
    assert proc.returncode == 2 and proc.stdout == b""  # no result printed: refused before fitting
    assert "PNG, SVG or PDF" in proc.stderr.decode() and not (tmp_path / "fit.jpg").exists()


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
    assert lines[0].startswith(f"mlkit regress: error: {path}: ") and lines[0].count("bad.csv") == 1, lines  # the file, once


def test_dropna_skips_bad_rows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n2,\n3,4\nnan,1\n4,6\n")
    proc = run_mlkit("regress", path, "--dropna", "--format", "json")
    assert proc.returncode == 0 and b"skipped 2 rows" in proc.stderr
    assert one_result(proc.stdout)["n"] == 3


# --- issue 9 -------------------------------------------------------------------------------------------


def one_error(proc):
    lines = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and b"Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("mlkit regress: error: ") and proc.stdout == b""
    return lines[0]


def test_gd_on_unscaled_data_stops_as_soon_as_it_diverges(tmp_path):
    X, y, _ = synthetic(n=200, p=2, scales=[50, 50])  # the issue: --lr 0.01 --epochs 20 ended with coefficients near 1e18
    line = one_error(run_mlkit("regress", write_csv(tmp_path / "d.csv", X, y), "--method", "gd", "--lr", "0.01", "--epochs", "20"))
    assert "diverged" in line and "epoch 3" in line and "learning rate is too high" in line and "lower --lr (try 0.001)" in line
    with pytest.raises(MlkitError, match="rose 3 epochs in a row"):
        fit_gd(X, y, Schedule(lr=0.01, epochs=20), ["a", "b"], "y")


def test_the_gd_warning_says_too_high_only_when_the_loss_rises(tmp_path):
    X, y, _ = synthetic(n=200, p=2)
    path = write_csv(tmp_path / "d.csv", X, y)
    slow = run_mlkit("regress", path, "--method", "gd", "--lr", "0.001", "--epochs", "50", "--format", "json")
    assert slow.returncode == 0 and b"learning rate too low or too few epochs" in slow.stderr and b"too high" not in slow.stderr
    noisy = run_mlkit("regress", path, "--method", "sgd", "--lr", "0.2", "--batch-size", "1", "--epochs", "20", "--seed", "1",
                      "--format", "json")
    assert noisy.returncode == 0 and b"learning rate too high" in noisy.stderr and b"too low" not in noisy.stderr
    fit = fit_gd(X, y, Schedule(lr=0.2, epochs=20, batch_size=1, shuffle=True, seed=1), ["a", "b"], "y")
    losses = fit.details["loss_history"]
    assert any(b > a for a, b in zip(losses[10:], losses[11:]))  # the loss does go up and down
    assert disagreement(fit, X, y)[0] > 1e-3


@pytest.fixture
def sine_csv(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (300, 1))
    return write_csv(tmp_path / "sine.csv", x, np.sin(x[:, 0]), names=["x", "y"])


@pytest.mark.deep
def test_mlp_defaults_fit_a_sine_quietly(sine_csv, tmp_path):
    proc = run_mlkit("regress", sine_csv, "--method", "mlp", "--seed", "1", "--format", "json",
                     "--save", tmp_path / "m.json")  # a fixed seed: the test must not depend on the draw
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr  # no TensorFlow or absl lines
    result = one_result(proc.stdout)
    assert result["r2"] > 0.98 and result["alpha"] == 1e-4  # the CLI used to pass --alpha 1.0: r2 = 0.0001
    out = run_mlkit("regress", tmp_path / "m.json", "--predict", sine_csv, check=True).stdout.decode().splitlines()[1:]
    x, pred = np.array([line.split(",") for line in out], float).T
    y = np.sin(x)
    assert 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum() == pytest.approx(result["r2"], abs=1e-5)


def test_penalised_methods_keep_their_default_alpha(tmp_path):
    X, y, _ = synthetic(n=100, p=2)
    result = one_result(run_mlkit("regress", write_csv(tmp_path / "d.csv", X, y), "--method", "ridge", "--format", "json").stdout)
    assert result["alpha"] == 1.0
    np.testing.assert_allclose(list(result["coefficients"].values()), Ridge(alpha=1.0).fit(X, y).coef_, atol=1e-8)


@pytest.mark.parametrize("hidden", ["abc", "10,x", "0", "10,-2", ""])
def test_bad_hidden_is_a_usage_error(sine_csv, hidden):
    proc = run_mlkit("regress", sine_csv, "--method", "mlp", "--hidden", hidden)
    lines = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "--hidden" in lines[0]


def test_predict_passes_the_input_cells_through(tmp_path):
    X, y, _ = synthetic(n=100, p=2)
    write_csv(tmp_path / "d.csv", X, y, names=["a", "b", "y"])
    assert run_mlkit("regress", tmp_path / "d.csv", "--save", tmp_path / "m.json").returncode == 0
    cells = [["-0.38209", "1e-5"], ["3.50", "-0"], ["1E3", "+2.25"], ["0.1", "0.30000000000000004"]]
    (tmp_path / "new.csv").write_text("a,b,y\n" + "".join(f"{a},{b},7\n" for a, b in cells) + "nan,1,2\n")
    proc = run_mlkit("regress", tmp_path / "m.json", "--predict", tmp_path / "new.csv", "--dropna")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == "a,b,prediction" and [line.rsplit(",", 1)[0].split(",") for line in lines[1:]] == cells
    theta = np.linalg.lstsq(np.column_stack([np.ones(100), X]), y, rcond=None)[0]
    expected = [theta[0] + theta[1] * float(a) + theta[2] * float(b) for a, b in cells]
    np.testing.assert_allclose([float(line.rsplit(",", 1)[1]) for line in lines[1:]], expected, rtol=1e-9)


def test_json_results_are_valid_json(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("a,y\n1,5\n2,5\n3,5\n")  # a constant target: r2 is undefined
    proc = run_mlkit("regress", path, "--format", "json")

    def refuse(token):
        raise AssertionError(f"{token} is not JSON")

    result = one_result(proc.stdout, parse_constant=refuse)
    assert proc.returncode == 0 and result["r2"] is None and result["intercept"] == pytest.approx(5)


def _saved(tmp_path, method="ridge"):
    """A model file as --save writes it (test_cli_save_predict_and_plot checks a real one): linear or a small MLP."""
    X, y, _ = synthetic(n=60, p=2)
    data = write_csv(tmp_path / "d.csv", X, y, names=["a", "b", "y"])
    if method == "mlp":
        network = {"x_mean": [0.0, 0.5], "x_std": [1.0, 2.0], "y_mean": 4.0, "y_std": 3.0, "layers": [
            {"W": [[1.0, -1.0, 0.5], [0.2, 0.3, -0.4]], "b": [0.1, 0.0, -0.1], "activation": "relu"},
            {"W": [[1.0], [2.0], [-1.0]], "b": [0.5], "activation": None},
        ]}
        model = {"format": "mlkit-regress-1", "method": "mlp", "x_cols": ["a", "b"], "y_col": "y", "coef": [], "intercept": 0.0,
                 "network": network}
    else:
        model = {"format": "mlkit-regress-1", "method": "ridge", "x_cols": ["a", "b"], "y_col": "y", "coef": [3.0, -2.0],
                 "intercept": 4.0, "network": None}
    (tmp_path / "m.json").write_text(json.dumps(model))
    return model, data


def _widen_last_layer(net):
    for row in net["layers"][-1]["W"]:
        row.append(0.0)
    net["layers"][-1]["b"].append(0.0)


def _edit(model, case):
    net = model.get("network")
    edits = {
        "no method": lambda: model.pop("method"),
        "unknown method": lambda: model.update(method="magic"),
        "nan coef": lambda: model.update(coef=[float("nan"), 1.0]),
        "short coef": lambda: model.update(coef=[1.0]),
        "text coef": lambda: model.update(coef=["1", 2.0]),
        "bool intercept": lambda: model.update(intercept=True),
        "no intercept": lambda: model.pop("intercept"),
        "x_cols not names": lambda: model.update(x_cols=[1, 2]),
        "x_cols repeated": lambda: model.update(x_cols=["a", "a"]),
        "zero x_std": lambda: net.update(x_std=[0.0, 1.0]),
        "negative y_std": lambda: net.update(y_std=-1.0),
        "nan weight": lambda: net["layers"][0]["W"][0].__setitem__(0, float("nan")),
        "layers do not chain": lambda: net["layers"][1].update(W=net["layers"][1]["W"][:-1]),
        "bad activation": lambda: net["layers"][0].update(activation="magic"),
        "two outputs": lambda: _widen_last_layer(net),
    }
    edits[case]()
    return model


LINEAR_CASES = ["no method", "unknown method", "nan coef", "short coef", "text coef", "bool intercept", "no intercept",
                "x_cols not names", "x_cols repeated"]
MLP_CASES = ["zero x_std", "negative y_std", "nan weight", "layers do not chain", "bad activation", "two outputs"]


@pytest.mark.parametrize("case", LINEAR_CASES + MLP_CASES)
def test_each_malformed_model_field_is_one_line(tmp_path, case):
    model, data = _saved(tmp_path, "mlp" if case in MLP_CASES else "ridge")
    (tmp_path / "bad.json").write_text(json.dumps(_edit(model, case)))
    line = one_error(run_mlkit("regress", tmp_path / "bad.json", "--predict", data))
    assert line.startswith(f"mlkit regress: error: {tmp_path / 'bad.json'}: ") and "KeyError" not in line and "np." not in line


@pytest.mark.parametrize("content", ["", "hello", "[" * 100_000 + "]" * 100_000, "[1, 2]", '{"format": "other"}'])
def test_files_that_are_no_model_are_one_line(tmp_path, content):
    (tmp_path / "bad.json").write_text(content)
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    line = one_error(run_mlkit("regress", tmp_path / "bad.json", "--predict", tmp_path / "d.csv"))
    assert f"{tmp_path / 'bad.json'}: " in line


@pytest.mark.parametrize("method", ["ridge", "mlp"])
def test_the_valid_models_load(tmp_path, method):
    from mlkit.regression.formats import load_model

    _saved(tmp_path, method)
    assert load_model(str(tmp_path / "m.json")).x_cols == ["a", "b"]


def test_a_valid_mlp_model_predicts_by_hand(tmp_path):
    from mlkit.regression.formats import load_model

    model, _ = _saved(tmp_path, "mlp")
    X = np.array([[1.0, 2.0], [-3.0, 0.5]])
    hidden = np.maximum(((X - [0.0, 0.5]) / [1.0, 2.0]) @ [[1.0, -1.0, 0.5], [0.2, 0.3, -0.4]] + [0.1, 0.0, -0.1], 0)
    expected = (hidden @ [1.0, 2.0, -1.0] + 0.5) * 3.0 + 4.0
    np.testing.assert_allclose(load_model(str(tmp_path / "m.json")).predict(X), expected, rtol=1e-12)
