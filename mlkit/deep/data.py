"""Image sets for training: folders, globs, 2D images and the 2D slices of 3D/4D volumes,
scaled, resized to one size, and fed to TensorFlow in a seeded, resumable order."""

import os

import numpy as np

from mlkit import ui
from mlkit.errors import MlkitError
from mlkit.io import limits

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".nii", ".nii.gz", ".npy", ".mgz")


def find_images(specs, recursive=True):
    """Files from files, folders (searched recursively) and globs, in a stable order."""
    from mlkit.io.inputs import expand_inputs

    paths = []
    for spec in specs:
        if recursive and os.path.isdir(spec):
            paths.extend(_walk(spec))
        else:
            paths.extend(expand_inputs([spec]))
    if not paths:
        raise MlkitError(f"no images found in {' '.join(specs)}", "give image files, folders or globs")
    return paths


def _walk(folder):
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files) if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES)]
    return found


def planes(img, slice_axis=2):
    """2D planes (H x W x C, float32 in [0, 1]) of an image: the photo itself, or the non-empty
    slices of a volume along `slice_axis`, intensities scaled per volume."""
    data = np.asarray(img.data)
    if img.channels or data.ndim == 2:
        plane = data if data.ndim == 3 else data[..., None]
        return [_unit_range(plane.astype(np.float32), data.dtype)]
    volume = data.reshape(data.shape[:3] + (-1,)) if data.ndim > 3 else data[..., None]
    if not 0 <= slice_axis < 3:
        raise MlkitError(f"--slice-axis {slice_axis} is not 0, 1 or 2")
    scaled = _robust_unit(volume.astype(np.float32))
    out = []
    for t in range(volume.shape[3]):
        for k in range(volume.shape[slice_axis]):
            plane = np.take(scaled[..., t], k, axis=slice_axis)
            if np.ptp(plane) > 0:
                out.append(plane[..., None])
    return out


def _unit_range(plane, dtype):
    if np.issubdtype(dtype, np.integer):
        return plane / float(np.iinfo(dtype).max)
    if dtype == bool:
        return plane
    return _robust_unit(plane)


def _robust_unit(values):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros_like(values)
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    scale = hi - lo if hi > lo else 1.0
    return np.clip(np.nan_to_num((values - lo) / scale, nan=0.0), 0.0, 1.0).astype(np.float32)


def fit_size(plane, size, mode="crop"):
    """`plane` at size (h, w): centre-cropped to the aspect ratio first ('crop') or stretched."""
    import cv2

    h, w = size
    if mode == "crop":
        plane = _centre_crop(plane, h / w)
    shrink = plane.shape[0] > h or plane.shape[1] > w
    out = cv2.resize(plane, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out.reshape(h, w, -1)


def _centre_crop(plane, aspect):
    height, width = plane.shape[:2]
    if height / width > aspect:
        keep = max(1, round(width * aspect))
        top = (height - keep) // 2
        return plane[top : top + keep]
    keep = max(1, round(height / aspect))
    left = (width - keep) // 2
    return plane[:, left : left + keep]


def to_channels(plane, channels):
    if plane.shape[2] == channels:
        return plane
    if channels == 1:
        return (plane[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    gray = plane[..., :1]
    return np.repeat(gray, 3, axis=2) if plane.shape[2] < 3 else plane[..., :3]


def load_image_set(specs, size, channels="auto", slice_axis=2, mode="crop"):
    """(N x H x W x C float32 in [0, 1], source names). Unreadable files are skipped with a
    warning while others are fine; none at all is an error."""
    from mlkit.io.read import read_images

    collected, names, failed = [], [], []
    for path in find_images(specs):
        try:
            for img in read_images(path):
                found = planes(img, slice_axis)
                collected += [(p, path) for p in found]
        except MlkitError as exc:
            failed.append(path)
            ui.warn(f"{path}: skipped: {exc}")
    if not collected:
        raise MlkitError(f"no usable images in {' '.join(specs)}", "give 2D images or volumes with non-empty slices")
    channels = _channels(channels, collected)
    limits.check(len(collected) * size[0] * size[1] * channels * 4, "the training images")
    out = np.empty((len(collected), size[0], size[1], channels), np.float32)
    for i, (plane, path) in enumerate(collected):
        out[i] = to_channels(fit_size(plane, size, mode), channels)
        names.append(path)
    return out, names


def _channels(channels, collected):
    if channels != "auto":
        return int(channels)
    return 3 if any(p.shape[2] >= 3 for p, _ in collected) else 1


def batches(tf, images, batch_size, seed, start_step=0):
    """A tf.data pipeline of batches in a seeded order that resumes exactly at `start_step`:
    epoch e is a stateless shuffle with seed (seed, e), so no state needs saving."""
    n = int(images.shape[0])
    if n < batch_size:
        raise MlkitError(f"{n} training images, fewer than --batch-size {batch_size}", "lower --batch-size")
    data = tf.constant(images)
    first_epoch, offset = divmod(start_step * batch_size, n)

    def epoch_order(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(order)

    order = tf.data.Dataset.range(first_epoch, 1 << 40).flat_map(epoch_order).skip(offset)
    batched = order.batch(batch_size, drop_remainder=True)
    return batched.map(lambda idx: tf.gather(data, idx), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
