"""stylize train / apply: the fast mode (Johnson et al.) with VGG19's architecture and seeded
random weights (the ImageNet file cannot be downloaded here), a tiny network (width 8, one
residual block), 32 px crops of scikit-image's photos, a few steps, CPU."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import tensorflow as tf  # noqa: F401  (a declared dependency: a missing one must fail, not skip)

from conftest import pipeline, run_mlkit
from mlkit.cli import cli
from mlkit.style import images as style_images
from mlkit.style import weights

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry")
TINY = ["--size", "32", "--width", "8", "--res-blocks", "1", "--batch-size", "2", "--lr", "0.01",
        "--content-layers", "relu2_2", "--style-layers", "relu1_1,relu2_1", "--device", "cpu", "--seed", "5",
        "--checkpoint-every", "4", "--sample-every", "4"]


def _invoke(*args, input=None):
    return CliRunner().invoke(cli, ["stylize", *map(str, args)], input=input)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The random-weight VGG19 file, a folder of six small photos (one gray), a style picture."""
    import cv2
    import skimage.data

    folder = tmp_path_factory.mktemp("fast")
    paths = {"weights": str(folder / weights.FILE), "photos": str(folder / "photos")}
    weights.write(paths["weights"], weights.random(0))
    os.makedirs(paths["photos"])
    for i, name in enumerate(PHOTOS):
        picture = cv2.resize(getattr(skimage.data, name)(), (48 + 4 * i, 40), interpolation=cv2.INTER_AREA)
        cv2.imwrite(os.path.join(paths["photos"], f"{name}.png"), picture[..., ::-1] if picture.ndim == 3 else picture)
    paths["style"] = str(folder / "style.png")
    cv2.imwrite(paths["style"], cv2.resize(skimage.data.coffee(), (48, 32), interpolation=cv2.INTER_AREA)[..., ::-1])
    return paths


def _train(files, run, *extra):
    return _invoke("train", files["style"], "--content-dir", files["photos"], "-c", run, "--weights", files["weights"],
                   *TINY, *extra)


@pytest.fixture(scope="module")
def straight(files, tmp_path_factory):
    """8 steps in one go, through the library (the trainer is kept for the forward pass)."""
    from mlkit.style import Settings, train

    run = str(tmp_path_factory.mktemp("straight") / "run")
    settings = Settings(size=32, content_layers=("relu2_2",), style_layers=("relu1_1", "relu2_1"))
    summary = train([files["photos"]], [files["style"]], run, settings, steps_total=8, batch_size=2, lr=0.01, width=8,
                    res_blocks=1, seed=5, weights=files["weights"], device="cpu", checkpoint_every=4, sample_every=4)
    return run, summary


def _metrics(run):
    return [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]


def _network_weights(run, checkpoint):
    import h5py

    with h5py.File(os.path.join(run, checkpoint, "network.weights.h5"), "r") as f:
        found = []
        f.visititems(lambda name, obj: found.append((name, np.asarray(obj))) if isinstance(obj, h5py.Dataset) else None)
    return found


def test_the_training_loss_falls(straight):
    run, summary = straight
    lines = _metrics(run)
    assert [r["step"] for r in lines] == list(range(1, 9)) and summary["step"] == 8
    for r in lines:
        assert set(r) == {"step", "loss", "content_loss", "style_loss", "tv_loss"}
        assert np.isclose(r["loss"], r["content_loss"] + r["style_loss"] + r["tv_loss"], rtol=1e-5)
    assert np.mean([r["loss"] for r in lines[-3:]]) < 0.5 * lines[0]["loss"]
    assert sorted(os.listdir(run)) == ["ckpt-00000004", "ckpt-00000008", "metrics.jsonl", "model.keras", "run.json", "samples"]
    assert sorted(os.listdir(os.path.join(run, "samples"))) == ["step-00000004.png", "step-00000008.png"]


def test_a_resumed_run_equals_a_straight_one(straight, files, tmp_path):
    run = str(tmp_path / "run")
    first = _train(files, run, "--steps", "5", "--logdir", tmp_path / "tb")  # TensorBoard changes nothing
    assert first.exit_code == 0, first.output
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(tmp_path / "tb"))
    resumed = _train(files, run, "--steps", "8")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.stderr and "at step 5" in resumed.stderr
    assert _metrics(run) == _metrics(straight[0])  # every loss term of every step, exactly
    ours, theirs = _network_weights(run, "ckpt-00000008"), _network_weights(straight[0], "ckpt-00000008")
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(ours, theirs))


def test_ctrl_c_checkpoints_the_steps_done_and_exits_130(files, tmp_path, monkeypatch):
    from mlkit.style import model

    step = model.Trainer.step

    def interrupted_at_3(self, batch):
        if self.steps_done() == 2:
            raise KeyboardInterrupt
        return step(self, batch)

    monkeypatch.setattr(model.Trainer, "step", interrupted_at_3)
    run = tmp_path / "run"
    result = _train(files, str(run), "--steps", "8")
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert sorted(os.listdir(run)) == ["ckpt-00000002", "metrics.jsonl", "model.keras", "run.json"]
    assert [r["step"] for r in _metrics(str(run))] == [1, 2]


def test_a_resume_refuses_another_network(straight, files, tmp_path):
    import shutil

    run = str(tmp_path / "copy")
    shutil.copytree(straight[0], run)
    result = _train(files, run, "--steps", "9", "--width", "16")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "was started with width=8, not 16" in result.stderr


def _picture(shape, seed=0):
    """A smooth random colour picture (uint8)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (4, 4, shape[2] if len(shape) == 3 else 1)).astype(np.float32)
    return np.rint(cv2.resize(small, shape[1::-1], interpolation=cv2.INTER_CUBIC).clip(0, 255)).reshape(shape).astype(np.uint8)


def _png(path, pixels):
    import cv2

    order = {3: [2, 1, 0], 4: [2, 1, 0, 3]}
    cv2.imwrite(str(path), pixels[..., order[pixels.shape[2]]] if pixels.ndim == 3 else pixels)
    return str(path)


def _read(path):
    from mlkit.io import read_image

    return read_image(str(path))


def _forward(net, pixels):
    """The network's forward pass in the training process: uint8 RGB of a picture whose sides
    are multiples of 4 (no padding)."""
    from mlkit.style.model import paint

    return style_images.to_uint8(paint(net, pixels.astype(np.float32)[None])[0])


def test_apply_of_the_saved_network_equals_the_training_forward_pass(straight, tmp_path):
    run, summary = straight
    pixels = _picture((36, 44, 3))
    out = tmp_path / "out.png"
    result = _invoke("apply", os.path.join(run, "model.keras"), _png(tmp_path / "in.png", pixels), "-o", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    img = _read(out)
    assert np.array_equal(img.data, _forward(summary["trainer"].net, pixels))
    assert img.history[-1]["command"] == "stylize apply"
    assert img.history[-1]["params"]["model"] == "model.keras" and img.history[-1]["params"]["preserve_colors"] is False


def test_apply_pads_odd_sizes_by_reflection_and_crops_back(straight, tmp_path):
    net = straight[1]["trainer"].net
    pixels = _picture((37, 23, 3), 1)
    out = tmp_path / "odd.png"
    assert _invoke("apply", straight[0], _png(tmp_path / "odd-in.png", pixels), "-o", out).exit_code == 0
    padded = np.pad(pixels, ((0, 3), (0, 1), (0, 0)), mode="reflect")  # to 40 x 24
    assert np.array_equal(_read(out).data, _forward(net, padded)[:37, :23])


def test_gray_pictures_come_out_in_colour_or_gray_with_preserve_colors(straight, tmp_path):
    gray = _picture((32, 40), 2)
    src = _png(tmp_path / "gray.png", gray)
    colour, kept = tmp_path / "colour.png", tmp_path / "kept.png"
    assert _invoke("apply", straight[0], src, "-o", colour).exit_code == 0
    assert _invoke("apply", straight[0], src, "--preserve-colors", "-o", kept).exit_code == 0
    painted = _forward(straight[1]["trainer"].net, np.repeat(gray[..., None], 3, axis=2))
    assert np.array_equal(_read(colour).data, painted)
    luminance = _read(kept).data
    assert luminance.shape == (32, 40) and luminance.dtype == np.uint8
    # The luminance of the unrounded output; the rounded colour picture's is within 1.
    assert np.abs(luminance.astype(float) - painted.astype(float) @ style_images.YUV[0]).max() <= 1.0


def test_rgba_keeps_its_alpha(straight, tmp_path):
    rgba = _picture((28, 32, 4), 3)
    out = tmp_path / "rgba-out.png"
    assert _invoke("apply", straight[0], _png(tmp_path / "rgba.png", rgba), "-o", out).exit_code == 0
    img = _read(out)
    assert img.data.shape == (28, 32, 4) and np.array_equal(img.data[..., 3], rgba[..., 3])
    assert np.array_equal(img.data[..., :3], _forward(straight[1]["trainer"].net, rgba[..., :3]))


def test_a_folder_keeps_names_and_history(straight, files, tmp_path):
    out = tmp_path / "painted"
    result = _invoke("apply", straight[0], files["photos"], "-o", f"{out}/")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out)) == sorted(f"{name}.png" for name in PHOTOS)
    for name in PHOTOS:
        source, painted = _read(os.path.join(files["photos"], f"{name}.png")), _read(out / f"{name}.png")
        assert painted.data.shape == source.data.shape[:2] + (3,) and painted.name == name


def test_a_pipe_through_real_processes(straight, files, tmp_path):
    from mlkit.io.read import read_images

    model = os.path.join(straight[0], "model.keras")
    codes, out, errs = pipeline(["sample", "face"], ["stylize", "apply", model, "-", "--device", "cpu", "-o", "-"],
                                ["transform", "flip", "--axis", "1", "-", "-o", "-"])
    assert codes == [0, 0, 0], errs
    (img,) = list(read_images("-", stdin=io.BytesIO(out)))
    assert [e["command"] for e in img.history][-2:] == ["stylize apply", "transform flip"]
    assert img.name == "face" and img.data.dtype == np.uint8 and img.data.shape == (256, 256, 3)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"not a zip"), "not a Keras model file"),
    (lambda p: None, "no such model file"),
])
def test_a_bad_network_is_one_line(straight, files, tmp_path, make, message):
    model = tmp_path / "bad.keras"
    make(model)
    out = tmp_path / "out"
    result = _invoke("apply", model, files["photos"], "-o", f"{out}/")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_many_inputs_to_one_file_is_a_usage_error_before_the_network_loads(files, tmp_path):
    result = _invoke("apply", tmp_path / "missing.keras", files["photos"], "-o", tmp_path / "one.png")
    assert result.exit_code == 2 and "6 inputs but -o names one file" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "one.png").exists()


def test_a_network_of_another_kind_is_refused(straight, tmp_path):
    from mlkit.deep.models import save_model
    from mlkit.deep.runtime import import_tf

    _, keras = import_tf()
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    save_model(other, str(tmp_path / "dense.keras"))
    result = _invoke("apply", tmp_path / "dense.keras", _png(tmp_path / "x.png", _picture((8, 8, 3))), "-o", tmp_path / "o.png")
    assert result.exit_code == 1 and "not a network made by mlkit stylize train" in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_a_truncated_picture_is_one_line_and_the_others_are_painted(straight, tmp_path):
    good = _png(tmp_path / "good.png", _picture((16, 16, 3)))
    bad = tmp_path / "bad.png"
    bad.write_bytes(open(good, "rb").read()[:60])
    out = tmp_path / "out"
    result = _invoke("apply", straight[0], good, bad, "-o", f"{out}/")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and os.listdir(out) == ["good.png"]
    assert lines[0].startswith("mlkit stylize apply: error:") and "bad.png" in lines[0] and len(lines) == 2


def test_training_on_no_photos_is_one_line(files, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _invoke("train", files["style"], "--content-dir", empty, "-c", tmp_path / "run", "--weights", files["weights"])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "no images found" in result.stderr
    result = _train(files, str(tmp_path / "run2"), "--batch-size", "7")
    assert result.exit_code == 1 and "6 photos" in result.stderr and "fewer than --batch-size 7" in result.stderr


def test_the_old_spelling_and_optimize_are_the_same_command(files, tmp_path):
    for spelling in ([], ["optimize"]):
        result = _invoke(*spelling, files["style"], "-s", files["style"], "--style-blend", "1,2", "-o", tmp_path / "o.png")
        assert result.exit_code == 2 and "--style-blend has 2 weights for 1 style(s)" in result.stderr
        assert result.stderr.startswith("mlkit stylize: error:" if not spelling else "mlkit stylize optimize: error:")


@pytest.mark.parametrize("args", [["stylize", "--help"], ["stylize", "train", "--help"], ["stylize", "apply", "--help"],
                                  ["stylize", "face.jpg", "--help"]])
def test_help_imports_nothing_heavy(args):
    code = ("import sys\nfrom mlkit.cli import cli\n"
            f"try:\n    cli.main({args!r}, prog_name='mlkit')\nexcept SystemExit as exc:\n    code = exc.code\n"
            "print(code, sorted(m for m in ('numpy', 'tensorflow', 'keras', 'cv2', 'nibabel') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "0 []", proc.stderr


def test_completion_offers_the_modes_and_the_optimize_options():
    env = dict(os.environ, _MLKIT_COMPLETE="bash_complete", COMP_WORDS="mlkit stylize ", COMP_CWORD="2")
    words = run_mlkit(env=env).stdout.decode()
    assert all(w in words for w in ("train", "apply", "optimize"))
    env.update(COMP_WORDS="mlkit stylize face.jpg --gram", COMP_CWORD="3")
    assert "--gram-norm" in run_mlkit(env=env).stdout.decode()


def test_two_mirrored_replicas_train_as_one_device(straight, files, tmp_path):
    """The GPU code path (a MirroredStrategy, each replica half the batch, the gradients
    summed) on two logical CPUs, in a fresh process (logical devices are set before TensorFlow
    starts): the same losses as one device, up to float rounding of the summed gradients."""
    run = str(tmp_path / "mirrored")
    code = (
        "from mlkit.style import Settings, train\n"
        "s = Settings(size=32, content_layers=('relu2_2',), style_layers=('relu1_1', 'relu2_1'))\n"
        f"r = train([{files['photos']!r}], [{files['style']!r}], {run!r}, s, steps_total=3, batch_size=2, lr=0.01,"
        f" width=8, res_blocks=1, seed=5, weights={files['weights']!r}, device='cpu', cpu_replicas=2)\n"
        "print(r['device'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "2 replica(s)" in proc.stdout, proc.stderr[-2000:]
    for ours, theirs in zip(_metrics(run), _metrics(straight[0])[:3]):
        for key in ("loss", "content_loss", "style_loss", "tv_loss"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4), (ours["step"], key)
