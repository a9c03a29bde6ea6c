"""compress --kind hyper: the scale hyperprior, its integer side network (bit-exact on any
machine), its frozen Gaussian tables and its containers. Tiny models, few steps, CPU."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import run_mlkit
from tests.test_compress import _digits, _one_error
from tests.test_compress_rd import _train as train_rd


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("hyper")
    return {"train": _digits(root / "train", 0, 96), "test": _digits(root / "test", 600, 6), "root": root}


def _train(data, name, seed, kind="hyper", extra=()):
    return train_rd(data, name, seed, extra, kind)


@pytest.fixture(scope="module")
def hyper_model(data):
    return _train(data, "hyper.keras", 1, extra=["--quality", "6"])


def _codec(path):
    from mlkit.compress import load
    from mlkit.deep.runtime import import_tf

    return load(str(path), import_tf()[1])


def _keras_model(path):
    from mlkit.compress import hyper
    from mlkit.deep.models import load_model
    from mlkit.deep.runtime import import_tf

    return load_model(str(path), import_tf()[1], hyper.custom_objects())


def _quantised(codec, folder):
    from mlkit.compress import codec as C
    from mlkit.compress.steps import read_set

    return C.quantised(codec, read_set([folder]))[1]


def test_the_model_has_named_parts_and_loads_in_safe_mode(hyper_model):
    codec = _codec(hyper_model)
    names = [layer.name for layer in _keras_model(hyper_model).layers]
    for part in ("analysis", "hyper_analysis", "prior", "hyper_synthesis", "conditional", "synthesis"):
        assert part in names
    assert codec.kind == "hyper" and codec.grid == (4, 4) and codec.latent == 4
    assert "Lambda" not in json.dumps(_keras_model(hyper_model).get_config())


def test_the_integer_conv_is_scipys_correlation():
    """Keras's 'same' Conv2D is a zero-padded cross-correlation; on small integers float64
    sums are exact (all below 2**53), so scipy's answer must equal the int64 one exactly."""
    from scipy.ndimage import correlate

    from mlkit.compress import hyper

    rng = np.random.default_rng(0)
    x = rng.integers(-300, 300, (3, 6, 5, 4)).astype(np.int64)
    kernel = rng.integers(-70000, 70000, (5, 5, 4, 2)).astype(np.int64)
    got = hyper._conv(x, kernel)
    for n in range(3):
        for o in range(2):
            want = sum(correlate(x[n, :, :, c].astype(np.float64), kernel[:, :, c, o].astype(np.float64), mode="constant")
                       for c in range(4))
            assert np.array_equal(got[n, :, :, o], want.astype(np.int64))


def test_the_integer_side_network_follows_the_float_one(hyper_model, data):
    """u (the scale level before rounding) from the int64 network against Keras's float32 one:
    within the fixed-point error bound (hyper.error_bound, derived in its docstring) plus float32's
    own error (a few ulps of sums under 2**7 over at most 1200 terms: 1e-3 is ample). An index
    differs only where the float u lies within that error of a half level; u's fraction is
    spread over [0, 1), so the share that differs is about twice the error: measured here,
    it must be under 2 %."""
    from mlkit.compress import hyper

    codec = _codec(hyper_model)
    _, z_hat, level = _quantised(codec, data["train"])
    u = np.asarray(_keras_model(hyper_model).get_layer("hyper_synthesis")(z_hat.astype(np.float32), training=False), np.float64)
    net = codec.side.net
    u_int = hyper.integer_run(net, z_hat)[-1] / 2.0 ** (2 * net.fraction)
    err = np.abs(u_int - u).max()
    assert err <= hyper.error_bound(net, z_hat) + 1e-3, err
    float_level = np.clip(np.floor(u + 0.5), 0, hyper.LEVELS - 1)
    differ = float_level != level
    assert differ.mean() <= min(0.02, 2 * err + 0.005), differ.mean()
    assert np.all(np.abs(np.abs(u[differ] - np.floor(u[differ]) - 0.5)) <= err + 1e-9)
    assert 8 <= net.fraction <= 16


_INDICES = """
import hashlib, sys
import numpy as np
from mlkit.compress import hyper, load
from mlkit.compress import codec as C
from mlkit.compress.steps import read_set
from mlkit.deep.runtime import import_tf
codec = load(sys.argv[1], import_tf()[1])
_, z, level = C.quantised(codec, read_set([sys.argv[2]]))[1]
rng = np.random.default_rng(int(sys.argv[3]))
order = rng.permutation(len(z))
parts, start = [], 0
while start < len(z):  # a random batch composition
    stop = start + int(rng.integers(1, 40))
    parts.append(hyper.indices(codec.side.net, z[order[start:stop]]))
    start = stop
again = np.empty_like(level)
again[order] = np.concatenate(parts)
assert np.array_equal(again, level)
print(hashlib.sha256(level.astype("<i8").tobytes() + z.astype("<i8").tobytes()).hexdigest())
"""


def test_the_levels_are_bit_identical_across_processes_threads_and_batches(hyper_model, data):
    """Three processes with 1, 2 and 4 threads (TensorFlow's and OpenMP's) and three random
    batch compositions: the same z and the same levels, to the bit."""
    digests = set()
    for threads, seed in (("1", 0), ("2", 1), ("4", 2)):
        env = dict(os.environ, TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=threads, OMP_NUM_THREADS=threads)
        proc = subprocess.run([sys.executable, "-c", _INDICES, hyper_model, data["train"], str(seed)], capture_output=True, env=env)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        digests.add(proc.stdout.decode().strip().splitlines()[-1])
    assert len(digests) == 1


def test_the_coded_bits_match_the_entropy_models_estimate(hyper_model, data):
    """The float model (what training minimises) against the bits the range coder writes. They
    differ by the tables' 16-bit rounding and 1/65536 floor (under 2 % of the mass), by the
    scale's rounding to a level (sigma off by at most half a level, a factor e**(STEP/2) = 1.063,
    which costs at most ln r + (1/r**2 - 1)/2 = 0.0036 nats = 0.005 bits per latent), and by the
    coder's end (two streams, at most two 32-bit words each): 3 % + 0.005 bits per latent + 128
    bits. The ideal code length under the tables is within 1 % + 128 bits of the coded one."""
    from mlkit.compress import codec as C, entropy, hyper

    codec = _codec(hyper_model)
    y_hat, z_hat, level = _quantised(codec, data["train"])
    z_groups, z_tables, y_groups, y_tables = C._hyper_groups(codec, y_hat, z_hat, level)
    coded = (len(entropy.encode(z_groups, z_tables)) + len(entropy.encode(y_groups, y_tables))) * 32
    estimate = hyper.estimated_bits(_keras_model(hyper_model), y_hat, z_hat)
    assert abs(coded - estimate) <= 0.03 * estimate + 0.005 * y_hat.size + 128, (coded, estimate)
    ideal = entropy.bits(z_groups, z_tables) + entropy.bits(y_groups, y_tables)
    assert abs(coded - ideal) <= 0.01 * coded + 128, (coded, ideal)
    uniform = y_hat.size * np.log2(hyper.TABLE)  # a coder ignoring the tables would pay about this
    assert coded < uniform / 2


def test_encode_decode_is_bit_exact_across_processes_threads_and_jobs(hyper_model, data, tmp_path):
    """96 digits: two batches (64 and 32 planes), so --jobs 2 runs them at once; one encode with
    a single thread. The same bytes, the stored integers are the quantised latents, and three
    decodes give the same pixels."""
    outputs = {}
    for name, jobs, threads in (("one", "1", None), ("two", "2", None), ("thin", "1", "1")):
        env = dict(os.environ, TF_NUM_INTRAOP_THREADS=threads, OMP_NUM_THREADS=threads) if threads else None
        out = tmp_path / f"{name}.mlz"
        proc = run_mlkit("compress", "encode", hyper_model, data["train"], "-o", out, "--jobs", jobs, "--device", "cpu", env=env)
        assert proc.returncode == 0, proc.stderr.decode()
        outputs[name] = out.read_bytes()
    assert outputs["one"] == outputs["two"] == outputs["thin"]
    from mlkit.compress import codec as C

    codec = _codec(hyper_model)
    y_hat, z_hat, level = _quantised(codec, data["train"])
    box, (y_back, z_back, level_back) = C.latents(codec, outputs["one"])
    assert box["header"]["model"] == "hyper" and 0 < box["header"]["zwords"] < box["header"]["words"]
    assert np.array_equal(y_back, y_hat) and np.array_equal(z_back, z_hat) and np.array_equal(level_back, level)
    pixels = []
    for run, jobs in (("a", "1"), ("b", "1"), ("c", "2")):
        proc = run_mlkit("compress", "decode", hyper_model, tmp_path / "one.mlz", "-o", f"{tmp_path}/{run}/", "--jobs", jobs,
                         "--device", "cpu")
        assert proc.returncode == 0, proc.stderr.decode()
        pixels.append({n: cv2.imread(str(tmp_path / run / n), cv2.IMREAD_UNCHANGED).tobytes()
                       for n in sorted(os.listdir(tmp_path / run))})
    assert len(pixels[0]) == 96 and pixels[0] == pixels[1] == pixels[2]


def test_containers_of_rd_and_hyper_models_are_refused_by_each_other(hyper_model, data, invoke, tmp_path):
    rd_model = _train(data, "rd.keras", 2, kind="rd", extra=["--quality", "6"])
    for encoder, decoder in ((rd_model, hyper_model), (hyper_model, rd_model)):
        mlz = tmp_path / "c.mlz"
        assert invoke("compress", "encode", encoder, data["test"], "-o", mlz, "--device", "cpu").exit_code == 0
        result = invoke("compress", "decode", decoder, mlz, "-o", f"{tmp_path}/out/", "--device", "cpu")
        _one_error(result, "made with another model")
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("forge, message", [
    (lambda h: h.pop("zwords"), "header field zwords is missing"),
    (lambda h: h.update(zwords="3"), "header field zwords is not an integer"),
    (lambda h: h.update(zwords=-1), "header field zwords is not an integer"),
    (lambda h: h.update(zwords=10**12), "header field zwords is not an integer"),
    (lambda h: h.update(zwords=h["words"] + 1), "header field zwords is more than"),
    (lambda h: h.pop("grid"), "header field grid is missing"),
])
def test_a_forged_header_field_is_refused_in_one_line(hyper_model, data, invoke, tmp_path, forge, message):
    """The CRC is recomputed, so only the header check can refuse it."""
    from mlkit.compress import formats

    codec = _codec(hyper_model)
    mlz = tmp_path / "c.mlz"
    assert invoke("compress", "encode", hyper_model, data["test"], "-o", mlz, "--device", "cpu").exit_code == 0
    box = formats.unpack(mlz.read_bytes(), codec.fingerprint)
    header = dict(box["header"])
    words = box["words"]
    header["words"] = len(words)
    forge(header)
    bad = tmp_path / "bad.mlz"
    bad.write_bytes(_pack_raw(codec.fingerprint, header, words))
    result = invoke("compress", "decode", hyper_model, bad, "-o", f"{tmp_path}/out/", "--device", "cpu")
    _one_error(result, message)
    assert not (tmp_path / "out").exists()


def _pack_raw(fingerprint, header, words):
    """A version-2 container with this exact header (pack_coded would reset the counts)."""
    import struct
    import zlib

    from mlkit.compress import formats

    header = {**header, "numbers": 0}
    text = json.dumps(header, separators=(",", ":")).encode()
    body = struct.pack("<I", len(text)) + text + np.asarray(words, "<u4").tobytes()
    return formats.HEAD.pack(formats.MAGIC, 2, bytes.fromhex(fingerprint), 0, len(body), len(body), zlib.crc32(body)) + body


def test_the_gaussian_tables_against_scipy(hyper_model):
    """Every level's row sums to 2**16 with no zero, is centred (odd length), covers
    all but 1e-7 of N(0, sigma) convolved with U(-1/2, 1/2) and is no wider than that needs,
    unless that takes more than 1023 symbols (sigma above 95: cut). Each entry is within its integer rounding of
    scipy's probability (renormalised over the table): an entry other than the largest is
    max(1, floor(p (2**16 - n))), off by at most p n + 1 counts, and the largest takes what the
    others leave, off by at most their sum, under 2 n + 1 counts."""
    from scipy.stats import norm

    from mlkit.compress import hyper

    length, pmf = hyper.y_tables(_keras_model(hyper_model))
    sigmas = hyper.scales()
    assert sigmas[0] == pytest.approx(0.11) and sigmas[-1] == pytest.approx(256.0)
    for i, s in enumerate(sigmas):
        n = int(length[i])
        row, half = pmf[i, :n], n // 2
        assert n % 2 == 1 and row.sum() == 1 << 16 and row.min() >= 1 and not pmf[i, n:].any()
        k = np.arange(-half, half + 1)
        p = norm.cdf((k + 0.5) / s) - norm.cdf((k - 0.5) / s)
        assert np.abs(row / 65536 - p / p.sum()).max() <= (2 * n + 1) / 65536
        if n < hyper.TABLE:
            assert 2 * norm.sf((half + 0.5) / s) <= hyper.TAIL
            assert half == 1 or 2 * norm.sf((half - 0.5) / s) > hyper.TAIL
        else:  # cut at +-511: only scales whose 1e-7 tails need more
            assert 2 * norm.sf((half + 0.5) / s) > hyper.TAIL and s > 95
    offset, zlen, zpmf = _codec(hyper_model).tables
    assert all(zpmf[k, : zlen[k]].sum() == 1 << 16 and zpmf[k, : zlen[k]].min() >= 1 for k in range(len(offset)))


def test_a_size_that_is_not_a_multiple_of_four_times_downsample_suggests_the_nearest(data, invoke, tmp_path):
    result = invoke("compress", "train", data["train"], "-o", tmp_path / "m.keras", "--kind", "hyper", "--size", "24x24",
                    "--device", "cpu")
    assert result.exit_code == 2 and "multiples of 16" in result.stderr and "--size 16x16" in result.stderr, result.stderr
    result = invoke("compress", "train", data["train"], "-o", tmp_path / "m.keras", "--kind", "hyper", "--size", "128x100",
                    "--downsample", "8", "--device", "cpu")
    assert result.exit_code == 2 and "multiples of 32" in result.stderr and "--size 128x96" in result.stderr, result.stderr
    assert not (tmp_path / "m.keras").exists()


def test_eval_of_two_hyper_models_draws_one_curve(hyper_model, data, invoke, tmp_path):
    low = _train(data, "low.keras", 1, extra=["--quality", "1"])
    result = invoke("compress", "eval", f"{low},{hyper_model}", data["test"], "--format", "json", "--plot", tmp_path / "h.svg",
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    means = [r for r in rows if r["image"] == "mean"]
    assert [r["model"] for r in means] == [low, hyper_model] and len(rows) == 2 * 7
    assert means[0]["avif"]["bd_rate"] == means[1]["avif"]["bd_rate"]
    mlz = tmp_path / "t.mlz"
    assert invoke("compress", "encode", hyper_model, data["test"], "-o", mlz, "--device", "cpu").exit_code == 0
    assert means[1]["bpp"] == pytest.approx(mlz.stat().st_size * 8 / (6 * 16 * 16), rel=1e-12)
    assert (tmp_path / "h.svg").read_bytes().lstrip().startswith((b"<?xml", b"<svg"))


def test_side_network_weights_too_large_for_int64_are_refused():
    """The overflow bound is checked in exact integers when the model loads: weights that could
    overflow at every fraction width (or are not finite) are an error, never a wrapped sum."""
    from mlkit.compress import hyper
    from mlkit.deep.runtime import import_tf
    from mlkit.errors import MlkitError

    _, keras = import_tf()

    def net(scale):
        conv = keras.layers.Conv2D
        model = keras.Sequential([keras.Input((2, 2, 4)), keras.layers.UpSampling2D(2),
                                  conv(4, 3, padding="same", activation="relu"), conv(4, 3, padding="same")])
        kernel = np.full((3, 3, 4, 4), scale, np.float32)
        model.set_weights([kernel, np.zeros(4, np.float32)] * 2)
        return model

    ok = hyper.integer_net(net(0.5), 100)
    assert ok.fraction == 16 and ok.upsample == [True, False]
    # kernels of 2**10 (36 inputs per output): layer 1 reaches 36 * 2**10 * 2**F * 100, layer 2
    # 36 * 2**10 * 2**F times that, about 2**37.0 * 2**2F: under 2**62 for F <= 12 only
    assert hyper.integer_net(net(2.0**10), 100).fraction == 12
    for scale in (2.0**40, float("nan")):
        with pytest.raises(MlkitError, match="too large for exact integer decoding"):
            hyper.integer_net(net(scale), 100)


def _forge_tables(model, tmp_path, change):
    """A copy of the hyper model file with its frozen tables changed by `change(z, y)`, where z
    = [offset, length, pmf] and y = [length, pmf] (numpy copies, written back as weights)."""
    from mlkit.deep.models import save_model

    keras_model = _keras_model(model)
    prior, conditional = keras_model.get_layer("prior"), keras_model.get_layer("conditional")
    z = [prior.offset.numpy().copy(), prior.length.numpy().copy(), prior.pmf.numpy().copy()]
    y = [conditional.length.numpy().copy(), conditional.pmf.numpy().copy()]
    change(z, y)
    for weight, value in zip((prior.offset, prior.length, prior.pmf, conditional.length, conditional.pmf), z + y):
        weight.assign(value)
    path = tmp_path / "forged.keras"
    save_model(keras_model, path)
    return path


def _move_one(pmf, row, to):
    """Take one count from the row's largest entry and put it at `to` (the row's sum is kept)."""
    pmf[row, np.argmax(pmf[row])] -= 1
    pmf[row, to] += 1


def _even_y(z, y):
    n = int(y[0][5])
    _move_one(y[1], 5, n)
    y[0][5] = n + 1


def _negative_y(z, y):
    """Row 3 starts with -4, its largest entry takes the difference: the sum is still 2**16."""
    row, n = y[1][3], int(y[0][3])
    row[np.argmax(row)] += int(row[0]) + 4
    row[0] = -4
    assert row[:n].sum() == 1 << 16


@pytest.mark.parametrize("change, message", [
    (_even_y, "a y table is not centred"),
    (lambda z, y: y[0].__setitem__(0, 2001), "y's lengths run past"),
    (_negative_y, "y's probabilities are not positive"),
    (lambda z, y: y[1].__setitem__((7, 0), y[1][7, 0] + 1), "y's probabilities are not positive integers"),
    (lambda z, y: z[2].__setitem__((0, 0), z[2][0, 0] + 1), "z's probabilities are not positive integers"),
    (lambda z, y: z[1].__setitem__(1, 300), "z's lengths run past"),
    (lambda z, y: z[0].__setitem__(2, 1 << 30), "z's offsets are not within"),
])
def test_forged_entropy_tables_in_a_hyper_model_are_refused_when_it_loads(hyper_model, data, invoke, tmp_path, change,
                                                                         message):
    """Tables that do not sum to 2**16, hold a zero or negative count, run past their rows, are
    not centred, or whose offsets would make z's bound (and so the integer network) meaningless:
    one line naming the model file, for encode and decode alike, and nothing written."""
    forged = _forge_tables(hyper_model, tmp_path, change)
    mlz = tmp_path / "c.mlz"
    assert invoke("compress", "encode", hyper_model, data["test"], "-o", mlz, "--device", "cpu").exit_code == 0
    result = invoke("compress", "encode", forged, data["test"], "-o", tmp_path / "f.mlz", "--device", "cpu")
    _one_error(result, message)
    assert str(forged) in result.stderr and not (tmp_path / "f.mlz").exists()
    result = invoke("compress", "decode", forged, mlz, "-o", f"{tmp_path}/out/", "--device", "cpu")
    _one_error(result, message)
    assert not (tmp_path / "out").exists()


def _hyper_synthesis_with(tmp_path, hyper_model, edit):
    """A copy of the model file whose config.json has `edit` applied to the hyper-synthesis's
    layer configs (the weights are unchanged, so Keras loads it)."""
    import zipfile

    forged = tmp_path / "arch.keras"
    with zipfile.ZipFile(hyper_model) as src, zipfile.ZipFile(forged, "w") as dst:
        for item in src.infolist():
            raw = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(raw)
                part = next(layer for layer in config["config"]["layers"]
                            if layer["config"].get("name") == "hyper_synthesis")
                edit([layer["config"] for layer in part["config"]["layers"]])
                raw = json.dumps(config).encode()
            dst.writestr(item, raw)
    return forged


@pytest.mark.parametrize("edit", [
    lambda layers: next(c for c in layers if c.get("activation") == "relu").update(activation="sigmoid"),
    lambda layers: next(c for c in layers if "interpolation" in c).update(interpolation="bilinear"),
])
def test_a_scale_network_integer_decoding_cannot_rerun_is_refused(hyper_model, data, invoke, tmp_path, edit):
    """The integer network re-does only nearest x2 upsampling and stride-1 'same' convolutions with
    ReLU between: any other layer in a (forged) model file would make its levels something the
    float network never saw, so it is refused in one line, not silently run as something else."""
    forged = _hyper_synthesis_with(tmp_path, hyper_model, edit)
    assert _keras_model(forged).get_layer("hyper_synthesis") is not None  # Keras itself accepts it
    result = invoke("compress", "encode", forged, data["test"], "-o", tmp_path / "f.mlz", "--device", "cpu")
    _one_error(result, "a layer integer decoding cannot run")
    assert not (tmp_path / "f.mlz").exists()


def test_scale_networks_outside_what_integer_run_does_are_refused():
    """Strides, dilation, even or missing biases, 'valid' padding, foreign layers: MlkitError, never
    a ValueError from unpacking the weights or a wrong-shaped level map."""
    from mlkit.compress import hyper
    from mlkit.deep.runtime import import_tf
    from mlkit.errors import MlkitError

    _, keras = import_tf()
    conv, up = keras.layers.Conv2D, keras.layers.UpSampling2D

    def net(*layers):
        return keras.Sequential([keras.Input((2, 2, 4)), *layers])

    good = net(up(2), conv(8, 5, padding="same", activation="relu"), conv(4, 3, padding="same"))
    assert hyper.integer_net(good, 100).upsample == [True, False]
    for bad in (net(up(2), conv(8, 5, padding="same", activation="relu"), conv(4, 3, padding="same", use_bias=False)),
                net(up(2), conv(8, 5, strides=2, padding="same", activation="relu"), conv(4, 3, padding="same")),
                net(up(2), conv(8, 5, dilation_rate=2, padding="same", activation="relu"), conv(4, 3, padding="same")),
                net(up(2), conv(8, 4, padding="same", activation="relu"), conv(4, 3, padding="same")),
                net(up(2), conv(8, 3, padding="valid", activation="relu"), conv(4, 1, padding="same")),
                net(up(3), conv(8, 5, padding="same", activation="relu"), conv(4, 3, padding="same")),
                net(conv(8, 5, padding="same", activation="relu"), keras.layers.Dense(4)),
                net(conv(8, 5, padding="same", activation="relu"), conv(4, 3, padding="same"), up(2)),
                net(up(2), up(2), conv(8, 5, padding="same", activation="relu"), conv(4, 3, padding="same"))):
        with pytest.raises(MlkitError, match="integer decoding cannot run"):
            hyper.integer_net(bad, 100)
    with pytest.raises(MlkitError, match="under two convolutions, which integer decoding cannot run"):
        hyper.integer_net(net(up(2), conv(4, 3, padding="same")), 100)


@pytest.mark.parametrize("forge", ["pad", "cut", "zsplit"])
def test_words_cut_padded_or_split_wrongly_are_refused(hyper_model, data, invoke, tmp_path, forge):
    """The range decoder reads zeros past its words and ignores words left over; a container whose
    z or y stream does not end exactly where its codes do is damaged, never decoded to garbage."""
    from mlkit.compress import formats

    codec = _codec(hyper_model)
    mlz = tmp_path / "c.mlz"
    assert invoke("compress", "encode", hyper_model, data["test"], "-o", mlz, "--device", "cpu").exit_code == 0
    box = formats.unpack(mlz.read_bytes(), codec.fingerprint)
    header, words = dict(box["header"]), box["words"]
    if forge == "pad":
        words = np.concatenate([words, np.asarray([12345], np.uint32)])
    elif forge == "cut":
        words = words[:-1]
    else:
        header["zwords"] -= 1
    header["words"] = len(words)
    bad = tmp_path / "bad.mlz"
    bad.write_bytes(_pack_raw(codec.fingerprint, header, words))
    result = invoke("compress", "decode", hyper_model, bad, "-o", f"{tmp_path}/out/", "--device", "cpu")
    _one_error(result, "damaged .mlz container")
    assert not (tmp_path / "out").exists()


def test_the_integer_network_runs_in_batches_that_fit_its_work_budget(monkeypatch):
    """tensordot copies every layer's k x k windows: 64 planes of a 128x192 latent grid took 15 GB.
    indices runs as many planes at a time as fit in hyper.WORK; the levels are the same as one
    plane at a time (exact sums), and numpy's peak allocation (tracemalloc) stays near the budget
    where one batch of all 16 planes takes about 16 times a plane's work."""
    import tracemalloc

    from mlkit.compress import hyper
    from mlkit.deep.runtime import import_tf

    _, keras = import_tf()
    conv, up = keras.layers.Conv2D, keras.layers.UpSampling2D
    net = hyper.integer_net(keras.Sequential([
        keras.Input((8, 8, 4)), up(2), conv(48, 5, padding="same", activation="relu"),
        up(2), conv(48, 5, padding="same", activation="relu"), conv(4, 3, padding="same", bias_initializer="ones"),
    ]), 20)
    z = np.random.default_rng(0).integers(-20, 21, (16, 8, 8, 4))
    per = hyper.plane_bytes(net, z.shape[1:])
    # outputs: 16x16x48, 32x32x48, 32x32x4; the largest window copy: the second conv's 32x32 x (25 + 1) x 48
    assert per == 8 * (16 * 16 * 48 + 32 * 32 * 48 + 32 * 32 * 4) + 8 * 32 * 32 * 26 * 48
    monkeypatch.setattr(hyper, "WORK", 3 * per)
    tracemalloc.start()
    try:
        levels = hyper.indices(net, z)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * per, (peak, per)
    one = np.concatenate([hyper.indices(net, z[i : i + 1]) for i in range(len(z))])
    assert levels.shape == (16, 32, 32, 4) and np.array_equal(levels, one)


def test_the_overflow_bound_itself_cannot_wrap(monkeypatch):
    """A forged 1x1 conv with 3 * 2**22 inputs of weight just under 2**24: at F = 16 each
    fixed-point entry is near 2**40 and their column sum near 1.5 * 2**63, which an int64 sum
    wraps to a negative bound that passes. Summed exactly, the first layer reaches about
    1.5 * 2**(46 + F) and the second (one weight of 2**-8, so 2**(F - 8) in fixed point)
    1.5 * 2**(38 + 2F): under 2**62 for F <= 11 only."""
    from mlkit.compress import hyper

    kernel = np.full((1, 1, 3 << 22, 1), 2.0**24 - 1)
    small = np.full((1, 1, 1, 1), 2.0**-8)
    monkeypatch.setattr(hyper, "_convs", lambda net: [(kernel, np.zeros(1), False), (small, np.zeros(1), False)])
    net = hyper.integer_net(None, 1)
    column = (3 << 22) * int(np.rint((2.0**24 - 1) * 2.0**net.fraction))
    assert net.fraction == 11 and column + (1 << 2 * net.fraction) < 1 << 62
