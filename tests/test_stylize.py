"""stylize: Gatys style transfer on 64 px photos (scikit-image's astronaut, coffee, chelsea),
with VGG19's architecture and seeded random weights saved in Keras's legacy .h5 layout (the
ImageNet file cannot be downloaded here), a few iterations, CPU, in-process."""

import io
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

import tensorflow as tf  # noqa: F401  (a declared dependency: a missing one must fail, not skip)

from conftest import run_mlkit
from mlkit.cli import cli
from mlkit.errors import MlkitError, UsageError
from mlkit.style import Settings, stylize, weights
from mlkit.style import images as style_images


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The random-weight VGG19 file and three small photos as PNG files."""
    import cv2
    import skimage.data

    folder = tmp_path_factory.mktemp("stylize")
    paths = {"weights": str(folder / weights.FILE)}
    weights.write(paths["weights"], weights.random(0))
    for name, size in (("astronaut", (64, 64)), ("coffee", (96, 64)), ("chelsea", (90, 60))):
        picture = cv2.resize(getattr(skimage.data, name)(), size, interpolation=cv2.INTER_AREA)
        paths[name] = str(folder / f"{name}.png")
        cv2.imwrite(paths[name], picture[:, :, ::-1])  # OpenCV writes BGR
    return paths


SHALLOW = {"content_layers": ("block3_conv2",), "style_layers": ("block1_conv1", "block2_conv1", "block3_conv1")}


def _run(files, styles=("coffee",), content="astronaut", **knobs):
    extra = {k: knobs.pop(k) for k in ("log", "checkpoint_every", "checkpoint_dir") if k in knobs}
    settings = Settings(**{"size": 64, "iterations": 8, "stop_delta": 0.0, **knobs})
    return stylize(files[content], [files[s] for s in styles], settings, weights=files["weights"], seed=3,
                   device="cpu", **extra)


@pytest.fixture(scope="module")
def base(files, tmp_path_factory):
    """One run of 8 L-BFGS iterations from noise, logged, checkpointed every 4."""
    folder = tmp_path_factory.mktemp("base")
    log, checkpoints = str(folder / "log.jsonl"), str(folder / "checkpoints")
    result = _run(files, log=log, checkpoint_every=4, checkpoint_dir=checkpoints)
    return result, [json.loads(line) for line in open(log)], checkpoints


def _features(net, pixels, layer="block3_conv2"):
    x = style_images.to_vgg(np.asarray(pixels, np.float32))
    return net(x[None])[layer].numpy()[0]


def _astronaut(files):
    from mlkit.io import read_image

    return read_image(files["astronaut"]).data


def test_the_test_file_is_what_keras_applications_loads(files):
    from mlkit.deep.runtime import import_tf

    _, keras = import_tf()
    model = keras.applications.VGG19(include_top=False, weights=files["weights"], input_shape=(32, 32, 3))
    read = weights.read(files["weights"])
    expected = weights.random(0)
    for name in weights.LAYERS:
        kernel, bias = model.get_layer(name).get_weights()
        assert np.array_equal(kernel, expected[name][0]) and np.array_equal(read[name][0], kernel)
        assert np.array_equal(bias, read[name][1])


def test_the_loss_falls_and_the_best_picture_is_kept(base):
    result, lines, _ = base
    assert [r["iteration"] for r in lines] == list(range(1, 9))
    for r in lines:
        assert set(r) == {"iteration", "loss", "content_loss", "style_loss", "tv_loss", "seconds"}
        assert np.isclose(r["loss"], r["content_loss"] + r["style_loss"] + r["tv_loss"], rtol=1e-5)
    losses = [r["loss"] for r in lines]
    assert losses[-1] < 0.5 * losses[0] and losses == sorted(losses, reverse=True)  # L-BFGS never goes up
    assert result.summary["loss"] == min(losses) and result.summary["iterations"] == 8
    assert [r["seconds"] for r in lines] == sorted(r["seconds"] for r in lines)


def test_output_is_the_contents_size_in_uint8_rgb_with_history(base, files):
    img = base[0].image
    assert img.data.shape == (64, 64, 3) and img.data.dtype == np.uint8 and img.channels
    entry = img.history[-1]
    assert entry["command"] == "stylize" and entry["seed"] == 3
    assert entry["params"]["styles"] == [files["coffee"]] and entry["params"]["weights"] == weights.FILE
    assert entry["params"]["style_blend"] == [1.0] and entry["params"]["pooling"] == "max"


def test_checkpoints_are_written(base):
    from mlkit.io import read_image

    _, _, folder = base
    assert sorted(os.listdir(folder)) == ["iter-000004.png", "iter-000008.png"]
    last = read_image(os.path.join(folder, "iter-000008.png"))
    assert last.data.shape == (64, 64, 3) and np.array_equal(last.data, base[0].image.data)  # monotone: last = best


def test_a_higher_content_weight_stays_closer_to_the_content(files):
    from mlkit.style.model import vgg19

    net = vgg19(weights.read(files["weights"]), "max", ("block3_conv2",))
    target = _features(net, _astronaut(files))
    distances = []
    for weight in (0.5, 500.0):
        result = _run(files, content_weight=weight, iterations=6, **SHALLOW)
        distances.append(np.mean((_features(net, result.image.data) - target) ** 2))
    assert distances[1] < 0.5 * distances[0]


def test_two_styles_blended_1_0_equal_the_first_style_alone(base, files):
    blended = _run(files, styles=("coffee", "chelsea"), style_blend=(1, 0))
    assert np.array_equal(blended.image.data, base[0].image.data)
    assert blended.image.history[-1]["params"]["style_blend"] == [1.0, 0.0]


def test_a_75_25_blend_lies_between_the_two_styles(files):
    from mlkit.style.model import Objective, vgg19

    arrays = weights.read(files["weights"])
    net = vgg19(arrays, "max", ("block1_conv1", "block2_conv1"))
    picture = style_images.to_vgg(np.asarray(_astronaut(files), np.float32))
    coffee, chelsea = (style_images.to_vgg(style_images.rgb(_read(files[n]))[0]) for n in ("coffee", "chelsea"))
    layers, w = ("block1_conv1",), {"content": 0.0, "style": 1.0, "tv": 0.0}
    alone = [Objective(net, picture, [(s, 1.0)], layers, {"block2_conv1": 1.0}, w).evaluate(picture)[0]["style_loss"]
             for s in (coffee, chelsea)]
    both = Objective(net, picture, [(coffee, 0.75), (chelsea, 0.25)], layers, {"block2_conv1": 1.0}, w)
    assert np.isclose(both.evaluate(picture)[0]["style_loss"], 0.75 * alone[0] + 0.25 * alone[1], rtol=1e-5)


def _read(path):
    from mlkit.io import read_image

    return read_image(path)


def test_average_pooling_changes_the_network_not_its_weights_and_the_result(files):
    from mlkit.deep.runtime import import_tf
    from mlkit.style.model import vgg19

    _, keras = import_tf()
    arrays = weights.read(files["weights"])
    nets = {p: vgg19(arrays, p, ("block3_conv1",)) for p in ("max", "avg")}
    kinds = {p: [type(layer).__name__ for layer in net.layers if "pool" in layer.name] for p, net in nets.items()}
    assert kinds == {"max": ["MaxPooling2D"] * 2, "avg": ["AveragePooling2D"] * 2}
    for name in ("block1_conv1", "block3_conv1"):
        assert all(np.array_equal(a, b) for a, b in zip(nets["max"].get_layer(name).get_weights(),
                                                        nets["avg"].get_layer(name).get_weights()))
    # A hand-computed 2x2 average of block1_conv2's output is what the avg network's block2 sees.
    x = style_images.to_vgg(np.asarray(_astronaut(files), np.float32))[None]
    probe = keras.Model(nets["avg"].input, nets["avg"].get_layer("block1_pool").output)
    conv = keras.Model(nets["avg"].input, nets["avg"].get_layer("block1_conv2").output)(x).numpy()[0]
    assert np.allclose(probe(x).numpy()[0], conv.reshape(32, 2, 32, 2, -1).mean(axis=(1, 3)), rtol=1e-5, atol=1e-4)
    avg, plain = (_run(files, pooling=p, iterations=4, **SHALLOW) for p in ("avg", "max"))
    assert np.abs(avg.image.data.astype(int) - plain.image.data).mean() > 2
    assert avg.image.history[-1]["params"]["pooling"] == "avg"


def test_two_scales_go_coarse_to_fine(files, tmp_path):
    log, folder = str(tmp_path / "log.jsonl"), str(tmp_path / "ck")
    result = _run(files, content="coffee", styles=("chelsea",), scales=2, iterations=3, size=48, log=log, **SHALLOW,
                  checkpoint_every=3, checkpoint_dir=folder)
    assert result.image.data.shape == (32, 48, 3)  # coffee is 64 x 96: longest side 48
    assert [json.loads(line)["iteration"] for line in open(log)] == list(range(1, 7))
    shapes = [_read(os.path.join(folder, name)).data.shape for name in sorted(os.listdir(folder))]
    assert shapes == [(16, 24, 3), (32, 48, 3)]


def test_preserve_colors_keeps_the_contents_chroma(files):
    result = _run(files, iterations=3, preserve_colors=True, **SHALLOW)
    yuv = style_images.YUV
    out, content = result.image.data.astype(np.float32) @ yuv.T, _astronaut(files).astype(np.float32) @ yuv.T
    assert np.abs(out[..., 1:] - content[..., 1:]).mean() < 2.0  # only clipping and rounding differ
    assert np.abs(out[..., 0] - content[..., 0]).mean() > 10.0  # the luminance is the painted one


def test_adam_from_the_content_falls_too(files, tmp_path):
    log = str(tmp_path / "log.jsonl")
    _run(files, optimizer="adam", init="content", lr=5.0, iterations=6, log=log, **SHALLOW)
    lines = [json.loads(line) for line in open(log)]
    assert lines[0]["content_loss"] == 0.0 and lines[-1]["loss"] < lines[0]["loss"]


def test_stop_delta_stops_when_the_loss_flattens(files):
    result = _run(files, iterations=50, stop_delta=10.0, **SHALLOW)  # no 10 iterations divide the loss by 101
    assert result.summary["iterations"] == 11


def test_layer_weights_grow_by_the_exponent_and_sum_to_one():
    from mlkit.style.losses import layer_weights

    w = layer_weights(5, 2.0)
    assert np.allclose(w, np.array([1, 2, 4, 8, 16]) / 31) and np.isclose(w.sum(), 1.0)


def test_gram_matrix_matches_numpy():
    from mlkit.style.losses import gram

    rng = np.random.default_rng(0)
    f = rng.standard_normal((1, 5, 7, 4)).astype(np.float32)
    flat = f.reshape(-1, 4).astype(np.float64)
    assert np.allclose(gram(tf.constant(f)).numpy(), flat.T @ flat / f.size, rtol=1e-5)


def test_gram_norm_hw_divides_by_the_pixels_only():
    from mlkit.style.losses import gram

    rng = np.random.default_rng(1)
    f = rng.standard_normal((2, 5, 7, 4)).astype(np.float32)  # a batch: one Gram matrix per picture
    flat = f.reshape(2, -1, 4).astype(np.float64)
    expected = np.einsum("bpi,bpj->bij", flat, flat) / 35
    assert np.allclose(gram(tf.constant(f), "hw").numpy(), expected, rtol=1e-5)
    assert np.allclose(gram(tf.constant(f), "hwc").numpy(), expected / 4, rtol=1e-5)


def test_gram_norm_hw_multiplies_a_layers_style_term_by_c_squared(files):
    from mlkit.style.model import Objective, vgg19

    net = vgg19(weights.read(files["weights"]), "max", ("block1_conv1", "block2_conv1"))
    picture = style_images.to_vgg(np.asarray(_astronaut(files), np.float32))
    coffee = style_images.to_vgg(style_images.rgb(_read(files["coffee"]))[0])
    w = {"content": 0.0, "style": 1.0, "tv": 0.0}
    for layer, channels in (("block1_conv1", 64), ("block2_conv1", 128)):
        terms = [Objective(net, picture, [(coffee, 1.0)], ("block1_conv1",), {layer: 1.0}, w, gram_norm=norm)
                 .evaluate(picture)[0]["style_loss"] for norm in ("hwc", "hw")]
        assert np.isclose(terms[1], channels**2 * terms[0], rtol=1e-4)


def test_layer_names_take_both_spellings():
    from mlkit.style.settings import layer_names

    assert layer_names(["relu4_2", "block1_conv1", "conv5_1"], "x") == ("block4_conv2", "block1_conv1", "block5_conv1")
    with pytest.raises(UsageError, match="no VGG19 layer 'block6_conv1'"):
        layer_names(["block6_conv1"], "--style-layers")


def _invoke(*args, input=None):
    return CliRunner().invoke(cli, ["stylize", *map(str, args)], input=input)


def test_the_cli_writes_a_jpeg_at_the_size_asked(files, tmp_path):
    out = tmp_path / "out.jpg"
    result = _invoke(files["coffee"], "--style", files["astronaut"], "--size", "40", "--iterations", "2",
                     "--weights", files["weights"], "--seed", "1", "--device", "cpu", "-o", out)
    assert result.exit_code == 0, result.output
    img = _read(str(out))
    assert img.format == "jpeg" and img.data.shape == (27, 40, 3)
    assert "wrote" in result.stderr and "2 iterations" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--style-blend", "1,2,3"], "--style-blend has 3 weights for 1 style(s)"),
    (["--lr", "1"], "--lr applies to --optimizer adam"),
    (["--checkpoint-every", "5"], "--checkpoint-every and --checkpoint-dir go together"),
    (["--style-layers", "relu9_1"], "no VGG19 layer 'relu9_1'"),
    (["--size", "32", "--scales", "3"], "--scales 3 starts below 16 px"),
    (["-o", "out.txt"], "not a folder, and not a file type mlkit writes"),
])
def test_bad_options_are_usage_errors(files, tmp_path, args, message):
    result = _invoke(files["astronaut"], "-s", files["coffee"], "--weights", files["weights"],
                     *(["-o", str(tmp_path / "o.png")] if "-o" not in args else []), *args)
    assert result.exit_code == 2 and message in result.stderr
    assert result.stderr.count("error:") == 1 and not os.path.exists(tmp_path / "o.png")


def _bad_weights(path, kernel_shape):
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"block1_conv1"])
        group = f.create_group("block1_conv1")
        group.attrs["weight_names"] = np.array([b"k:0", b"b:0"])
        group.create_dataset("k:0", data=np.zeros(kernel_shape, np.float32))
        group.create_dataset("b:0", data=np.zeros(64, np.float32))


def test_wrong_weight_files_are_one_clear_line(files, tmp_path):
    wrong, junk, out = tmp_path / "wrong.h5", tmp_path / "junk.h5", tmp_path / "out.png"
    _bad_weights(wrong, (3, 3, 1, 64))  # a gray-input network
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(MlkitError, match=r"wrong.h5: not VGG19 weights: block1_conv1's kernel is 3x3x1x64, expected 3x3x3x64"):
        weights.read(str(wrong))
    with pytest.raises(MlkitError, match=r"layer block1_conv2"):
        _bad_weights(wrong, (3, 3, 3, 64))
        weights.read(str(wrong))
    result = _invoke(files["astronaut"], "-s", files["coffee"], "--weights", junk, "-o", out)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "junk.h5: not an HDF5 file" in result.stderr
    assert not out.exists()


def test_missing_weights_give_the_offline_message(files, tmp_path):
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "MLKIT_OFFLINE": "1"}
    env.pop("MLKIT_VGG19_WEIGHTS", None)
    out = tmp_path / "out.png"
    proc = run_mlkit("stylize", files["astronaut"], "-s", files["coffee"], "-o", out, env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    for part in (weights.FILE, "80 MB", str(tmp_path / "keras" / "models"), weights.URL, "--weights", "MLKIT_VGG19_WEIGHTS"):
        assert part in err
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing written, not even the cache folder


def test_a_2d_slice_from_a_pipe_comes_out_as_a_stream(files, tmp_path):
    from mlkit.io import Image, StreamWriter
    from mlkit.io.read import read_images

    stream = io.BytesIO()
    StreamWriter(stream).write(Image(data=_astronaut(files)[..., 1].astype(np.float32), affine=np.diag([0.5, 0.5, 1, 1])))
    env = {**os.environ, "MLKIT_VGG19_WEIGHTS": files["weights"]}
    proc = run_mlkit("stylize", "-", "-s", files["coffee"], "--size", "32", "--iterations", "2", "--seed", "2",
                     "--device", "cpu", "--preserve-colors", "--gram-norm", "hw", "-o", "-", stdin=stream.getvalue(), env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    (img,) = list(read_images("-", stdin=io.BytesIO(proc.stdout)))
    assert img.data.shape == (32, 32) and img.data.dtype == np.uint8  # gray in, colours kept: gray out
    assert np.allclose(img.voxel_sizes, (1.0, 1.0))  # 64 px of 0.5 mm -> 32 px of 1 mm
    assert img.history[-1]["params"]["preserve_colors"] is True and img.history[-1]["params"]["gram_norm"] == "hw"


def test_ctrl_c_writes_the_best_picture_so_far_and_exits_130(files, tmp_path, monkeypatch):
    from mlkit.style import optimize

    record = optimize.Recorder.record

    def interrupted_after_3(self, terms, image):
        if self.iteration == 3:
            raise KeyboardInterrupt
        record(self, terms, image)

    monkeypatch.setattr(optimize.Recorder, "record", interrupted_after_3)
    out = tmp_path / "out.png"
    result = _invoke(files["astronaut"], "-s", files["coffee"], "--size", "32", "--content-layers", "relu2_1",
                     "--style-layers", "relu1_1,relu2_1", "--weights", files["weights"], "--device", "cpu", "-o", out)
    lines = result.stderr.splitlines()
    assert result.exit_code == 130 and len(lines) == 1, result.stderr
    assert f"interrupted after 3 iterations; wrote the best picture so far to {out}" in lines[0]
    assert _read(str(out)).data.shape == (32, 32, 3)
