"""Training an autoencoder: a held-out split, mlkit.deep.loop, early stopping on the
validation loss with the best weights kept, and one .keras file at the end."""

import dataclasses
import math

import numpy as np

from mlkit import ui
from mlkit.compress import model as ae
from mlkit.errors import UsageError

KIND = "compress"  # the run folder's kind
MUST_MATCH = ("kind", "latent", "size", "downsample")  # what a resumed run may not change


@dataclasses.dataclass
class Settings:
    kind: str = "conv"
    latent: int = 32
    epochs: int = 50
    batch_size: int = 32
    size: tuple = None  # (h, w); None: the first image's
    val_split: float = 0.1
    seed: int = 0
    slice_axis: int = 2
    patience: int = 5
    learning_rate: float = 1e-3
    lam: float = None  # the rd and hyper models' lambda (D + lam * R); None: --quality 4's
    downsample: int = 4  # the rd model's latent map is H/downsample x W/downsample


def lam_of(settings):
    from mlkit.compress.rd import LAMBDAS

    return LAMBDAS[4] if settings.lam is None else settings.lam


def multiple(kind, downsample=4):
    """The model's sides must be multiples of this (hyper: z is a quarter of y's map on each side)."""
    return downsample if kind == "rd" else 4 * downsample if kind == "hyper" else 4 if kind == "conv" else 1


def nearest(n, m):
    """The multiple of m nearest to n (ties down, never 0)."""
    return max(m, (n + m // 2 - (1 if (n % m) * 2 == m else 0)) // m * m)


def check(settings):
    h, w = settings.size
    m = multiple(settings.kind, settings.downsample)
    if h % m or w % m:
        raise UsageError(f"--size {h}x{w}: the {settings.kind} model needs sides that are multiples of {m}",
                         f"use --size {nearest(h, m)}x{nearest(w, m)}")
    if not 0 <= settings.val_split < 1:
        raise UsageError(f"--val-split {settings.val_split} is not in [0, 1)")


def split(images, val_split, seed):
    """(train, val): a seeded held-out share; no validation set from fewer than 2 images."""
    n = len(images)
    n_val = min(n - 1, max(1, round(n * val_split))) if val_split > 0 and n >= 2 else 0
    order = np.random.default_rng(seed).permutation(n)
    return images[order[n_val:]], images[order[:n_val]]


class _Watch:
    """Early stopping: the validation loss after each epoch, the best weights, a stop flag."""

    def __init__(self, model, best_model, val, val_loss, patience, state=None):
        self.model, self.best_model, self.val, self.val_loss, self.patience = model, best_model, val, val_loss, patience
        state = state or {}
        # A run stopped before its first epoch ended stores "best": null: no best yet.
        best = _number(state.get("best"))
        self.best = math.inf if best is None else best
        self.bad, self.best_epoch, self.epoch = (_count(state.get(k)) for k in ("bad", "best_epoch", "epoch"))
        self.last, self.stop = _number(state.get("last")), False

    def state(self):
        """JSON-ready: a best or last loss not measured yet is null."""
        return {"best": _number(self.best), "bad": self.bad, "best_epoch": self.best_epoch,
                "last": _number(self.last), "epoch": self.epoch}

    def after_epoch(self, step, record):
        self.epoch += 1
        self.last = self._measure(record)
        if self.last < self.best:
            self.best, self.bad, self.best_epoch = self.last, 0, self.epoch
            self.best_model.set_weights(self.model.get_weights())
        else:
            self.bad += 1
            self.stop = self.bad >= self.patience

    def _measure(self, record):
        if len(self.val) == 0:
            return float(record["loss"])
        losses = [float(self.val_loss(self.val[i : i + 256])) * len(self.val[i : i + 256]) for i in range(0, len(self.val), 256)]
        return sum(losses) / len(self.val)

    def batches(self, source):
        for batch in source:
            if self.stop:
                return
            yield batch


def _number(value):
    """A finite float, or None (not measured yet, or a damaged value)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class _NoMetrics:
    def write(self, record):
        pass

    def close(self):
        pass


def train(runtime, images, settings, output, checkpoint_dir=None):
    """Fit an autoencoder to `images` (N x H x W x C in [0, 1]) and save the best weights to
    `output`; a summary dict. With `checkpoint_dir`, checkpoints and resume."""
    from mlkit.deep import checkpoint, data, loop
    from mlkit.deep.models import save_model

    tf, keras = runtime.tf, runtime.keras
    train_set, val = split(images, settings.val_split, settings.seed)
    batch_size = min(settings.batch_size, len(train_set))
    if batch_size < settings.batch_size:
        ui.info(f"{len(train_set)} training images: batches of {batch_size}")
    per_epoch = len(train_set) // batch_size
    with runtime.strategy.scope():
        model = ae.build(settings.kind, settings.size, images.shape[3], settings.latent, settings.downsample)
        best_model = ae.build(settings.kind, settings.size, images.shape[3], settings.latent, settings.downsample)
        optimizer = keras.optimizers.Adam(settings.learning_rate)
        optimizer.build(model.trainable_variables)
    best_model.set_weights(model.get_weights())
    objects = {"model": (model, optimizer), "best": (best_model, None)}
    run = checkpoint.RunDir(checkpoint_dir, KIND, _config(settings), must_match=MUST_MATCH) if checkpoint_dir else None
    state = run.restore(objects) if run else None
    start = state["step"] if state else 0
    if settings.kind in ("rd", "hyper"):
        from mlkit.compress import hyper, rd

        learned = rd if settings.kind == "rd" else hyper
        replica_step, val_loss = learned.steps(model, optimizer, lam_of(settings), runtime.gradient_scale)
    else:
        replica_step, val_loss = ae.steps(model, optimizer, runtime.gradient_scale)
    train_step = runtime.replicated(replica_step)
    watch = _Watch(model, best_model, val, val_loss, settings.patience, state)

    def step(batch):
        record = train_step(batch)
        return record if watch.last is None else {**record, "val_loss": watch.last}

    metrics = run.metrics(start) if run else _NoMetrics()
    save = (lambda s: run.save(s, objects, watch.state())) if run else (lambda s: None)
    runner = loop.Loop(total=settings.epochs * per_epoch, save=save, metrics=metrics, every={per_epoch: watch.after_epoch},
                       label=f"compress train ({settings.kind})", steps_per_epoch=per_epoch, checkpoint_every=10 * per_epoch,
                       hold_signals=True)
    try:
        batches = runtime.distribute(data.batches(tf, train_set, batch_size, settings.seed, start))
        done = runner.run(step, watch.batches(batches), start=start)
    finally:
        metrics.close()
    if settings.kind in ("rd", "hyper"):
        from mlkit.compress import hyper, rd

        (rd if settings.kind == "rd" else hyper).freeze(best_model)
    save_model(best_model, output)
    return {"images": len(images), "train": len(train_set), "val": len(val), "steps": done, "epochs": watch.epoch,
            "best_epoch": watch.best_epoch, "best_val_loss": watch.best, "stopped_early": watch.stop}


def _config(settings):
    config = dataclasses.asdict(settings)
    config["size"] = list(settings.size)
    if settings.kind not in ("rd", "hyper"):
        config.pop("downsample", None)  # the autoencoders have none: their older run folders still resume
    return config


def check_run_folder(checkpoint_dir, settings):
    """What RunDir would refuse (a file, links, other files, a run of another kind or with another
    kind, latent or size, damaged run files), said before the images load and TensorFlow starts."""
    from mlkit.deep import checkpoint

    stored = checkpoint.check_folder(checkpoint_dir, KIND)
    if stored is not None:
        checkpoint.check_settings(checkpoint_dir, stored, _config(settings), MUST_MATCH)
        checkpoint.check_resumable(checkpoint_dir)


def first_size(specs, slice_axis=2):
    """(h, w) of the first image's first plane: the default model size."""
    from mlkit.deep.data import find_images, planes
    from mlkit.io.read import read_images

    for img in read_images(find_images(specs)[0]):
        found = planes(img, slice_axis)
        if found:
            return found[0].shape[:2]
    raise UsageError("the first image has no usable plane", "give --size HxW")
