"""eigenfaces: agreement with scikit-learn, detection AUC on LFW, recognition, safe model files."""

import json
import os
import pickle
import zipfile

import cv2
import numpy as np
import pytest
import skimage.data
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from conftest import run_mlkit
from mlkit.eigenfaces import components, face_distance, load_model, prepare, recognize, reconstruct, train
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
    assert out["label"] == "bob" and out["distance"] < 1e-6


class Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickled_model_is_refused_without_running_it(tmp_path):
    path = tmp_path / "evil.npz"
    train(prepare(LFW[:20], (25, 25)), ["a"] * 20, (25, 25)).save(str(path))
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
        train(X, ["a"] * 20, (25, 25)).save(str(path))
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
    assert cv2.imread(str(tmp_path / "scree.png")).shape == (400, 640, 3)
