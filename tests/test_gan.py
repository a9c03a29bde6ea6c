"""train-gan and generate: a tiny DCGAN (16 px, a few steps) on CPU, in-process."""

import importlib.util
import io
import json
import os

import numpy as np
import pytest

from mlkit.errors import MlkitError

import tensorflow as tf  # noqa: E402  (a declared dependency: a missing one must fail, not skip)

TINY = ["--image-size", "16", "--gf-dim", "8", "--df-dim", "8", "--z-dim", "16", "--batch-size", "8",
        "--device", "cpu", "--seed", "4"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """40 of scikit-image's lfw_subset faces (25x25 gray) as PNG files."""
    import cv2
    import skimage.data

    folder = tmp_path_factory.mktemp("faces")
    for i, face in enumerate(skimage.data.lfw_subset()[:40]):
        cv2.imwrite(str(folder / f"face{i:02d}.png"), np.rint(face * 255).astype(np.uint8))
    return str(folder)


def _train(invoke, data, run, *extra):
    return invoke("train-gan", data, "-c", run, *TINY, "--checkpoint-every", "5", "--sample-every", "6", *extra)


def _metrics(run):
    return [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]


@pytest.fixture(scope="module")
def straight(faces, tmp_path_factory):
    """A 12-step run straight through: checkpoints at 5, 10 and 12."""
    from click.testing import CliRunner

    from mlkit.cli import cli

    run = str(tmp_path_factory.mktemp("runs") / "straight")
    result = CliRunner().invoke(cli, ["train-gan", faces, "-c", run, *TINY, "--checkpoint-every", "5",
                                      "--sample-every", "6", "--steps", "12", "--format", "json"])
    assert result.exit_code == 0, result.output
    return run, json.loads(result.stdout)[0]


def _weights(run, checkpoint):
    from mlkit.deep.checkpoint import RunDir
    from mlkit.gan.model import Gan

    config = RunDir(run, "gan", {}).config
    gan = Gan(config, tf.distribute.get_strategy())
    RunDir(run, "gan", {}).restore(gan.objects(), os.path.join(run, checkpoint))
    return gan


def test_training_writes_checkpoints_metrics_and_sample_grids(straight):
    from mlkit.io.read import read_image

    run, summary = straight
    assert summary["step"] == 12 and summary["images"] == 40
    assert sorted(n for n in os.listdir(run) if n.startswith("ckpt-")) == ["ckpt-00000005", "ckpt-00000010", "ckpt-00000012"]
    lines = _metrics(run)
    assert [r["step"] for r in lines] == list(range(1, 13))
    for r in lines:
        assert set(r) == {"step", "d_loss", "g_loss", "d_real", "d_fake"}
        assert all(np.isfinite(v) for v in r.values()) and 0 < r["d_real"] < 1 and 0 < r["d_fake"] < 1
    assert sorted(os.listdir(os.path.join(run, "samples"))) == ["step-00000006.png", "step-00000012.png"]
    grid = read_image(os.path.join(run, "samples", "step-00000012.png"))
    assert grid.data.shape == (142, 142) and grid.data.dtype == np.uint8  # 8x8 samples of 16x16, gray, 2 px apart
    assert (grid.data[16:18] == 128).all() and (grid.data[:, 16:18] == 128).all()
    with open(os.path.join(run, "losses.png"), "rb") as curve:
        assert curve.read(8) == b"\x89PNG\r\n\x1a\n"
    config = json.load(open(os.path.join(run, "run.json")))["config"]
    assert config["seed"] == 4 and config["channels"] == 1 and config["lr"] == 0.0002 and config["g_steps"] == 2


def test_the_model_is_the_tutorials_dcgan():
    from mlkit.gan.model import discriminator, generator

    g, d = generator(32, 3, z_dim=100, gf_dim=64), discriminator(32, 3, df_dim=64)
    shapes = [layer.output.shape[1:] for layer in g.layers if "conv2d_transpose" in layer.name]
    assert [tuple(s) for s in shapes] == [(8, 8, 128), (16, 16, 64), (32, 32, 3)]
    assert g.layers[0].output.shape[1:] == (4 * 4 * 256,) and g.layers[-1].activation.__name__ == "tanh"
    convs = [layer for layer in d.layers if layer.name.startswith("conv2d")]
    assert [c.filters for c in convs] == [64, 128, 256, 512] and all(c.kernel_size == (5, 5) for c in convs)
    assert sum("batch_normalization" in layer.name for layer in d.layers) == 3  # none after the first
    assert d.layers[-1].units == 1
    z = np.random.default_rng(0).uniform(-1, 1, (2, 100)).astype(np.float32)
    out = g(z, training=False).numpy()
    assert out.shape == (2, 32, 32, 3) and np.abs(out).max() <= 1


@pytest.mark.parametrize("size", [8, 16, 32])
def test_the_fast_discriminator_equals_keras_with_its_gradients(size):
    """logits_of takes the last convolutions as products where their output is one pixel
    (8 px: the last two; 16 px: the last; 32 px: none): logits and every weight's gradient equal
    Keras's own convolution on the same weights."""
    from mlkit.gan.model import discriminator, logits_of

    d = discriminator(size, 3, df_dim=8)
    x = tf.random.stateless_uniform((6, size, size, 3), seed=(1, size), minval=-1, maxval=1)
    for training in (True, False):
        with tf.GradientTape(persistent=True) as tape:
            ours, keras_own = logits_of(d, x, training), d(x, training=training)
        np.testing.assert_allclose(ours.numpy(), keras_own.numpy(), rtol=1e-5, atol=1e-5)
        for a, b in zip(tape.gradient(ours, d.trainable_variables), tape.gradient(keras_own, d.trainable_variables)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_resume_continues_the_step_counter_with_the_checkpointed_state(faces, straight, invoke, tmp_path):
    run_a, _ = straight
    run_b = str(tmp_path / "b")
    assert _train(invoke, faces, run_b, "--steps", "7").exit_code == 0
    at_seven = [w.copy() for w in _weights(run_b, "ckpt-00000007").g.get_weights()]
    resumed = _train(invoke, faces, run_b, "--steps", "12")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.stderr and "at step 7" in resumed.stderr
    assert [r["step"] for r in _metrics(run_b)] == list(range(1, 13))
    # No re-initialisation: what training continued from is the checkpoint (step 8's losses
    # equal the straight run's), and the end state equals the straight run's.
    for a, b in zip(_metrics(run_a), _metrics(run_b)):
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (a["step"], key)
    straight_g = _weights(run_a, "ckpt-00000012").g.get_weights()
    for a, b in zip(straight_g, _weights(run_b, "ckpt-00000012").g.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert any(not np.array_equal(a, b) for a, b in zip(at_seven, straight_g))


def test_a_resume_keeps_the_stored_rule_and_takes_new_rates(faces, invoke, tmp_path, monkeypatch):
    """--lr given on resume is the rate the optimizers use (not the checkpoint's); what the
    command line leaves unset comes from run.json, and a run stored before label smoothing and
    --d-lr existed keeps the tutorials' rule (target 1, d_lr = lr)."""
    from mlkit.deep.checkpoint import RunDir

    run = str(tmp_path / "old")
    assert _train(invoke, faces, run, "--steps", "5").exit_code == 0
    stored = json.load(open(os.path.join(run, "run.json")))
    for key in ("label_smoothing", "d_lr"):
        del stored["config"][key]  # as a run.json written before these settings existed
    with open(os.path.join(run, "run.json"), "w") as f:
        json.dump(stored, f)
    seen = []
    real_restore = RunDir.restore
    monkeypatch.setattr(RunDir, "restore", lambda self, *a: seen.append(dict(self.config)) or real_restore(self, *a))
    assert _train(invoke, faces, run, "--steps", "7", "--lr", "0.0004").exit_code == 0
    assert "label_smoothing" not in seen[-1] and "d_lr" not in seen[-1] and seen[-1]["lr"] == 0.0004
    gan = _weights(run, "ckpt-00000007")  # the optimizer state saved by the resumed run
    assert np.isclose(float(gan.g_opt.learning_rate), 0.0004) and np.isclose(float(gan.d_opt.learning_rate), 0.0004)
    new = str(tmp_path / "new")
    assert _train(invoke, faces, new, "--steps", "5", "--label-smoothing", "0.2").exit_code == 0
    assert _train(invoke, faces, new, "--steps", "6").exit_code == 0
    assert seen[-1]["label_smoothing"] == 0.2 and seen[-1]["d_lr"] is None
    assert np.isclose(float(_weights(new, "ckpt-00000006").d_opt.learning_rate), 0.0001)  # half of --lr


@pytest.mark.parametrize("lands", ["before the update", "after the update"])
def test_ctrl_c_checkpoints_then_exits_130(faces, invoke, tmp_path, monkeypatch, lands):
    from mlkit.gan.model import Gan

    train_step = Gan.train_step

    def interrupted(self, batch, step):
        if step == 4 and lands == "before the update":
            raise KeyboardInterrupt
        record = train_step(self, batch, step)
        if step == 4:
            raise KeyboardInterrupt  # as when Ctrl-C arrives while the compiled step runs
        return record

    monkeypatch.setattr(Gan, "train_step", interrupted)
    run = str(tmp_path / "c")
    result = _train(invoke, faces, run, "--steps", "50")
    expected = 3 if lands == "before the update" else 4  # the checkpoint is named after the steps its weights saw
    lines = result.stderr.splitlines()
    assert result.exit_code == 130 and len(lines) == 1, result.stderr
    assert f"interrupted; {run}/ckpt-{expected:08d} holds step {expected} (resume: mlkit " in lines[0]
    assert sorted(n for n in os.listdir(run) if n.startswith("ckpt-")) == [f"ckpt-{expected:08d}"]
    assert json.load(open(os.path.join(run, f"ckpt-{expected:08d}", "state.json")))["step"] == expected


def test_the_same_command_without_seed_resumes_with_the_runs_drawn_seed(faces, invoke, tmp_path):
    run = tmp_path / "drawn"
    args = ["train-gan", faces, "-c", run, *TINY[:-2], "--sample-every", "50", "--format", "json"]
    assert invoke(*args, "--steps", "2").exit_code == 0
    seed = json.load(open(run / "run.json"))["config"]["seed"]
    again = invoke(*args, "--steps", "3")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)[0]["started_at"] == 2 and json.load(open(run / "run.json"))["config"]["seed"] == seed


def test_the_summary_goes_to_stderr_and_quiet_silences_it(faces, tmp_path):
    from conftest import run_mlkit

    args = ["train-gan", faces, *TINY, "--steps", "1", "--sample-every", "50"]
    told = run_mlkit(*args, "-c", tmp_path / "a")
    assert told.returncode == 0 and told.stdout == b"", told.stderr
    assert told.stderr.decode().startswith("mlkit train-gan: trained to step 1 (")
    quiet = run_mlkit("-q", *args, "-c", tmp_path / "b")
    assert quiet.returncode == 0 and quiet.stdout == b"" and quiet.stderr == b""


def test_mri_slices_of_nibabel_volumes(nib_data, invoke, tmp_path):
    import nibabel as nib

    anatomical = os.path.join(nib_data, "anatomical.nii")
    volume = np.asanyarray(nib.load(anatomical).dataobj)
    slices = sum(np.ptp(volume[:, :, k]) > 0 for k in range(volume.shape[2]))
    run = str(tmp_path / "mri")
    logdir = ["--logdir", tmp_path / "tb"]
    result = invoke("train-gan", anatomical, "-c", run, *TINY[:-2], "--seed", "9", "--steps", "3", "--batch-size", "4",
                    *logdir, "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)[0]
    assert summary["images"] == slices and summary["step"] == 3
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in _metrics(run))
    assert os.listdir(os.path.join(run, "samples")) == ["step-00000003.png"]  # the last step's grid
    tags = set()
    for event_file in os.listdir(tmp_path / "tb"):
        for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "tb" / event_file)):
            tags |= {value.tag for value in event.summary.value}
    assert {"d_loss", "g_loss", "d_real", "d_fake", "samples", "z", "d_fake_outputs"} <= tags


def test_logdir_without_tensorboard_is_one_clear_error(faces, invoke, tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real_find_spec(name, *a))
    result = invoke("train-gan", faces, "-c", tmp_path / "r", *TINY, "--steps", "2", "--logdir", tmp_path / "tb")
    _one_error(result, 1, "--logdir needs the tensorboard package")
    assert not (tmp_path / "r").exists()


def test_generate_grids_folders_streams_and_walks(straight, invoke, tmp_path):
    from mlkit.io.read import read_image, read_images

    run, _ = straight
    for name, seed in [("a.png", 3), ("b.png", 3), ("c.png", 4)]:
        result = invoke("generate", "-c", run, "--grid", "2x3", "--seed", seed, "--device", "cpu", "-o", tmp_path / name)
        assert result.exit_code == 0, result.output
    a, b, c = (read_image(str(tmp_path / n)).data for n in ("a.png", "b.png", "c.png"))
    assert a.shape == (34, 52) and a.dtype == np.uint8  # 2x3 cells of 16 px, 2 px apart
    np.testing.assert_array_equal(a, b)  # same seed, same images
    assert not np.array_equal(a, c)
    assert invoke("generate", "-c", run, "--grid", "2x3", "--seed", 3, "--step", 10, "-o", tmp_path / "s10.png").exit_code == 0
    at_ten = read_image(str(tmp_path / "s10.png"))
    assert at_ten.history[0]["params"]["step"] == 10 and not np.array_equal(at_ten.data, a)

    assert invoke("generate", "-c", run, "-n", "5", "--seed", "3", "-o", f"{tmp_path}/each/").exit_code == 0
    files = sorted(os.listdir(tmp_path / "each"))
    assert files == [f"sample_{i:04d}.png" for i in range(1, 6)]
    first = read_image(str(tmp_path / "each" / files[0])).data
    np.testing.assert_array_equal(first, a[:16, :16])  # sample 1 of seed 3 is the grid's first cell
    assert read_image(str(tmp_path / "each" / files[0])).history[0]["command"] == "generate"

    streamed = invoke("generate", "-c", run, "-n", "2", "--seed", "3", "-o", "-")
    images = list(read_images("-", stdin=io.BytesIO(streamed.stdout_bytes)))
    assert len(images) == 2
    np.testing.assert_array_equal(np.squeeze(images[0].data), first)

    assert invoke("generate", "-c", run, "--interpolate", "3", "8", "-n", "4", "-o", tmp_path / "walk.png").exit_code == 0
    walk = read_image(str(tmp_path / "walk.png")).data
    assert walk.shape == (16, 4 * 16 + 3 * 2)
    np.testing.assert_array_equal(walk[:, :16], first[:16, :16])  # the walk starts at seed 3's first z


def test_generate_matches_the_library(straight, tmp_path):
    from mlkit.gan import generate
    from mlkit.gan.grid import latent, to_uint8
    from mlkit.gan.model import generator

    run, _ = straight
    gan = _weights(run, "ckpt-00000012")
    expected = to_uint8(gan.g(latent(5, 3, 16), training=False).numpy())
    images = generate(run, n=3, seed=5, device="cpu")
    np.testing.assert_array_equal(np.stack([img.data for img in images]), expected[..., 0])
    assert generator(16, 1, 16, 8).count_params() == gan.g.count_params()


def _one_error(result, code, words):
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and ": error: " in lines[0] and words in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_errors_are_one_line_and_write_nothing(faces, straight, invoke, tmp_path):
    run, _ = straight
    (tmp_path / "empty").mkdir()
    _one_error(invoke("train-gan", tmp_path / "empty", "-c", tmp_path / "r1", *TINY), 1, "no images found")
    _one_error(invoke("train-gan", faces, "-c", tmp_path / "r2", "--image-size", "24"), 2, "not a power of two")
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()

    _one_error(invoke("train-gan", faces, "-c", faces, *TINY, "--steps", "1"), 1, "holds other files")
    _one_error(invoke("train-gan", faces, "-c", run, *TINY[:-2], "--seed", "5", "--steps", "13"), 1, "started with seed=4, not 5")
    _one_error(invoke("train-gan", faces, "-c", run, *TINY, "--z-dim", "20", "--steps", "13"), 1, "started with z_dim=16")
    assert [r["step"] for r in _metrics(run)] == list(range(1, 13))  # refused runs left it alone

    _one_error(invoke("generate", "-c", tmp_path / "nowhere", "-o", tmp_path / "x.png", "--grid", "2x2"), 1,
               "no such checkpoint folder")
    _one_error(invoke("generate", "-c", faces, "-o", tmp_path / "x.png", "--grid", "2x2"), 1, "not an mlkit gan run")
    _one_error(invoke("generate", "-c", run, "-n", "5", "-o", tmp_path / "x.png"), 2, "give a folder")
    _one_error(invoke("generate", "-c", run, "--grid", "3by3", "-o", tmp_path / "x.png"), 2, "ROWSxCOLS")
    _one_error(invoke("generate", "-c", run, "--step", "7", "-o", tmp_path / "x.png", "--grid", "2x2"), 1,
               "no checkpoint at step 7 (kept: 5, 10, 12)")
    assert not (tmp_path / "x.png").exists()


def test_a_folder_of_other_files_is_named_before_its_files_are_read(faces, invoke, tmp_path):
    """A folder that is no run is said to be one, not blamed for a metrics.jsonl it never had from mlkit."""
    other = tmp_path / "notes"
    other.mkdir()
    (other / "metrics.jsonl").write_text("hello\n")
    _one_error(_train(invoke, faces, other, "--steps", "1"), 1, "holds other files, not an mlkit gan run")
    assert sorted(p.name for p in other.iterdir()) == ["metrics.jsonl"]


def test_a_corrupt_checkpoint_is_refused_clearly(faces, invoke, tmp_path):
    import shutil

    run = tmp_path / "broken"
    assert _train(invoke, faces, run, "--steps", "5").exit_code == 0
    weights = run / "ckpt-00000005" / "generator.weights.h5"
    weights.write_bytes(weights.read_bytes()[:200])
    _one_error(invoke("generate", "-c", run, "-o", tmp_path / "g.png", "--grid", "2x2"), 1, "damaged checkpoint")
    _one_error(_train(invoke, faces, run, "--steps", "6"), 1, "damaged checkpoint")
    assert not (tmp_path / "g.png").exists()

    other = tmp_path / "other"
    shutil.copytree(run, other)
    stored = json.loads((other / "run.json").read_text())
    stored["config"]["image_size"] = 12
    (other / "run.json").write_text(json.dumps(stored))
    _one_error(invoke("generate", "-c", other, "-o", tmp_path / "g.png", "--grid", "2x2"), 1, "damaged: image_size")


def test_damaged_run_files_are_refused_before_anything_is_written(faces, straight, invoke, tmp_path):
    """A resume reads metrics.jsonl and run.json before TensorFlow starts: a wrong value, deep
    nesting or NaN is one line naming the file (and the line), and every file stays as it was."""
    import shutil

    damages = {
        "metrics.jsonl": [(lambda t: t.replace('"d_loss": ', '"d_loss": "abc", "x": ', 1), "line 1: d_loss is not a number"),
                          (lambda t: t + '{"step": 13, "x": ' + "[" * 500 + "]" * 500 + "}\n", "line 13: JSON nested"),
                          (lambda t: t.replace("1", "NaN", 1), "line 1: not valid JSON")],
        "run.json": [(lambda t: t.replace('"lr": 0.0002', '"lr": NaN'), "run.json: not valid JSON (NaN")],
    }
    for name, cases in damages.items():
        for number, (damage, words) in enumerate(cases):
            run = tmp_path / f"{name}-{number}"
            shutil.copytree(straight[0], run)
            (run / name).write_text(damage((run / name).read_text()))
            before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
            _one_error(_train(invoke, faces, run, "--steps", "14"), 1, words)
            if name == "run.json":
                _one_error(invoke("generate", "-c", run, "--grid", "2x2", "-o", tmp_path / "g.png"), 1, words)
            assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_unreadable_images_are_skipped_with_a_warning(faces, invoke, tmp_path):
    import shutil

    folder = tmp_path / "mixed"
    shutil.copytree(faces, folder)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    result = invoke("train-gan", folder, "-c", tmp_path / "r", *TINY, "--steps", "1", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "broken.png: skipped" in result.stderr and json.loads(result.stdout)[0]["images"] == 40


def test_settings_are_checked_before_anything_runs():
    from mlkit.errors import UsageError
    from mlkit.gan import settings

    assert settings(image_size=16)["g_steps"] == 2
    for bad in [{"image_size": 12}, {"image_size": 4}, {"z_dim": 0}, {"lr": 2.0}, {"channels": 2}, {"d_lr": 0.0},
                {"label_smoothing": 0.5}, {"label_smoothing": -0.1}]:
        with pytest.raises(UsageError):
            settings(**bad)
    with pytest.raises(MlkitError):
        from mlkit.gan.formats import open_run

        open_run("/nonexistent/run")


def test_the_discriminator_learns_at_half_the_rate_unless_told():
    from mlkit.gan import settings
    from mlkit.gan.config import d_lr
    from mlkit.gan.model import Gan

    assert d_lr(settings(lr=0.0004)) == 0.0002 and d_lr(settings(d_lr=0.0003)) == 0.0003
    assert d_lr({"lr": 0.0002}) == 0.0002  # a run stored before --d-lr existed keeps its rate
    config = {**settings(image_size=16, gf_dim=8, df_dim=8, z_dim=16, lr=0.0004), "channels": 1, "seed": 1}
    gan = Gan(config, tf.distribute.get_strategy())
    assert np.isclose(float(gan.g_opt.learning_rate), 0.0004) and np.isclose(float(gan.d_opt.learning_rate), 0.0002)


TWO_REPLICAS = """
from mlkit.deep.runtime import import_tf
tf, keras = import_tf()
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from mlkit.deep.data import batches
from mlkit.gan.config import settings
from mlkit.gan.model import Gan
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
config = {**settings(image_size=16, batch_size=8, gf_dim=8, df_dim=8, z_dim=16), "channels": 1, "seed": 1}
gan = Gan(config, strategy)
images = np.random.default_rng(0).uniform(-1, 1, (32, 16, 16, 1)).astype("float32")
data = iter(strategy.experimental_distribute_dataset(batches(tf, images, 8, 1)))
for step in range(1, 4):
    print(json.dumps({**gan.train_step(next(data), step), "done": gan.steps_done()}))
"""


def test_the_step_runs_mirrored_over_two_replicas():
    """The several-GPU code path (MirroredStrategy), on two logical CPUs in a fresh process."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import json\n" + TWO_REPLICAS], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["done"] for r in records] == [1, 2, 3]
    assert all(np.isfinite(r["d_loss"]) and 0 < r["d_real"] < 1 for r in records)


BAD_BATCH_OVER_REPLICAS = """
import os, sys
from mlkit.errors import UsageError
from mlkit.gan import train
settings = dict(image_size=16, batch_size=7, gf_dim=8, df_dim=8, z_dim=16)
try:
    train([sys.argv[1]], sys.argv[2], settings, seed=1, steps_total=1, device="cpu", cpu_replicas=2)
except UsageError as exc:
    print(exc.message)
print(os.path.exists(sys.argv[2]))
"""


def test_a_batch_that_does_not_split_over_the_replicas_writes_no_run_folder(faces, tmp_path):
    """Two logical CPUs (the several-GPU code path) and an odd batch: refused before run.json."""
    import subprocess
    import sys

    run = str(tmp_path / "odd")
    proc = subprocess.run([sys.executable, "-c", BAD_BATCH_OVER_REPLICAS, faces, run],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["--batch-size 7 does not split over 2 replicas", "False"]


def test_grid_cells_are_two_pixels_apart():
    from mlkit.gan.grid import tile

    cells = np.arange(1, 6, dtype=np.uint8)[:, None, None, None] * np.ones((5, 3, 4, 1), np.uint8)
    canvas = tile(cells, 2, 3)[..., 0]
    assert canvas.shape == (2 * 3 + 2, 3 * 4 + 2 * 2)
    for i in range(6):
        r, k = divmod(i, 3)
        assert (canvas[r * 5 : r * 5 + 3, k * 6 : k * 6 + 4] == (i + 1 if i < 5 else 0)).all()  # the 6th is empty
    assert (canvas[3:5] == 128).all() and (canvas[:, 4:6] == 128).all() and (canvas[:, 10:12] == 128).all()


def _round_ticks(ticks):
    """Evenly spaced, at multiples of 1, 2, 2.5 or 5 times a power of ten."""
    spacing = np.diff(ticks)
    assert len(ticks) >= 3 and np.allclose(spacing, spacing[0])
    mantissa = spacing[0] / 10 ** np.floor(np.log10(spacing[0]))
    assert min(abs(mantissa - m) for m in (1, 2, 2.5, 5, 10)) < 1e-9, ticks
    np.testing.assert_allclose(ticks / spacing[0], np.round(ticks / spacing[0]), atol=1e-9)


def test_the_loss_curve_has_both_losses_and_ds_outputs_raw_and_smoothed(tmp_path):
    from mlkit.gan import curve

    rng = np.random.default_rng(0)
    steps = np.arange(1, 1234)
    records = {"d_loss": 1.3 + 0.2 * rng.standard_normal(len(steps)), "g_loss": 0.8 + 0.1 * rng.standard_normal(len(steps)),
               "d_real": rng.uniform(0.4, 0.7, len(steps)), "d_fake": rng.uniform(0.2, 0.5, len(steps))}
    with open(tmp_path / "metrics.jsonl", "w") as out:
        for i, step in enumerate(steps):
            out.write(json.dumps({"step": int(step), **{k: float(v[i]) for k, v in records.items()}}) + "\n")
    losses = curve.read_losses(tmp_path / "metrics.jsonl")
    fig = curve.draw(losses)
    fig.canvas.draw()
    window = 1233 // 50
    for ax, keys in zip(fig.axes, (("d_loss", "g_loss"), ("d_real", "d_fake"))):
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) == len(steps)]
        assert len(lines) == 4  # raw and smoothed of each
        for key, raw, smoothed in zip(keys, lines[0::2], lines[1::2]):
            np.testing.assert_allclose(raw.get_ydata(), records[key])
            means = np.convolve(records[key], np.ones(window) / window, mode="valid")  # full windows only
            np.testing.assert_allclose(smoothed.get_ydata()[window - 1 :], means, rtol=1e-12)
        lo, hi = ax.get_xlim()
        _round_ticks(np.array([t for t in ax.get_xticks() if lo <= t <= hi]))
        lo, hi = ax.get_ylim()
        _round_ticks(np.array([t for t in ax.get_yticks() if lo <= t <= hi]))
        assert ax.get_ylabel()
        legend = ax.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == [curve.LABELS[k] for k in keys]
        assert legend.get_window_extent().x0 >= ax.get_window_extent().x1  # beside the data, not on it
    assert fig.axes[1].get_xlabel() == "step"
    curve.write(tmp_path / "metrics.jsonl", tmp_path / "losses.svg")
    assert b"<svg" in (tmp_path / "losses.svg").read_bytes()[:400]
