"""compress: tiny autoencoders on CPU, the .mlz container, and eval against a hand computation."""

import json
import os
import zipfile

import cv2
import nibabel as nib
import numpy as np
import pytest

from mlkit.errors import ImageFormatError, MlkitError



def _digits(folder, start, count):
    from sklearn.datasets import load_digits

    os.makedirs(folder, exist_ok=True)
    for i, image in enumerate(load_digits().images[start : start + count]):
        big = cv2.resize((image / 16 * 255).astype(np.float32), (16, 16), interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(os.path.join(folder, f"d{start + i:04d}.png"), np.clip(np.rint(big), 0, 255).astype(np.uint8))
    return str(folder)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    return {"train": _digits(root / "train", 0, 96), "test": _digits(root / "test", 500, 6), "root": root}


@pytest.fixture(scope="module")
def conv(sets):
    """A conv model trained for a few epochs through the CLI, with its checkpoint folder."""
    from click.testing import CliRunner

    from mlkit.cli import cli

    model, run = str(sets["root"] / "conv.keras"), str(sets["root"] / "run")
    result = CliRunner().invoke(cli, ["compress", "train", sets["train"], "-o", model, "--kind", "conv", "--latent", "8",
                                      "--size", "16x16", "--epochs", "4", "--batch-size", "16", "--seed", "3",
                                      "--checkpoint-dir", run, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return model, run


def _one_error(result, text):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("mlkit compress") and ": error: " in lines[0], lines
    assert text in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_every_kind_saves_one_keras_file_that_loads_in_safe_mode(sets, invoke, tmp_path):
    from mlkit.compress import load
    from mlkit.deep.runtime import import_tf

    for kind in ("dense", "sparse"):
        path = tmp_path / f"{kind}.keras"
        result = invoke("compress", "train", sets["train"], "-o", path, "--kind", kind, "--latent", "4", "--epochs", "1",
                        "--seed", "1", "--device", "cpu")
        assert result.exit_code == 0, result.output
        config = json.loads(zipfile.ZipFile(path).read("config.json"))
        assert "Lambda" not in json.dumps(config)
        codec = load(str(path), import_tf()[1])
        assert codec.latent == 4 and codec.size == (16, 16) and codec.channels == 1


def test_sparse_model_adds_an_l1_penalty_on_the_code():
    from mlkit.compress import model as ae
    from mlkit.deep.runtime import import_tf

    tf, keras = import_tf()
    model = ae.build("sparse", (16, 16), 1, 4)
    optimizer = keras.optimizers.Adam(1e-3)
    train_step, val_loss = ae.steps(model, optimizer)
    batch = tf.constant(np.random.default_rng(0).random((4, 16, 16, 1), np.float32))
    record = train_step(batch)
    code = model.get_layer("encoder")(batch)
    assert float(record["loss"]) > float(record["mse"])  # the penalty is on
    expected = float(tf.reduce_mean((model(batch) - batch) ** 2)) + ae.SPARSE_L1 * float(tf.reduce_sum(tf.abs(code))) / 4
    assert float(val_loss(batch)) == pytest.approx(expected, rel=1e-4)


def test_training_keeps_the_best_weights_and_logs_both_losses(sets, conv):
    from mlkit.compress import load
    from mlkit.compress.train import split
    from mlkit.deep.data import load_image_set
    from mlkit.deep.runtime import import_tf

    model, run = conv
    lines = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    assert all(np.isfinite(r["loss"]) for r in lines)
    val = [r["val_loss"] for r in lines if "val_loss" in r]
    assert val and all(np.isfinite(val))
    images, _ = load_image_set([sets["train"]], (16, 16), mode="stretch")
    _, held_out = split(images, 0.1, 3)
    codec = load(model, import_tf()[1])
    recon = codec.decoder(codec.encoder(held_out))
    last = sorted(p for p in os.listdir(run) if p.startswith("ckpt-"))[-1]
    state = json.load(open(os.path.join(run, last, "state.json")))
    assert float(np.mean((np.asarray(recon) - held_out) ** 2)) == pytest.approx(state["best"], rel=1e-4)
    assert state["best"] == pytest.approx(min(val + [state["last"]]), rel=1e-6)


def codec_latents(model, raw):
    from mlkit.compress import codec as C, load
    from mlkit.deep.runtime import import_tf

    return C.latents(load(str(model), import_tf()[1]), raw)


def _write_png(path, data):
    cv2.imwrite(str(path), data)
    return str(path)


def test_encode_decode_restores_names_shapes_dtypes_and_affines(conv, sets, invoke, tmp_path, anatomical, example4d):
    model, _ = conv
    rgb = _write_png(tmp_path / "colour.png", np.dstack([np.full((20, 12), v, np.uint8) for v in (10, 100, 200)]))
    mlz = tmp_path / "set.mlz"
    result = invoke("compress", "encode", model, sets["test"], rgb, anatomical, example4d, "-o", mlz, "--fit", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert mlz.read_bytes()[:4] == b"\x89MLZ"
    result = invoke("compress", "decode", model, mlz, "-o", f"{tmp_path}/out/", "--device", "cpu")
    assert result.exit_code == 0, result.output
    out = sorted(os.listdir(tmp_path / "out"))
    assert out == sorted(os.listdir(sets["test"]) + ["colour.png", "anatomical.nii", "example4d.nii.gz"])
    for name in os.listdir(sets["test"]):
        back = cv2.imread(str(tmp_path / "out" / name), cv2.IMREAD_UNCHANGED)
        assert back.shape == (16, 16) and back.dtype == np.uint8
    colour = cv2.imread(str(tmp_path / "out" / "colour.png"), cv2.IMREAD_UNCHANGED)
    assert colour.shape == (20, 12, 3) and colour.dtype == np.uint8
    for source in (anatomical, example4d):
        original, decoded = nib.load(source), nib.load(str(tmp_path / "out" / os.path.basename(source)))
        assert decoded.shape == original.shape
        assert decoded.get_data_dtype().name == original.get_data_dtype().name  # byte order aside
        np.testing.assert_allclose(decoded.affine, original.affine, atol=1e-5)


def test_slice_axis_cuts_and_reassembles_along_that_axis(conv, invoke, tmp_path, anatomical):
    from mlkit.compress import formats

    model, _ = conv
    mlz = tmp_path / "a.mlz"
    assert invoke("compress", "encode", model, anatomical, "-o", mlz, "--slice-axis", "0", "--fit", "--device", "cpu").exit_code == 0
    header = formats.unpack(mlz.read_bytes())["header"]
    shape = nib.load(anatomical).shape
    assert header["images"][0]["slice_axis"] == 0
    _, levels = codec_latents(model, mlz.read_bytes())
    assert levels.shape == (shape[0], 8)
    assert invoke("compress", "decode", model, mlz, "-o", tmp_path / "a.nii", "--device", "cpu").exit_code == 0
    assert nib.load(str(tmp_path / "a.nii")).shape == shape


def test_eval_numbers_equal_a_hand_computation_on_the_decoded_files(conv, sets, invoke, tmp_path):
    from skimage.metrics import structural_similarity

    model, _ = conv
    mlz, out = tmp_path / "t.mlz", tmp_path / "dec"
    assert invoke("compress", "encode", model, sets["test"], "-o", mlz, "--device", "cpu").exit_code == 0
    assert invoke("compress", "decode", model, mlz, "-o", f"{out}/", "--device", "cpu").exit_code == 0
    result = invoke("compress", "eval", model, sets["test"], "--format", "json", "--plot", tmp_path / "rd.png", "--device", "cpu")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    names = sorted(os.listdir(sets["test"]))
    assert [r["image"] for r in rows] == [n[:-4] for n in names] + ["mean"]
    pixels = 16 * 16 * len(names)
    psnrs, errors = [], []
    for row, name in zip(rows, names):
        a = cv2.imread(os.path.join(sets["test"], name), cv2.IMREAD_UNCHANGED).astype(np.float64)
        b = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED).astype(np.float64)
        psnr = 10 * np.log10(255**2 / np.mean((a - b) ** 2))
        psnrs.append(psnr)
        errors.append((a - b).ravel())
        assert row["psnr_db"] == pytest.approx(psnr, abs=0.01)
        assert row["ssim"] == pytest.approx(structural_similarity(a, b, data_range=255), abs=1e-6)
        assert row["bpp"] == pytest.approx(os.path.getsize(mlz) * 8 / pixels)
    mean = rows[-1]
    pooled = 10 * np.log10(255**2 / np.mean(np.concatenate(errors) ** 2))  # every pixel of the set at once
    assert mean["images"] == len(names) and mean["psnr_db"] == pytest.approx(np.mean(psnrs), abs=0.01)
    assert mean["psnr_pooled_db"] == pytest.approx(pooled, abs=0.01)
    assert mean["ratio"] == pytest.approx(pixels / os.path.getsize(mlz))
    for codec in ("jpeg", "webp", "avif"):
        assert set(mean[codec]) >= {"quality", "reached", "psnr_db", "bpp", "bpp_pooled", "bd_rate", "bd_rate_pooled"}
        assert mean[codec]["bd_rate"] is None or np.isfinite(mean[codec]["bd_rate"])
    assert mean["png"]["bpp_per_file"] > mean["png"]["bpp"]  # headers once per set are cheaper
    assert mean["png"]["bpp"] > 0 and mean["gzip"]["bpp"] > 0
    height, width, _ = cv2.imread(str(tmp_path / "rd.png")).shape  # two panels side by side, the legend beside
    assert 300 < height < width


def test_a_codec_rate_is_interpolated_in_log_rate_at_the_target_psnr(sets):
    import io

    from PIL import Image

    from mlkit.compress.baselines import CURVE, Baselines
    from mlkit.compress.codec import split
    from mlkit.compress.steps import read_set

    images = read_set([sets["test"]])
    metas, planes = split(images)
    base = Baselines([img.data for img in images], metas, planes)
    found = base.matched("jpeg", 30.0)
    assert found["reached"] and found["psnr_db"] == 30.0
    by_hand = []  # the same tiled picture through Pillow, scored with numpy
    for q in CURVE:
        buf = io.BytesIO()
        Image.fromarray(base.canvas[..., 0]).save(buf, "JPEG", quality=q, optimize=True)
        back = np.asarray(Image.open(io.BytesIO(buf.getvalue())), np.float64)
        psnrs = [10 * np.log10(255**2 / np.mean((back[r:r + 16, c:c + 16] - base.canvas[r:r + 16, c:c + 16, 0]) ** 2))
                 for r in range(0, back.shape[0], 16) for c in range(0, back.shape[1], 16)][: len(images)]
        by_hand.append((len(buf.getvalue()) * 8 / (256 * len(images)), np.mean(psnrs)))
    k = next(i for i in range(len(by_hand) - 1) if by_hand[i][1] <= 30.0 <= by_hand[i + 1][1])
    (r0, p0), (r1, p1) = by_hand[k], by_hand[k + 1]
    expected = np.exp(np.log(r0) + (30.0 - p0) / (p1 - p0) * (np.log(r1) - np.log(r0)))
    assert found["bpp"] == pytest.approx(expected, rel=1e-6)
    assert r0 <= found["bpp"] <= r1


def test_pipes_from_stdin_to_stdout(conv, tmp_path):
    from mlkit import samples
    from tests.conftest import pipeline

    model, _ = conv
    codes, _, errs = pipeline(["sample"], ["compress", "encode", model, "-", "--fit", "--device", "cpu"],
                              ["compress", "decode", model, "-", "-o", tmp_path / "t1.nii.gz", "--device", "cpu"])
    assert codes == [0, 0, 0], errs
    original, decoded = nib.load(samples.path()), nib.load(str(tmp_path / "t1.nii.gz"))
    assert decoded.shape == original.shape and decoded.get_data_dtype().name == original.get_data_dtype().name
    np.testing.assert_allclose(decoded.affine, original.affine, atol=1e-5)


@pytest.fixture(scope="module")
def container(conv, sets):
    from click.testing import CliRunner

    from mlkit.cli import cli

    mlz = sets["root"] / "test.mlz"
    assert CliRunner().invoke(cli, ["compress", "encode", conv[0], sets["test"], "-o", str(mlz), "--device", "cpu"]).exit_code == 0
    return mlz.read_bytes()


def _damaged(raw):
    import struct
    import zlib

    body = bytearray(raw[26:])
    body[len(body) // 2] ^= 0x40
    flipped = bytes(raw[:26]) + bytes(body)
    head = bytearray(raw[:26])
    head[5] ^= 0xFF  # the fingerprint
    forged = bytearray(raw[:22]) + struct.pack("<I", zlib.crc32(bytes(body))) + bytes(body)  # CRC fixed up: the coder notices
    return {"truncated": (raw[:-7], "truncated"), "corrupted": (flipped, "CRC-32"), "magic": (b"PNG!" + raw[4:], "wrong magic"),
            "other model": (bytes(head) + raw[26:], "made with another model"), "forged": (bytes(forged), "damaged .mlz"),
            "empty": (b"", "shorter than")}


@pytest.mark.parametrize("case", ["truncated", "corrupted", "magic", "other model", "forged", "empty"])
def test_a_bad_container_is_one_line_and_nothing_written(conv, container, invoke, tmp_path, case):
    raw, text = _damaged(container)[case]
    (tmp_path / "bad.mlz").write_bytes(raw)
    result = invoke("compress", "decode", conv[0], tmp_path / "bad.mlz", "-o", f"{tmp_path}/out/", "--device", "cpu")
    _one_error(result, text)
    assert not (tmp_path / "out").exists()


def test_decode_inflates_the_container_once(conv, container, invoke, tmp_path, monkeypatch):
    """The early check's unpacked container is the one decoded (test_early_errors.py: its
    errors still come before TensorFlow loads)."""
    from mlkit.compress import formats

    inflated = []

    class Counted(formats._Inflater):
        def __init__(self, *args):
            inflated.append(args[0])
            super().__init__(*args)

    monkeypatch.setattr(formats, "_Inflater", Counted)
    (tmp_path / "c.mlz").write_bytes(container)
    result = invoke("compress", "decode", conv[0], tmp_path / "c.mlz", "-o", f"{tmp_path}/out/", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert len(inflated) == 1 and len(os.listdir(tmp_path / "out")) == 6


def test_a_container_from_another_model_is_refused(sets, container, invoke, tmp_path):
    other = tmp_path / "other.keras"
    assert invoke("compress", "train", sets["test"], "-o", other, "--latent", "8", "--size", "16x16", "--epochs", "1",
                  "--seed", "9", "--device", "cpu").exit_code == 0
    (tmp_path / "c.mlz").write_bytes(container)
    result = invoke("compress", "decode", other, tmp_path / "c.mlz", "-o", tmp_path / "x.png", "--device", "cpu")
    _one_error(result, "made with another model")
    assert not (tmp_path / "x.png").exists()


def test_a_model_that_is_not_keras_is_one_line(sets, invoke, tmp_path):
    (tmp_path / "m.keras").write_text("not a model")
    result = invoke("compress", "encode", tmp_path / "m.keras", sets["test"], "-o", tmp_path / "c.mlz", "--device", "cpu")
    _one_error(result, "not a Keras model file")
    assert not (tmp_path / "c.mlz").exists()


def _repack(header, numbers, words, extra=b""):
    import struct

    from mlkit.compress import formats

    text = json.dumps(header).encode()
    body = struct.pack("<I", len(text)) + text + np.asarray(numbers, "<f4").tobytes() + np.asarray(words, "<u4").tobytes()
    return formats._frame(2, "00" * 8, body + extra)


def test_header_fields_are_checked_one_by_one(container):
    from mlkit.compress import formats

    box = formats.unpack(container)
    good, numbers, words = json.loads(json.dumps(box["header"])), box["numbers"], box["words"]
    assert formats.unpack(_repack(good, numbers, words))["header"] == good
    bad = {"dtype": ("images", 0, "dtype", "object"), "shape": ("images", 0, "shape", [16, -1]),
           "affine": ("images", 0, "affine", [1.0] * 15), "hi": ("images", 0, "hi", -5.0),
           "axis": ("images", 0, "slice_axis", 3)}
    for where, (key, index, field, value) in bad.items():
        header = json.loads(json.dumps(good))
        header[key][index][field] = value
        with pytest.raises(ImageFormatError, match=f"header field images\\[0\\].{field}"):
            formats.unpack(_repack(header, numbers, words))
    with pytest.raises(ImageFormatError, match="not finite"):
        formats.unpack(_repack(good, numbers * np.inf, words))
    with pytest.raises(ImageFormatError, match="bytes after the header"):
        formats.unpack(_repack(good, numbers, words, extra=b"1234"))
    with pytest.raises(ImageFormatError, match="header field model"):
        formats.unpack(_repack(good | {"model": "gan"}, numbers, words))
    header = json.loads(json.dumps(good))
    header["images"][0]["shape"] = [100000, 100000]
    with pytest.raises(ImageFormatError, match="over the"):
        formats.unpack(_repack(header, numbers, words))


def test_codes_never_go_to_a_terminal(container, tmp_path):
    from mlkit.compress.steps import write_container, write_images

    class Terminal:
        def isatty(self):
            return True

    with pytest.raises(MlkitError, match="terminal"):
        write_container(container, "-", stdout=Terminal())
    with pytest.raises(MlkitError, match="terminal"):
        write_images([], "-", stdout=Terminal())


def test_quantised_codes_are_within_half_a_step():
    from mlkit.compress.codec import quantise

    codes = np.random.default_rng(1).normal(size=(50, 8)).astype(np.float32)
    levels, scale, offset = quantise(codes, 8)
    assert levels.max() <= 255 and levels.min() == 0
    assert np.abs(offset + levels * scale - codes).max() <= scale.max() / 2 + 1e-6


def test_train_on_volume_slices_and_bad_sizes(invoke, tmp_path, anatomical):
    from mlkit.compress import load
    from mlkit.deep.runtime import import_tf

    model = tmp_path / "v.keras"
    result = invoke("compress", "train", anatomical, "-o", model, "--kind", "dense", "--latent", "4", "--slice-axis", "0",
                    "--epochs", "1", "--seed", "2", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert load(str(model), import_tf()[1]).size == (41, 25)  # an axis-0 slice of 33 x 41 x 25
    result = invoke("compress", "train", anatomical, "-o", tmp_path / "c.keras", "--kind", "conv", "--size", "15x15",
                    "--device", "cpu")
    assert result.exit_code == 2 and "multiples of 4" in result.stderr
    assert not (tmp_path / "c.keras").exists()


def test_training_resumes_from_its_checkpoints(sets, conv, invoke, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(conv[1], run)
    result = invoke("compress", "train", sets["train"], "-o", tmp_path / "m.keras", "--kind", "conv", "--latent", "8",
                    "--size", "16x16", "--epochs", "5", "--batch-size", "16", "--seed", "3", "--checkpoint-dir", run,
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    steps = [json.loads(line)["step"] for line in open(run / "metrics.jsonl")]
    per_epoch = (96 - round(96 * 0.1)) // 16
    assert steps == list(range(1, 5 * per_epoch + 1))


def _v1(header, latent=2, planes=1):
    """A version-1 container (scale, offset, one byte per level), as mlkit wrote before the range coder."""
    import struct

    from mlkit.compress import formats

    text = json.dumps(header).encode()
    numbers = np.asarray([1.0] * latent + [0.0] * latent, "<f4").tobytes()
    return formats._frame(1, "00" * 8, struct.pack("<I", len(text)) + text + numbers + bytes(planes * latent))


def test_version_1_headers_are_checked_as_version_1():
    from mlkit.compress import formats

    image = {"name": "a", "shape": [4, 4], "dtype": "uint8", "affine": None, "lo": 0.0, "hi": 255.0, "volume": False,
             "slice_axis": 2, "suffix": ".png", "format": "png"}
    good = {"bits": 8, "latent": 2, "size": [4, 4, 1], "images": [image]}
    box = formats.unpack(_v1(good))
    assert box["version"] == 1 and box["levels"].shape == (1, 2)
    # an rd header (grid, no bits) in a version-1 body was a KeyError, not a message
    with pytest.raises(ImageFormatError, match="header field model"):
        formats.unpack(_v1({"model": "rd", "grid": [1, 1], "latent": 2, "size": [4, 4, 1], "images": [image]}))
    # a field this mlkit does not know (a later version's) was a TypeError in Meta
    later = formats.unpack(_v1(good | {"images": [image | {"colour": "srgb"}]}))
    assert formats.meta_from(later["header"]["images"][0]).name == "a"


def test_a_wrong_run_folder_is_said_before_the_images_load(sets, conv, invoke, tmp_path, monkeypatch):
    import shutil

    import mlkit.deep.data

    def not_now(*args, **kwargs):
        raise AssertionError("the images were loaded before the run folder was checked")

    monkeypatch.setattr(mlkit.deep.data, "load_image_set", not_now)
    args = [sets["train"], "-o", tmp_path / "m.keras", "--kind", "conv", "--size", "16x16", "--device", "cpu"]
    other = tmp_path / "notes"
    other.mkdir()
    (other / "metrics.jsonl").write_text("hello\n")
    _one_error(invoke("compress", "train", *args, "--latent", "8", "--checkpoint-dir", other), "holds other files")
    run = tmp_path / "run"
    shutil.copytree(conv[1], run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    _one_error(invoke("compress", "train", *args, "--latent", "4", "--checkpoint-dir", run), "started with latent=8, not 4")
    (run / "metrics.jsonl").write_text((run / "metrics.jsonl").read_text().replace('"loss": ', '"loss": "x", "y": ', 1))
    _one_error(invoke("compress", "train", *args, "--latent", "8", "--checkpoint-dir", run), "line 1: loss is not a number")
    assert not (tmp_path / "m.keras").exists()
    assert sorted(before) == sorted(p for p in run.rglob("*") if p.is_file())
