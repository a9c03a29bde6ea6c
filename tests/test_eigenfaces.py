"""eigenfaces: agreement with scikit-learn, detection AUC on LFW, recognition, safe model files."""

import json
import os
import zipfile

import cv2
import numpy as np
import pytest
import skimage.data
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from conftest import measured, run_mlkit
from mlkit.faces import (components, detect_files, face_distance, load_model, prepare, recognize, recognize_files, reconstruct,
                         save_model, train, train_files)
from mlkit.errors import MlkitError
from mlkit.io import Image, write_image

LFW = skimage.data.lfw_subset()  # 100 faces then 100 non-faces, 25x25


@pytest.fixture
def lfw_dirs(tmp_path):
    for kind, start in (("faces", 0), ("non", 100)):
        (tmp_path / kind).mkdir()
        for i in range(100):
            cv2.imwrite(str(tmp_path / kind / f"{kind}{i:03d}.png"), (LFW[start + i] * 255).round().astype(np.uint8))
    return tmp_path


@pytest.mark.parametrize("normalize", [True, False])
def test_agrees_with_sklearn_pca(normalize):
    X = prepare(LFW[:60], (25, 25), normalize)
    mean, faces, values = components(X)
    pca = PCA().fit(X)
    r = len(values)
    np.testing.assert_allclose(values, pca.explained_variance_[:r], rtol=1e-6, atol=1e-12 * values[0])
    np.testing.assert_allclose(mean, pca.mean_, atol=1e-12)
    for k in (5, 20, 40):
        ours, theirs = faces[:k].T, pca.components_[:k].T
        np.testing.assert_allclose(ours @ ours.T, theirs @ theirs.T, atol=1e-6)  # same subspace


def test_snapshot_and_direct_paths_agree():
    X = prepare(LFW[:60], (6, 5))  # 30 pixels < 60 images: the direct path
    mean, faces, values = components(X)
    pca = PCA().fit(X)
    np.testing.assert_allclose(values, pca.explained_variance_[: len(values)], rtol=1e-6)


def test_choosing_k():
    X = prepare(LFW[:60], (25, 25))
    assert train(X, ["a"] * 60, (25, 25), k=7).k == 7
    model = train(X, ["a"] * 60, (25, 25), variance=0.8)
    share = np.cumsum(model.eigenvalues) / model.eigenvalues.sum()
    assert share[model.k - 1] >= 0.8 > share[model.k - 2]
    assert train(X, ["a"] * 60, (25, 25), min_eigenvalue=20).k == (model.eigenvalues > 20).sum()


def test_detection_auc_on_lfw_with_defaults(lfw_dirs, tmp_path):
    model = tmp_path / "m.npz"
    train_set = [str(lfw_dirs / "faces" / f"faces{i:03d}.png") for i in range(60)]
    assert run_mlkit("eigenfaces", "train", *train_set, "-o", model, "--size", "25x25").returncode == 0
    held = [str(lfw_dirs / "faces" / f"faces{i:03d}.png") for i in range(60, 100)]
    faces = json.loads(run_mlkit("eigenfaces", "detect", model, *held).stdout)
    others = json.loads(run_mlkit("eigenfaces", "detect", model, lfw_dirs / "non").stdout)
    scores = [-f["face_distance"] for f in faces + others]
    truth = [1] * len(faces) + [0] * len(others)
    assert roc_auc_score(truth, scores) >= 0.9
    assert np.mean([f["is_face"] for f in faces]) > 0.8


def test_calibrated_threshold_separates(lfw_dirs, tmp_path):
    model = tmp_path / "m.npz"
    run_mlkit("eigenfaces", "train", *[lfw_dirs / "faces" / f"faces{i:03d}.png" for i in range(50)], "-o", model, "--size", "25x25")
    calib_faces = f"{lfw_dirs}/faces/faces0[5-6]*.png"
    calib_non = f"{lfw_dirs}/non/non0[0-4]*.png"
    proc = run_mlkit("eigenfaces", "detect", model, f"{lfw_dirs}/faces/faces0[7-9]*.png", f"{lfw_dirs}/non/non0[5-9]*.png",
                     "--calibrate", calib_faces, calib_non, "--format", "csv")
    assert proc.returncode == 0 and b"calibrated threshold" in proc.stderr
    rows = [line.split(",") for line in proc.stdout.decode().strip().splitlines()[1:]]
    faces = [r[2] == "True" for r in rows if r[0].startswith("faces")]
    non = [r[2] == "True" for r in rows if r[0].startswith("non")]
    assert (np.mean(faces) + (1 - np.mean(non))) / 2 > 0.75  # balanced accuracy on unseen images


def labelled_views(identities=20, views=8, seed=0):
    """A labelled face set built offline: each LFW face is one identity, seen in
    several augmented views (small rotations, shifts, scale, brightness, noise)."""
    from mlkit.augment import Options, augment
    from mlkit.augment.policy import Policy

    policy = Policy(enabled=("rotate", "translate", "scale", "intensity", "noise"), mode="all", rotate=(-8, 8),
                    translate=(-1.5, 1.5), scale=(0.95, 1.05), intensity=(0.9, 1.1), noise=(0, 0.02))
    images, labels = [], []
    for person in range(identities):
        img = Image(data=LFW[person].astype(np.float32), format="png")
        for copy, _ in augment(img, None, views, np.random.SeedSequence([seed, person]), Options(policy=policy, order=3)):
            images.append(copy.data)
            labels.append(f"p{person:02d}")
    return images, np.array(labels)


def test_recognition_accuracy_on_a_labelled_set():
    images, labels = labelled_views()
    train_idx = [i for i in range(len(images)) if i % 8 < 5]
    test_idx = [i for i in range(len(images)) if i % 8 >= 5]
    model = train(prepare([images[i] for i in train_idx], (25, 25)), labels[train_idx], (25, 25))
    found, _, _, _ = recognize(model, prepare([images[i] for i in test_idx], (25, 25)))
    accuracy = (found == labels[test_idx]).mean()
    assert accuracy >= 0.9, accuracy


def test_training_faces_are_recognised_as_themselves():
    X = prepare(LFW[:40], (25, 25))
    model = train(X, [f"p{i}" for i in range(40)], (25, 25))
    found, dist, _, _ = recognize(model, X)
    assert list(found) == [f"p{i}" for i in range(40)]
    np.testing.assert_allclose(dist, 0, atol=1e-9)


def test_full_reconstruction_is_exact_for_training_images():
    X = prepare(LFW[:30], (25, 25))
    model = train(X, ["a"] * 30, (25, 25), k=29)
    np.testing.assert_allclose(reconstruct(model, X), X, atol=1e-9)
    assert face_distance(model, X).shape == (30,)


def test_nifti_stack_counts_as_a_set(tmp_path, lfw_dirs):
    stack = np.stack([(LFW[i] * 255).round().astype(np.uint8) for i in range(30)], axis=-1)
    write_image(Image(data=stack), str(tmp_path / "stack.nii.gz"))
    assert run_mlkit("eigenfaces", "train", tmp_path / "stack.nii.gz", "-o", tmp_path / "a.npz", "--size", "25x25", "-k", "10").returncode == 0
    pngs = [lfw_dirs / "faces" / f"faces{i:03d}.png" for i in range(30)]
    assert run_mlkit("eigenfaces", "train", *pngs, "-o", tmp_path / "b.npz", "--size", "25x25", "-k", "10").returncode == 0
    a, b = load_model(str(tmp_path / "a.npz")), load_model(str(tmp_path / "b.npz"))
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-9)
    assert len(a.labels) == 30


def test_labels_from_folders_and_csv(tmp_path):
    for person in ("ann", "bob"):
        (tmp_path / "people" / person).mkdir(parents=True)
        for i in range(6):
            cv2.imwrite(str(tmp_path / "people" / person / f"{person}{i}.png"), (LFW[i + (0 if person == "ann" else 10)] * 255).astype(np.uint8))
    assert run_mlkit("eigenfaces", "train", tmp_path / "people", "-o", tmp_path / "m.npz", "--size", "25x25").returncode == 0
    assert sorted(set(load_model(str(tmp_path / "m.npz")).labels)) == ["ann", "bob"]
    rows = "image,label\n" + "".join(f"{p}{i}.png,{p.upper()}\n" for p in ("ann", "bob") for i in range(6))
    (tmp_path / "labels.csv").write_text(rows)
    run_mlkit("eigenfaces", "train", tmp_path / "people", "-o", tmp_path / "n.npz", "--size", "25x25", "--labels", tmp_path / "labels.csv")
    assert sorted(set(load_model(str(tmp_path / "n.npz")).labels)) == ["ANN", "BOB"]
    out = json.loads(run_mlkit("eigenfaces", "recognize", tmp_path / "m.npz", tmp_path / "people" / "bob" / "bob3.png").stdout)
    assert out[0]["label"] == "bob" and out[0]["distance"] < 1e-6  # a list for one probe too (issue 9)


class Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickled_model_is_refused_without_running_it(tmp_path):
    path = tmp_path / "evil.npz"
    save_model(train(prepare(LFW[:20], (25, 25)), ["a"] * 20, (25, 25)), str(path))
    with np.load(path) as npz:
        fields = dict(npz)
    fields["labels"] = np.array([Boom()] * 20, dtype=object)  # unpickling this would run a shell command
    np.savez(path, **fields)
    proc = run_mlkit("eigenfaces", "detect", path, "x.png", cwd=tmp_path)
    assert proc.returncode == 1
    assert b"not a valid eigenfaces model" in proc.stderr
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("case", ["missing", "shapes", "garbage"])
def test_malformed_models(tmp_path, case):
    path = tmp_path / "bad.npz"
    if case == "missing":
        np.savez(path, mean=np.zeros(4))
    elif case == "shapes":
        X = prepare(LFW[:20], (25, 25))
        save_model(train(X, ["a"] * 20, (25, 25)), str(path))
        with np.load(path) as npz:
            fields = dict(npz)
        fields["eigenfaces"] = fields["eigenfaces"][:, :10]
        np.savez(path, **fields)
    else:
        path.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(MlkitError):
        load_model(str(path))
    proc = run_mlkit("eigenfaces", "show", path, "-o", tmp_path / "m.png")
    assert proc.returncode == 1 and len(proc.stderr.decode().strip().splitlines()) == 1
    assert not (tmp_path / "m.png").exists()


def test_reconstruct_and_show(tmp_path, lfw_dirs):
    model = tmp_path / "m.npz"
    run_mlkit("eigenfaces", "train", *[lfw_dirs / "faces" / f"faces{i:03d}.png" for i in range(40)], "-o", model, "--size", "25x25")
    proc = run_mlkit("eigenfaces", "reconstruct", model, lfw_dirs / "faces" / "faces001.png", lfw_dirs / "non" / "non001.png", "-o", f"{tmp_path}/rec/")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path / "rec")) == ["faces001_error.png", "faces001_recon.png", "non001_error.png", "non001_recon.png"]
    # with every eigenface, a training image comes back up to rounding
    full = tmp_path / "full.npz"
    run_mlkit("eigenfaces", "train", *[lfw_dirs / "faces" / f"faces{i:03d}.png" for i in range(40)], "-o", full, "--size", "25x25", "-k", "39")
    run_mlkit("eigenfaces", "reconstruct", full, lfw_dirs / "faces" / "faces001.png", "-o", f"{tmp_path}/full/")
    original = cv2.imread(str(lfw_dirs / "faces" / "faces001.png"), 0).astype(int)
    assert np.abs(cv2.imread(str(tmp_path / "full" / "faces001_recon.png"), 0) - original).max() <= 1
    assert cv2.imread(str(tmp_path / "full" / "faces001_error.png"), 0).max() <= 1
    proc = run_mlkit("eigenfaces", "show", model, "-o", tmp_path / "mosaic.png", "--scree", tmp_path / "scree.png", "--count", "7")
    assert proc.returncode == 0
    assert cv2.imread(str(tmp_path / "mosaic.png"), 0).shape == (27, 8 * 27)
    assert (tmp_path / "scree.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = run_mlkit("eigenfaces", "show", model, "-o", tmp_path / "m2.png", "--scree", tmp_path / "scree.jpg")
    assert proc.returncode == 2 and "PNG, SVG or PDF" in proc.stderr.decode()
    assert not (tmp_path / "scree.jpg").exists() and not (tmp_path / "m2.png").exists()  # refused before anything is drawn


def test_scree_bars_are_sklearns_explained_variance_ratios(tmp_path):
    from mlkit import plots
    from mlkit.faces import scree
    from mlkit.faces.plot import write_scree

    X = prepare(LFW[:60], (25, 25))
    model = train(X, [f"p{i % 4}" for i in range(60)], (25, 25), variance=0.9)
    ratio = PCA().fit(X).explained_variance_ratio_
    ax = scree(model).axes[0]
    bars = np.array([bar.get_height() for bar in ax.patches])
    assert len(bars) == len(model.eigenvalues) == 59  # 60 images: 59 components
    np.testing.assert_allclose(bars, ratio[:59], rtol=1e-6, atol=1e-12)
    total = ax.lines[0].get_ydata()
    np.testing.assert_allclose(total, np.cumsum(ratio[:59]), rtol=1e-6)
    assert ax.lines[1].get_xdata()[0] == model.k and total[model.k - 1] >= 0.9 > total[model.k - 2]  # the k kept
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cumulative", f"k = {model.k} kept: {total[model.k - 1]:.1%}",
                                                                   "each eigenface"]
    plots.pyplot().close(ax.figure)
    for name in ("a.svg", "b.svg"):
        write_scree(model, tmp_path / name)
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


# --- issue 9: model files validated field by field, probes that keep going ---------------------------


def saved_model(path, n=20):
    save_model(train(prepare(LFW[:n], (25, 25)), [f"p{i % 4}" for i in range(n)], (25, 25)), str(path))
    with np.load(path) as npz:
        return dict(npz)


def write_members(path, members):
    """An .npz whose members are raw bytes (to lie in a header, or truncate the data)."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, data in members.items():
            archive.writestr(key + ".npy", data)


def npy_bytes(array):
    buf = __import__("io").BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def one_error(proc):
    lines = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and b"Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_a_2mb_model_declaring_a_2gb_array_is_refused_at_once(tmp_path):
    import subprocess

    from numpy.lib import format as npy

    fields = saved_model(tmp_path / "m.npz")
    members = {k: npy_bytes(v) for k, v in fields.items()}
    header = __import__("io").BytesIO()
    npy.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (1 << 14, 1 << 14)})
    members["weights"] = header.getvalue() + bytes(2 << 20)  # declares 2 GiB, holds 2 MiB
    write_members(tmp_path / "bomb.npz", members)
    assert (tmp_path / "bomb.npz").stat().st_size < 3 << 20
    cv2.imwrite(str(tmp_path / "probe.png"), (LFW[0] * 255).astype(np.uint8))
    code, err, cpu_s, peak_mib = measured(["eigenfaces", "recognize", "bomb.npz", "probe.png"], tmp_path)
    line = one_error(subprocess.CompletedProcess([], code, b"", err.encode()))
    # 2 GiB as stored, and 2 GiB more as the float64 copy loading makes: both count
    assert line.startswith("mlkit eigenfaces recognize: error: bomb.npz: model member weights") and "4.0 GiB, over the 1.0 GiB limit" in line
    assert "MLKIT_MAX_IMAGE_BYTES=5G" in line
    assert peak_mib < 300, peak_mib
    assert cpu_s < 2, cpu_s  # CPU seconds, start-up included (wall time varies with the load)


def test_a_compressed_member_over_the_limit_is_refused_before_inflating(tmp_path):
    fields = saved_model(tmp_path / "m.npz")
    fields["weights"] = np.zeros((1000, 1100))  # 8.8 MB, a few KB compressed
    np.savez_compressed(tmp_path / "big.npz", **fields)
    line = one_error(run_mlkit("eigenfaces", "show", "big.npz", "-o", "m.png", cwd=tmp_path,
                               env={**os.environ, "MLKIT_MAX_IMAGE_BYTES": "1M"}))
    assert "over the 1.0 MiB limit" in line and "MLKIT_MAX_IMAGE_BYTES" in line
    assert not (tmp_path / "m.png").exists()


def _mutate(fields, case):
    if case == "truncated":
        return {k: npy_bytes(v) for k, v in fields.items()} | {"mean": npy_bytes(fields["mean"])[:200]}
    if case == "corrupt header":
        return {k: npy_bytes(v) for k, v in fields.items()} | {"mean": b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8', 'fo"}
    key, value = {
        "nan threshold": ("face_threshold", np.float64("nan")),
        "negative threshold": ("class_threshold", np.float64(-1)),
        "float detect_k": ("detect_k", np.float64("nan")),
        "detect_k too big": ("detect_k", np.int64(99)),
        "nan size": ("size", np.array([np.nan, 25.0])),
        "three sizes": ("size", np.array([25, 25, 1])),
        "size and mean disagree": ("size", np.array([20, 25])),
        "nan in mean": ("mean", np.where(np.arange(625) == 3, np.nan, fields["mean"])),
        "inf in eigenfaces": ("eigenfaces", fields["eigenfaces"] * np.inf),
        "negative eigenvalue": ("eigenvalues", -fields["eigenvalues"]),
        "integer labels": ("labels", np.arange(20)),
        "weights for fewer labels": ("weights", fields["weights"][:5]),
        "1-D eigenfaces": ("eigenfaces", fields["eigenfaces"][0]),
        "text normalize": ("normalize", np.array("yes")),
    }[case]
    return {k: npy_bytes(v) for k, v in {**fields, key: value}.items()}


MALFORMED = ["truncated", "corrupt header", "nan threshold", "negative threshold", "float detect_k", "detect_k too big",
             "nan size", "three sizes", "size and mean disagree", "nan in mean", "inf in eigenfaces", "negative eigenvalue",
             "integer labels", "weights for fewer labels", "1-D eigenfaces", "text normalize"]


@pytest.mark.parametrize("case", MALFORMED)
def test_each_malformed_field_is_one_line(tmp_path, case):
    write_members(tmp_path / "bad.npz", _mutate(saved_model(tmp_path / "m.npz"), case))
    cv2.imwrite(str(tmp_path / "probe.png"), (LFW[0] * 255).astype(np.uint8))
    with pytest.raises(MlkitError):
        load_model(str(tmp_path / "bad.npz"))
    line = one_error(run_mlkit("eigenfaces", "recognize", "bad.npz", "probe.png", cwd=tmp_path))
    assert line.startswith("mlkit eigenfaces recognize: error: bad.npz: ")
    assert ("not a valid eigenfaces model" in line or "cannot read the model" in line) and "np." not in line


def test_a_small_training_set_keeps_its_unbounded_thresholds(tmp_path):
    saved_model(tmp_path / "m.npz", n=6)  # under 10 images: no held-out set, thresholds are +inf
    model = load_model(str(tmp_path / "m.npz"))
    assert model.face_threshold == np.inf and model.class_threshold == np.inf


def assert_same_rows(rows, others):
    """Equal up to BLAS rounding (a batch of one and of two sum in another order)."""
    assert len(rows) == len(others)
    for row, other in zip(rows, others):
        assert row.keys() == other.keys()
        for key, value in row.items():
            assert value == (pytest.approx(other[key], rel=1e-12) if isinstance(value, float) else other[key])


@pytest.fixture
def probes(tmp_path):
    saved_model(tmp_path / "m.npz", n=40)
    for i in (40, 41):
        cv2.imwrite(str(tmp_path / f"good{i}.png"), (LFW[i] * 255).astype(np.uint8))
    np.save(tmp_path / "nan.npy", np.where(np.eye(25, dtype=bool), np.nan, LFW[42]))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    return tmp_path


@pytest.mark.parametrize("sub", ["recognize", "detect"])
def test_bad_probes_are_reported_and_the_others_kept(probes, sub):
    proc = run_mlkit("eigenfaces", sub, "m.npz", "good40.png", "nan.npy", "broken.png", "missing.png", "good41.png", cwd=probes)
    assert proc.returncode == 1
    prefix = f"mlkit eigenfaces {sub}: error:"
    errors = [line for line in proc.stderr.decode().splitlines() if line.startswith(prefix)]
    assert errors[0].startswith(f"{prefix} nan.npy: ") and "NaN or infinite" in errors[0]
    assert errors[1].startswith(f"{prefix} broken.png: ")
    assert errors[2].startswith(f"{prefix} missing.png: ")
    assert errors[3] == f"{prefix} 3 of 5 inputs failed" and len(errors) == 4
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == ["good40", "good41"]
    # the same numbers as when the good ones come alone
    alone = json.loads(run_mlkit("eigenfaces", sub, "m.npz", "good40.png", "good41.png", cwd=probes, check=True).stdout)
    assert_same_rows(rows, alone)
    csv_rows = run_mlkit("eigenfaces", sub, "m.npz", "good40.png", "nan.npy", "--format", "csv", cwd=probes).stdout.decode().splitlines()
    assert len(csv_rows) == 2 and csv_rows[1].startswith("good40,")


@pytest.mark.parametrize("sub", ["recognize", "detect"])
def test_json_output_has_one_shape(probes, sub):
    one = json.loads(run_mlkit("eigenfaces", sub, "m.npz", "good40.png", cwd=probes, check=True).stdout)
    two = json.loads(run_mlkit("eigenfaces", sub, "m.npz", "good40.png", "good41.png", cwd=probes, check=True).stdout)
    assert isinstance(one, list) and len(one) == 1 and len(two) == 2
    assert_same_rows(one, two[:1])
    none = run_mlkit("eigenfaces", sub, "m.npz", "nan.npy", cwd=probes)
    assert json.loads(none.stdout) == [] and len(none.stderr.decode().strip().splitlines()) == 1


def test_nan_image_in_training_is_one_line(probes):
    line = one_error(run_mlkit("eigenfaces", "train", "good40.png", "good41.png", "nan.npy", "-o", "x.npz", cwd=probes))
    assert line.startswith("mlkit eigenfaces train: error: nan.npy: ") and "NaN" in line
    assert not (probes / "x.npz").exists()


def test_nan_threshold_option_is_a_usage_error(probes):
    proc = run_mlkit("eigenfaces", "detect", "m.npz", "good40.png", "--threshold", "nan", cwd=probes)
    assert proc.returncode == 2 and b"--threshold" in proc.stderr


@pytest.mark.parametrize("kind", ["identical", "blank"])
def test_images_that_do_not_vary_cannot_be_trained_on(tmp_path, kind):
    image = (LFW[0] * 255).astype(np.uint8) if kind == "identical" else np.zeros((25, 25), np.uint8)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"same{i}.png"), image)
    line = one_error(run_mlkit("eigenfaces", "train", "same0.png", "same1.png", "same2.png", "-o", "m.npz", cwd=tmp_path))
    assert "do not vary" in line and not (tmp_path / "m.npz").exists()


def test_reconstruct_refuses_a_nan_image_and_writes_the_others(probes):
    proc = run_mlkit("eigenfaces", "reconstruct", "m.npz", "nan.npy", "good40.png", "-o", "rec/", cwd=probes)
    assert proc.returncode == 1 and b"nan.npy: " in proc.stderr and b"NaN or infinite" in proc.stderr
    assert sorted(os.listdir(probes / "rec")) == ["good40_error.png", "good40_recon.png"]


@pytest.mark.parametrize("case", ["missing", "truncated", "flipped bytes"])
def test_unreadable_model_files_are_one_line(tmp_path, case):
    fields = saved_model(tmp_path / "m.npz")
    np.savez_compressed(tmp_path / "c.npz", **fields)
    data = (tmp_path / "c.npz").read_bytes()
    if case == "truncated":
        (tmp_path / "bad.npz").write_bytes(data[: len(data) // 2])
    elif case == "flipped bytes":
        middle = len(data) // 3
        (tmp_path / "bad.npz").write_bytes(data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 64]) + data[middle + 64 :])
    line = one_error(run_mlkit("eigenfaces", "show", "bad.npz", "-o", "m.png", cwd=tmp_path))
    assert line.startswith("mlkit eigenfaces show: error: bad.npz: ") and not (tmp_path / "m.png").exists()


# --- issue 10: the library and the CLI give the same result for the same parameters ---------------


@pytest.mark.parametrize("sub", ["recognize", "detect"])
def test_library_on_a_probe_set_equals_the_cli_json(probes, sub):
    files = [str(probes / n) for n in ("good40.png", "nan.npy", "good41.png")]
    calls = {"recognize": recognize_files, "detect": detect_files}
    result = calls[sub](load_model(str(probes / "m.npz")), files, threshold=0.5)
    proc = run_mlkit("eigenfaces", sub, "m.npz", *files, "--threshold", "0.5", "--format", "json", cwd=probes)
    assert json.loads(proc.stdout) == result.rows and [r["name"] for r in result.rows] == ["good40", "good41"]
    assert proc.returncode == 1 and len(result.failures) == 1 and result.inputs == 3
    assert f"error: {result.failures[0]}" in proc.stderr.decode()


def test_library_training_equals_the_cli(lfw_dirs, tmp_path):
    faces = [str(lfw_dirs / "faces" / f"faces{i:03d}.png") for i in range(30)]
    run_mlkit("eigenfaces", "train", *faces, "-o", tmp_path / "cli.npz", "--size", "20x25", "-k", "12", check=True)
    ours = train_files(faces, str(tmp_path / "lib.npz"), size=(25, 20), k=12)
    cli, saved = load_model(str(tmp_path / "cli.npz")), load_model(str(tmp_path / "lib.npz"))
    assert cli.size == ours.size == (25, 20) and cli.k == ours.k == 12
    for field in ("mean", "eigenfaces", "eigenvalues", "weights", "labels"):
        np.testing.assert_array_equal(getattr(cli, field), getattr(ours, field))
        np.testing.assert_array_equal(getattr(saved, field), getattr(ours, field))
    assert (cli.detect_k, cli.face_threshold, cli.class_threshold) == (ours.detect_k, ours.face_threshold, ours.class_threshold)


def test_two_rules_for_k_are_a_usage_error_in_the_library_too(probes):
    from mlkit.errors import UsageError

    with pytest.raises(UsageError):
        train(prepare(LFW[:12], (25, 25)), ["a"] * 12, (25, 25), k=3, variance=0.9)
    proc = run_mlkit("eigenfaces", "train", "good40.png", "good41.png", "-o", "x.npz", "-k", "3", "--variance", "0.9", cwd=probes)
    assert proc.returncode == 2 and b"give one of -k" in proc.stderr and not (probes / "x.npz").exists()


def test_size_takes_width_by_height(probes):
    proc = run_mlkit("eigenfaces", "train", "good40.png", "good41.png", "-o", "x.npz", "--size", "25by20", cwd=probes)
    assert proc.returncode == 2 and b"--size" in proc.stderr and not (probes / "x.npz").exists()
