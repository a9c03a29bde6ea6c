"""compress: the rd codec (factorized entropy model, range coding), version-1 containers, geometry
and channel checks, BD-rate and the two PSNRs. Tiny models, few steps, CPU."""

import json
import os

import cv2
import nibabel as nib
import numpy as np
import pytest

from tests.conftest import run_mlkit
from tests.test_compress import _digits, _one_error


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("rd")
    return {"train": _digits(root / "train", 0, 96), "test": _digits(root / "test", 600, 6), "root": root}


def _train(data, name, seed, extra=(), kind="rd"):
    from click.testing import CliRunner

    from mlkit.cli import cli

    model = str(data["root"] / name)
    result = CliRunner().invoke(cli, ["compress", "train", data["train"], "-o", model, "--kind", kind, "--latent", "4",
                                      "--size", "16x16", "--epochs", "3", "--batch-size", "16", "--seed", str(seed),
                                      "--device", "cpu", *extra])
    assert result.exit_code == 0, result.output
    return model


@pytest.fixture(scope="module")
def rd_model(data):
    return _train(data, "rd.keras", 1, ["--quality", "6"])


def _codec(path):
    from mlkit.compress import load
    from mlkit.deep.runtime import import_tf

    return load(str(path), import_tf()[1])


def test_the_coded_bits_match_the_entropy_models_estimate(rd_model, data):
    """The float density (what training minimises) against the bits the range coder writes.
    The integer tables differ from the density by their 16-bit rounding and the 1/65536 floor
    on each of at most 256 symbols (under 1 % of the mass), and the coder adds at most two
    32-bit words at the end: 3 % + 64 bits covers both with room, and still catches a coder
    that ignores the tables (uniform 8-bit symbols cost several times more here)."""
    from mlkit.compress import codec as C, entropy, rd
    from mlkit.compress.steps import read_set
    from mlkit.deep.models import load_model
    from mlkit.deep.runtime import import_tf

    codec = _codec(rd_model)
    _, values = C.quantised(codec, read_set([data["train"]]))
    offset, length, pmf = codec.tables
    groups = [(values[..., k] - offset[k]).ravel() for k in range(codec.latent)]
    coded = len(entropy.encode(groups, [pmf[k, : length[k]] for k in range(codec.latent)])) * 32
    estimate = rd.estimated_bits(load_model(rd_model, import_tf()[1], rd.custom_objects()), values)
    assert abs(coded - estimate) <= 0.03 * estimate + 64, (coded, estimate)
    assert abs(coded - entropy.bits(groups, [pmf[k, : length[k]] for k in range(codec.latent)])) <= 0.01 * coded + 64
    assert all(pmf[k, : length[k]].sum() == 1 << rd.PRECISION and pmf[k, : length[k]].min() >= 1 for k in range(codec.latent))


def test_decode_is_bit_exact_across_processes_and_with_jobs(rd_model, data, tmp_path):
    """96 digits: two batches (64 and 32 planes), so --jobs 2 runs them at once."""
    from mlkit.compress import codec as C
    from mlkit.compress.steps import read_set

    one, two = tmp_path / "one.mlz", tmp_path / "two.mlz"
    for out, jobs in ((one, "1"), (two, "2")):
        proc = run_mlkit("compress", "encode", rd_model, data["train"], "-o", out, "--jobs", jobs, "--device", "cpu")
        assert proc.returncode == 0, proc.stderr.decode()
    assert one.read_bytes() == two.read_bytes()
    codec = _codec(rd_model)
    _, values = C.quantised(codec, read_set([data["train"]]))
    _, back = C.latents(codec, one.read_bytes())
    assert back.dtype == values.dtype and np.array_equal(back, values)  # lossless w.r.t. the quantised latents
    outputs = []
    for run, jobs in (("a", "1"), ("b", "1"), ("c", "2")):
        proc = run_mlkit("compress", "decode", rd_model, one, "-o", f"{tmp_path}/{run}/", "--jobs", jobs, "--device", "cpu")
        assert proc.returncode == 0, proc.stderr.decode()
        # the pixels (the files' history differs: it holds each command line)
        outputs.append({n: cv2.imread(str(tmp_path / run / n), cv2.IMREAD_UNCHANGED).tobytes() for n in sorted(os.listdir(tmp_path / run))})
    assert len(outputs[0]) == 96 and outputs[0] == outputs[1] == outputs[2]


def test_a_container_from_another_rd_model_is_refused(rd_model, data, invoke, tmp_path):
    other = _train(data, "other.keras", 2, ["--quality", "6"])
    mlz = tmp_path / "c.mlz"
    assert invoke("compress", "encode", rd_model, data["test"], "-o", mlz, "--device", "cpu").exit_code == 0
    result = invoke("compress", "decode", other, mlz, "-o", f"{tmp_path}/out/", "--device", "cpu")
    _one_error(result, "made with another model")
    assert not (tmp_path / "out").exists()


def test_a_version_1_container_still_decodes(data, invoke, tmp_path):
    """A v1 container (levels packed by zlib/lzma) of the conv autoencoder decodes to what the
    v2 container of the same set and bits decodes to: the same levels through the same decoder."""
    import dataclasses

    from mlkit.compress import codec as C, formats
    from mlkit.compress.steps import read_set

    model = tmp_path / "ae.keras"
    assert invoke("compress", "train", data["train"], "-o", model, "--kind", "conv", "--latent", "8", "--size", "16x16",
                  "--epochs", "1", "--seed", "4", "--device", "cpu").exit_code == 0
    codec, images = _codec(model), read_set([data["test"]])
    metas, (levels, scale, offset) = C.quantised(codec, images, bits=6)
    header = {"bits": 6, "latent": 8, "size": [16, 16, 1],
              "images": [{k: v for k, v in dataclasses.asdict(m).items() if k != "nifti"} | {"shape": list(m.shape)} for m in metas]}
    old = formats.pack(codec.fingerprint, header, scale, offset, levels)
    assert old[4] == 1 and formats.unpack(old)["version"] == 1
    new = C.encode(codec, images, bits=6)
    assert new[4] == 2 and formats.unpack(new)["header"]["model"] == "ae"
    assert np.array_equal(C.latents(codec, new)[1], levels)
    for (m1, v1), (m2, v2) in zip(C.decode(codec, old), C.decode(codec, new)):
        assert m1.name == m2.name and np.array_equal(v1, v2)
    (tmp_path / "old.mlz").write_bytes(old)
    result = invoke("compress", "decode", model, tmp_path / "old.mlz", "-o", f"{tmp_path}/out/", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.listdir(data["test"]))


def test_nifti_geometry_survives_encode_and_decode(rd_model, invoke, tmp_path, example4d):
    """Both codes, the quaternion and sform rows as stored, units and every pixdim (time too)."""
    from mlkit import samples

    t1 = samples.path()
    mlz = tmp_path / "g.mlz"
    assert invoke("compress", "encode", rd_model, t1, example4d, "-o", mlz, "--fit", "--device", "cpu").exit_code == 0
    assert invoke("compress", "decode", rd_model, mlz, "-o", f"{tmp_path}/out/", "--device", "cpu").exit_code == 0
    for source in (t1, example4d):
        a = nib.load(source).header
        b = nib.load(str(tmp_path / "out" / os.path.basename(source))).header
        assert (int(b["qform_code"]), int(b["sform_code"])) == (int(a["qform_code"]), int(a["sform_code"]))
        assert b.get_xyzt_units() == a.get_xyzt_units()
        used = 1 + len(nib.load(source).shape)  # qfac and the voxel sizes (time too); NIfTI ignores the rest
        np.testing.assert_array_equal(b["pixdim"][:used], a["pixdim"][:used])
        np.testing.assert_array_equal(b.get_qform(), a.get_qform())
        np.testing.assert_array_equal(b.get_sform(), a.get_sform())
    assert nib.load(t1).header["qform_code"] == 2 and nib.load(t1).header.get_xyzt_units()[0] == "mm"


def test_a_colour_photo_into_a_grey_model_is_an_error_naming_both(rd_model, invoke, tmp_path, anatomical):
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), np.dstack([np.full((16, 16), v, np.uint8) for v in (10, 100, 200)]))
    result = invoke("compress", "encode", rd_model, photo, "-o", tmp_path / "c.mlz", "--device", "cpu")
    _one_error(result, "face: a 16x16 colour image, the model takes 16x16 grey planes")
    result = invoke("compress", "encode", rd_model, anatomical, "-o", tmp_path / "c.mlz", "--device", "cpu")
    _one_error(result, "anatomical: 33x41 grey slices, the model takes 16x16 grey planes")
    assert "--fit" in result.stderr and not (tmp_path / "c.mlz").exists()


def test_a_size_the_model_cannot_take_suggests_the_nearest_that_works(invoke, tmp_path):
    folder = tmp_path / "s25"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((25, 25), 40 * i, np.uint8))
    for kind in ("conv", "rd"):
        result = invoke("compress", "train", folder, "-o", tmp_path / "m.keras", "--kind", kind, "--device", "cpu")
        assert result.exit_code == 2 and "--size 24x24" in result.stderr, result.stderr
    assert not (tmp_path / "m.keras").exists()


def test_a_deeper_rd_model_has_a_smaller_latent_grid_and_round_trips_bit_exactly(data, invoke, tmp_path):
    """--downsample 8: three stride-2 stages, a 2x2 latent map for 16x16 digits; the stored
    integers are the quantised latents, and two decodes give the same pixels."""
    from mlkit.compress import codec as C
    from mlkit.compress.steps import read_set

    model = _train(data, "deep.keras", 3, ["--quality", "6", "--downsample", "8"])
    codec = _codec(model)
    strides = [layer.strides for layer in codec.encoder.layers if hasattr(layer, "strides")]
    assert strides.count((2, 2)) == 3 and codec.grid == (2, 2) == tuple(codec.encoder.output_shape[1:3])
    mlz = tmp_path / "d.mlz"
    assert invoke("compress", "encode", model, data["test"], "-o", mlz, "--device", "cpu").exit_code == 0
    _, values = C.quantised(codec, read_set([data["test"]]))
    box, back = C.latents(codec, mlz.read_bytes())
    assert values.shape == (6, 2, 2, 4) and box["header"]["grid"] == [2, 2] and np.array_equal(back, values)
    outputs = []
    for run in ("a", "b"):
        assert invoke("compress", "decode", model, mlz, "-o", f"{tmp_path}/{run}/", "--device", "cpu").exit_code == 0
        outputs.append({n: cv2.imread(str(tmp_path / run / n), cv2.IMREAD_UNCHANGED).tobytes() for n in sorted(os.listdir(tmp_path / run))})
    assert len(outputs[0]) == 6 and outputs[0] == outputs[1]


def test_downsample_needs_sides_that_are_its_multiples_and_the_rd_kind(data, invoke, tmp_path):
    result = invoke("compress", "train", data["train"], "-o", tmp_path / "m.keras", "--kind", "rd", "--size", "24x24",
                    "--downsample", "16", "--device", "cpu")
    assert result.exit_code == 2 and "multiples of 16" in result.stderr and "--size 16x16" in result.stderr, result.stderr
    result = invoke("compress", "train", data["train"], "-o", tmp_path / "m.keras", "--kind", "conv", "--downsample", "8",
                    "--device", "cpu")
    assert result.exit_code == 2 and "--downsample applies to --kind rd" in result.stderr, result.stderr
    assert not (tmp_path / "m.keras").exists()


def test_bd_rate_against_a_hand_computation():
    """Log-rate linear in PSNR: the cubic fit is exact, and the mean ln-rate difference over
    [lo, hi] is (a2 - a1) + (b2 - b1)(lo + hi)/2 in closed form."""
    from mlkit.compress.bd import bd_rate

    psnr1, psnr2 = np.array([28.0, 31.0, 34.0, 37.0]), np.array([30.0, 32.0, 35.0, 39.0])
    a1, b1, a2, b2 = -6.0, 0.2, -6.5, 0.21
    anchor = list(zip(np.exp(a1 + b1 * psnr1), psnr1))
    test = list(zip(np.exp(a2 + b2 * psnr2), psnr2))
    lo, hi = 30.0, 37.0
    expected = (np.exp((a2 - a1) + (b2 - b1) * (lo + hi) / 2) - 1) * 100
    assert bd_rate(test, anchor) == pytest.approx(expected, rel=1e-9)
    assert bd_rate([(r * 0.8, p) for r, p in anchor], anchor) == pytest.approx(-20.0, rel=1e-9)
    assert bd_rate([(1.0, 50.0), (2.0, 60.0)], anchor) is None  # no common PSNR range


def test_mean_and_pooled_psnr_against_numpy():
    from sklearn.datasets import load_digits

    from mlkit.compress import metrics
    from mlkit.compress.planes import Meta

    originals = np.rint(load_digits().images[:20] / 16 * 255).astype(np.uint8)
    noisy = np.clip(originals + np.random.default_rng(0).normal(0, 1, originals.shape) * np.arange(1, 21)[:, None, None],
                    0, 255).astype(np.uint8)
    meta = Meta("d", (8, 8), "uint8", None, 0.0, 255.0, False)
    scores = [metrics.score(a, b, meta) for a, b in zip(originals, noisy)]
    diff = originals.astype(np.float64) - noisy
    per_image = 10 * np.log10(255**2 / np.mean(diff**2, axis=(1, 2)))
    assert metrics.mean_psnr(scores) == pytest.approx(np.mean(per_image), rel=1e-12)
    assert metrics.pooled_psnr(scores) == pytest.approx(10 * np.log10(255**2 / np.mean(diff**2)), rel=1e-12)
    assert metrics.pooled_psnr(scores) < metrics.mean_psnr(scores) - 1  # errors that differ: the pooled PSNR is lower


def test_eval_of_several_models_draws_one_curve(rd_model, data, invoke, tmp_path):
    low = _train(data, "low.keras", 1, ["--quality", "1"])
    result = invoke("compress", "eval", f"{low},{rd_model}", data["test"], "--format", "json", "--plot", tmp_path / "rd.svg",
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    means = [r for r in rows if r["image"] == "mean"]
    assert [r["model"] for r in means] == [low, rd_model] and len(rows) == 2 * 7
    assert means[0]["avif"]["bd_rate"] == means[1]["avif"]["bd_rate"]  # one curve, one BD-rate per codec
    assert (tmp_path / "rd.svg").read_bytes().lstrip().startswith((b"<?xml", b"<svg"))


@pytest.mark.parametrize("index, value, message", [
    ((1, 0), 300, "the latents' lengths run past"),
    ((2, (0, 0)), 0, "the latents' probabilities are not positive integers summing to 2**16"),
    ((0, 1), 1 << 30, "the latents' offsets are not within"),
])
def test_forged_entropy_tables_in_an_rd_model_are_refused_when_it_loads(rd_model, data, invoke, tmp_path, index, value,
                                                                       message):
    """A table that runs past its row, holds a zero (so no longer sums to 2**16) or sits at an
    absurd offset: one line naming the model file, nothing written (it was coded with before)."""
    from mlkit.compress import hyper
    from mlkit.deep.models import load_model, save_model
    from mlkit.deep.runtime import import_tf

    model = load_model(rd_model, import_tf()[1], hyper.custom_objects())
    prior = model.get_layer("prior")
    weights = [prior.offset, prior.length, prior.pmf]
    which, where = index
    forged = weights[which].numpy().copy()
    forged[where] = value
    weights[which].assign(forged)
    path = tmp_path / "forged.keras"
    save_model(model, path)
    result = invoke("compress", "encode", path, data["test"], "-o", tmp_path / "f.mlz", "--device", "cpu")
    _one_error(result, message)
    assert str(path) in result.stderr and not (tmp_path / "f.mlz").exists()
