"""The fast mode's training pictures: any folder of photos (COCO is what the papers use), read
as the steps need them, each resized and cropped at random to a square of the training size.

Which photos a step sees and how they are cut depend only on the run's seed and the step: epoch
e visits the photos in a permutation drawn from (seed, e), and the n-th picture of the run is
cut with a generator drawn from (seed, n). So a resumed run sees exactly the batches a straight
run would, with nothing saved.
"""

import numpy as np

from mlkit import ui
from mlkit.errors import MlkitError
from mlkit.style import images

ZOOM = 1.25  # the shorter side is scaled to between 1 and this times the crop before cropping


class Photos:
    """The photos found in `specs` (files, folders searched recursively, globs)."""

    def __init__(self, specs, size, batch_size, seed):
        from mlkit.deep.data import find_images

        self.paths = find_images(specs)
        if len(self.paths) < batch_size:
            raise MlkitError(f"{len(self.paths)} photos in {' '.join(specs)}, fewer than --batch-size {batch_size}",
                             "give more photos or lower --batch-size")
        self.size, self.batch_size, self.seed = int(size), int(batch_size), int(seed)
        self._orders, self._bad = {}, set()

    def __len__(self):
        return len(self.paths)

    def order(self, epoch):
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, 0, epoch]).permutation(len(self.paths))}
        return self._orders[epoch]

    def batch(self, step):
        """The batch of (0-based) step `step`: batch_size x size x size x 3 float32, RGB 0-255."""
        step = int(step)
        out = np.empty((self.batch_size, self.size, self.size, 3), np.float32)
        for i in range(self.batch_size):
            n = step * self.batch_size + i
            epoch, at = divmod(n, len(self.paths))
            out[i] = self.cut(self.order(epoch)[at], np.random.default_rng([self.seed, 1, n]))
        return out

    def cut(self, index, rng):
        """Photo `index` (or, when it cannot be read, the next readable one) resized so its
        shorter side is 1 to ZOOM times the size, then cropped at random to size x size."""
        picture = self.read(index)
        h, w = picture.shape[:2]
        scale = self.size * rng.uniform(1.0, ZOOM) / min(h, w)
        shape = (max(self.size, round(h * scale)), max(self.size, round(w * scale)))
        picture = images.resize_to(picture, shape)
        top, left = rng.integers(0, shape[0] - self.size + 1), rng.integers(0, shape[1] - self.size + 1)
        return picture[top : top + self.size, left : left + self.size]

    def read(self, index):
        for k in range(len(self.paths)):
            path = self.paths[(index + k) % len(self.paths)]
            if path in self._bad:
                continue
            try:
                return picture_of(path)
            except MlkitError as exc:
                self._bad.add(path)
                ui.warn(f"{path}: skipped: {exc.message}")
        raise MlkitError("none of the training photos can be read", "give a folder of 2D pictures (png, jpg, tif)")


def picture_of(path):
    """The one 2D picture in a file, as RGB 0-255 floats."""
    from mlkit.io.read import read_images

    found = list(read_images(path))
    if len(found) != 1:
        raise MlkitError(f"holds {len(found)} images, expected one picture")
    return images.rgb(found[0])[0]
