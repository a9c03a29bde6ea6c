"""regress --method mlp on mlkit.deep: checkpoints and resume, metrics.jsonl, the .keras model
file, refused run folders, a loud stop on a non-finite loss. In-process and tiny, on CPU (the
real-process quiet start is test_regress.py::test_mlp_defaults_fit_a_sine_quietly)."""

import json
import os
import zipfile

import numpy as np
import pytest

from mlkit.errors import MlkitError
from mlkit.regression.linear import Schedule



@pytest.fixture(scope="module")
def sine():
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (64, 2))
    return x, np.sin(x[:, 0]) + 0.5 * x[:, 1]


@pytest.fixture
def data(sine, tmp_path):
    """The same rows as a CSV, for the CLI."""
    X, y = sine
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n" + "".join(f"{float(a)!r},{float(b)!r},{float(t)!r}\n" for (a, b), t in zip(X, y)))
    return path


def _fit(sine, epochs, folder=None, every=3, seed=4):
    from mlkit.regression.train import fit_mlp

    X, y = sine
    schedule = Schedule(lr=0.02, epochs=epochs, batch_size=16, shuffle=True, optimizer="adam", seed=seed)
    return fit_mlp(X, y, ["a", "b"], "y", (6, 4), "tanh", "l2", 1e-4, schedule, "cpu",
                   str(folder) if folder else None, every)


def _weights(fit):
    return fit.model.get_weights()


def _steps(folder):
    return [json.loads(line)["step"] for line in open(folder / "metrics.jsonl")]


def test_checkpoint_then_resume_continues_exactly(sine, tmp_path):
    straight = _fit(sine, 10)
    stopped = _fit(sine, 6, tmp_path / "run")
    assert sorted(os.listdir(tmp_path / "run")) == ["ckpt-00000003", "ckpt-00000006", "metrics.jsonl", "run.json"]
    assert stopped.details["epochs_run"] == 6

    again = _fit(sine, 6, tmp_path / "run")  # nothing left to do: the checkpointed weights come back
    assert again.details["epochs_run"] == 6
    for a, b in zip(_weights(stopped), _weights(again)):
        np.testing.assert_array_equal(a, b)

    resumed = _fit(sine, 10, tmp_path / "run")  # a longer run in the same folder continues at epoch 7
    assert resumed.details["epochs_run"] == 10 and _steps(tmp_path / "run") == list(range(1, 11))
    for a, b in zip(_weights(straight), _weights(resumed)):  # same weights, optimizer state and data order
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert resumed.details["final_loss"] == pytest.approx(straight.details["final_loss"], rel=1e-5)


def test_metrics_lines_are_the_epoch_losses(sine, tmp_path):
    fit = _fit(sine, 4, tmp_path / "m", every=50)
    lines = [json.loads(line) for line in open(tmp_path / "m" / "metrics.jsonl")]
    assert [set(r) for r in lines] == [{"step", "loss"}] * 4 and [r["step"] for r in lines] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) for r in lines)
    assert lines[-1]["loss"] == pytest.approx(fit.details["final_loss"], rel=1e-6)
    assert sorted(os.listdir(tmp_path / "m"))[:1] == ["ckpt-00000004"]  # the end is checkpointed too


def test_keras_model_round_trip_predicts_the_same(sine, tmp_path):
    from mlkit.regression.formats import load_model, save_model

    fit = _fit(sine, 5)
    path = str(tmp_path / "m.keras")
    save_model(fit, path)
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json").decode()
    assert '"Normalization"' in config and '"Rescaling"' in config and "Lambda" not in config
    loaded = load_model(path)
    assert (loaded.x_cols, loaded.y_col) == (["a", "b"], "y")
    X = np.random.default_rng(1).uniform(-3, 3, (20, 2))
    np.testing.assert_allclose(loaded.predict(X), fit.predict(X), rtol=1e-12)
    keras_in_memory = fit.model(X.astype(np.float32)).numpy()[:, 0]
    np.testing.assert_array_equal(loaded.model(X.astype(np.float32)).numpy()[:, 0], keras_in_memory)
    np.testing.assert_allclose(fit.predict(X), keras_in_memory, rtol=1e-4, atol=1e-5)  # numpy forward == Keras (float32)


def test_plot_weights_draws_each_layers_matrix_on_one_scale(sine, data, tmp_path, invoke):
    """--plot-weights: one heat map per Dense kernel, its cells the kernel's values, one colour
    scale symmetric about zero for all of them, and a colour bar beside them."""
    from mlkit.regression.plot import weights_figure

    fit = _fit(sine, 3)
    kernels = [np.asarray(layer["W"]) for layer in fit.details["network"]["layers"]]
    assert [k.shape for k in kernels] == [(2, 6), (6, 4), (4, 1)]
    fig = weights_figure(fit.details["network"]["layers"], fit.x_cols)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    scale = max(np.abs(k).max() for k in kernels)
    for image, kernel in zip(images, kernels, strict=True):
        np.testing.assert_array_equal(image.get_array(), kernel)
        assert image.get_clim() == (-scale, scale)
    assert len(fig.axes) == len(kernels) + 1 and fig.axes[-1].get_ylabel() == "weight"  # the colour bar
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]
    result = invoke("regress", data, "--method", "mlp", "--hidden", "3", "--epochs", "2", "--seed", "1",
                    "--device", "cpu", "--plot-weights", tmp_path / "w.pdf")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w.pdf").read_bytes()[:5] == b"%PDF-"


def test_keras_model_predicts_through_the_cli(sine, tmp_path, invoke):
    from mlkit.regression.formats import save_model

    fit = _fit(sine, 3)
    save_model(fit, str(tmp_path / "m.keras"))
    X = sine[0][:5]
    (tmp_path / "new.csv").write_text("b,a\n" + "".join(f"{float(b)!r},{float(a)!r}\n" for a, b in X))
    result = invoke("regress", tmp_path / "m.keras", "--predict", tmp_path / "new.csv")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "a,b,prediction"
    np.testing.assert_allclose([float(line.split(",")[-1]) for line in lines[1:]], fit.predict(X), rtol=1e-12)


def test_foreign_and_incompatible_run_folders_are_one_line(data, tmp_path, invoke):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "me.jpg").write_bytes(b"x")
    common = ["regress", data, "--method", "mlp", "--epochs", "2", "--hidden", "4", "--seed", "1", "--checkpoint-dir"]
    assert invoke(*common, tmp_path / "run").exit_code == 0
    for folder, extra, words in [("photos", [], "holds other files"), ("run", ["--lr", "0.5"], "started with lr=0.01, not 0.5")]:
        result = invoke(*common, tmp_path / folder, *extra)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1 and words in lines[0], result.stderr
        assert lines[0].startswith(f"mlkit regress: error: {tmp_path / folder} ")


def test_a_damaged_metrics_file_is_refused_before_the_network_is_built(sine, tmp_path, monkeypatch):
    import mlkit.deep.runtime

    _fit(sine, 2, tmp_path / "run")
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "loss": NaN}\n')

    def no_network(*args, **kwargs):
        raise AssertionError("TensorFlow was started")

    monkeypatch.setattr(mlkit.deep.runtime, "Runtime", no_network)
    with pytest.raises(MlkitError, match=r"metrics.jsonl line 3: "):
        _fit(sine, 4, tmp_path / "run")


def test_resume_without_seed_takes_the_runs_seed(data, tmp_path, invoke):
    common = ["regress", data, "--method", "mlp", "--hidden", "4", "--checkpoint-dir", tmp_path / "run", "--format", "json"]
    first = json.loads(invoke(*common, "--epochs", "2").stdout)[0]
    second = json.loads(invoke(*common, "--epochs", "3").stdout)[0]
    assert second["seed"] == first["seed"] and second["epochs_run"] == 3


def test_ctrl_c_checkpoints_then_exits_130(data, tmp_path, invoke, monkeypatch):
    from mlkit.regression import model

    real = model.epochs

    def interrupted(*args):
        epoch, loss = real(*args)

        def stop_at_3(e):
            if e == 3:
                raise KeyboardInterrupt
            return epoch(e)

        return stop_at_3, loss

    monkeypatch.setattr(model, "epochs", interrupted)
    result = invoke("regress", data, "--method", "mlp", "--epochs", "9", "--hidden", "4", "--seed", "1",
                    "--checkpoint-dir", tmp_path / "run")
    assert result.exit_code == 130
    assert [n for n in os.listdir(tmp_path / "run") if n.startswith("ckpt-")] == ["ckpt-00000003"]


def test_a_non_finite_loss_stops_loudly(sine):
    from mlkit.regression.train import fit_mlp

    X, y = sine
    with pytest.raises(MlkitError, match="diverged at step"):
        fit_mlp(X, y * 1e30, ["a", "b"], "y", (4,), "relu", "l2", 1e-4, Schedule(lr=1e30, epochs=5, optimizer="sgd"), "cpu")


def test_the_gd_check_is_in_the_library(tmp_path, invoke):
    from mlkit.regression import Table, fit_gd, fit_table

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    y = X @ [3.0, -2.0] + 4
    slow = fit_gd(X, y, Schedule(lr=0.01, epochs=5), ["a", "b"], "y")
    assert len(slow.warnings) == 1 and "learning rate too low or too few epochs" in slow.warnings[0]
    np.testing.assert_allclose(slow.exact["coef"], [3.0, -2.0])
    assert slow.exact["relative"] > 1e-3
    good = fit_gd(X, y, Schedule(lr=0.1, epochs=500), ["a", "b"], "y")
    assert good.warnings == [] and good.exact is None

    path = tmp_path / "d.csv"  # the library call and the command give the same answer and warning
    path.write_text("a,b,y\n" + "".join(f"{float(a)!r},{float(b)!r},{float(t)!r}\n" for (a, b), t in zip(X, y)))
    fit = fit_table(Table(str(path)), "gd", lr=0.01, epochs=5)
    result = invoke("regress", path, "--method", "gd", "--lr", "0.01", "--epochs", "5", "--format", "json")
    [printed] = json.loads(result.stdout)
    assert result.stderr.strip() == f"mlkit regress: warning: {fit.warnings[0]}"
    assert list(printed["coefficients"].values()) == fit.coef.tolist() and printed["exact"]["intercept"] == fit.exact["intercept"]


def test_keras_files_that_are_no_regress_model_are_refused(tmp_path):
    from mlkit.deep.models import save_model as save_keras
    from mlkit.deep.runtime import import_tf
    from mlkit.regression.formats import keras_name, load_model

    keras = import_tf()[1]
    (tmp_path / "text.keras").write_text("not a model")
    save_keras(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), str(tmp_path / "plain.keras"))
    conv = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(1, 3), keras.layers.Flatten(), keras.layers.Dense(1)],
                            name=keras_name(["a", "b"], "y"))
    save_keras(conv, str(tmp_path / "conv.keras"))
    for name, words in [("text", "not a Keras model file"), ("plain", "not an mlkit regress model"), ("conv", "a Conv2D layer")]:
        path = str(tmp_path / f"{name}.keras")
        with pytest.raises(MlkitError, match=words) as caught:
            load_model(path)
        assert caught.value.message.count(path) == 1
