"""Training a face space: mlkit eigenfaces (snapshot trick) vs scikit-learn PCA, and the
recognition accuracy on a labelled set built offline from LFW faces.

    PYTHONPATH=. python benchmarks/eigenfaces_vs_sklearn.py
"""

import os
import sys

import numpy as np
import skimage.data
from sklearn.decomposition import PCA

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import median_time  # noqa: E402

from mlkit.faces import components, prepare, recognize, train  # noqa: E402


def training_time():
    """400 images of 112x92 (the size of the ORL/AT&T set), from skimage photos."""
    rng = np.random.default_rng(0)
    photos = [skimage.data.camera(), skimage.data.astronaut()[..., 0], skimage.data.coffee()[..., 1]]
    crops = []
    for _ in range(400):
        photo = photos[rng.integers(3)]
        y, x = rng.integers(0, photo.shape[0] - 112), rng.integers(0, photo.shape[1] - 92)
        crops.append(photo[y : y + 112, x : x + 92])
    X = prepare(crops, (112, 92))
    labels = [str(i % 40) for i in range(400)]
    ours = median_time(lambda: train(X, labels, (112, 92)), repeats=5)
    core = median_time(lambda: components(X), repeats=5)
    full = median_time(lambda: PCA(svd_solver="full").fit(X), repeats=3)
    auto = median_time(lambda: PCA().fit(X), repeats=3)
    print(f"train on 400 images of 112x92, {os.cpu_count()} cores, medians:")
    print("| step | time | vs mlkit eigen-decomposition |\n| --- | --- | --- |")
    print(f"| mlkit `train` (eigen-decomposition + held-out thresholds) | {ours * 1e3:.0f} ms | {ours / core:.2f}x |")
    print(f"| mlkit eigen-decomposition (snapshot, 400x400) | {core * 1e3:.0f} ms | 1.00x |")
    print(f"| scikit-learn PCA(svd_solver='full') | {full * 1e3:.0f} ms | {full / core:.2f}x |")
    print(f"| scikit-learn PCA() (auto) | {auto * 1e3:.0f} ms | {auto / core:.2f}x |")


def recognition_accuracy():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from test_eigenfaces import labelled_views

    images, labels = labelled_views(identities=50, views=8)
    train_idx = [i for i in range(len(images)) if i % 8 < 5]
    test_idx = [i for i in range(len(images)) if i % 8 >= 5]
    model = train(prepare([images[i] for i in train_idx], (25, 25)), labels[train_idx], (25, 25))
    found, _, _, unknown = recognize(model, prepare([images[i] for i in test_idx], (25, 25)))
    accuracy = (found == labels[test_idx]).mean()
    print(f"\nrecognition: 50 LFW identities x 8 augmented views, train on 5, test on 3: "
          f"accuracy {accuracy:.1%} ({len(test_idx)} probes, k={model.k}), {unknown.mean():.1%} flagged unknown")


if __name__ == "__main__":
    training_time()
    recognition_accuracy()
