"""`train-gan` as a library call: data, run folder, model, loop, sample grids, TensorBoard."""

import math
import os

import numpy as np

from mlkit import ui
from mlkit.gan import config as cfg
from mlkit.gan import curve, grid, steps

SAMPLES = "samples"
LOSS_CURVE = "losses.png"


def train(data, checkpoint_dir, settings, *, seed=None, drawn_seed=0, steps_total=None, epochs=20,
          sample_every=100, checkpoint_every=500, logdir=None, device="auto", cpu_replicas=1):
    """Train (or resume) a DCGAN on `data` in `checkpoint_dir`; a summary dict.

    seed: the --seed given, or None to keep a resumed run's own (a new run takes drawn_seed).
    steps_total: train until this global step; else `epochs` passes over the data.
    cpu_replicas: >1 splits the CPU into mirrored devices (the several-GPU code path, for tests)."""
    from mlkit.deep import checkpoint, data as deep_data, loop
    from mlkit.deep.runtime import Runtime

    unset = [k for k in cfg.NEWER if settings.get(k) is None]  # not on the command line
    settings = cfg.settings(**{k: v for k, v in settings.items() if k not in unset})
    _check_tensorboard(logdir)
    # Before TensorFlow starts or anything is written: first what the folder is (links and devices
    # refused, a run of this kind with these settings), then its run files, which only a run has.
    _check_run_folder(checkpoint_dir, settings, seed)
    checkpoint.check_resumable(checkpoint_dir)
    images, _ = deep_data.load_image_set(data, (settings["image_size"],) * 2, settings["channels"], settings["slice_axis"])
    images = images * 2 - 1  # the generator's tanh range
    config = {**settings, "channels": int(images.shape[3]), "images": int(images.shape[0])}
    if seed is not None:
        config["seed"] = int(seed)
    resumed = os.path.exists(os.path.join(checkpoint_dir, checkpoint.RUN_FILE))
    # What the command line leaves unset comes from the stored run; a run stored before these
    # settings existed keeps the tutorials' loss and rates (no smoothing, d_lr = lr).
    defaults = {"seed": int(drawn_seed), **({} if resumed else {k: settings[k] for k in unset})}
    config = {k: v for k, v in config.items() if k not in unset}
    # The replicas are known once the devices are; a batch that does not split over them is
    # refused before RunDir writes run.json (a new folder would be left behind).
    runtime = Runtime(device=device, seed=seed if seed is not None else drawn_seed, cpu_replicas=cpu_replicas)
    _check_batch(config, runtime.replicas)
    run = checkpoint.RunDir(checkpoint_dir, "gan", config, must_match=cfg.MUST_MATCH, defaults=defaults)
    config = run.config

    from mlkit.gan.model import Gan

    gan = Gan(config, runtime.strategy, runtime.mixed_precision)
    state = run.restore(gan.objects())
    gan.set_learning_rates()  # the restored optimizer state holds the rates of the run before
    start = state["step"] if state else 0
    per_epoch = config["images"] / config["batch_size"]
    total = steps_total if steps_total is not None else math.ceil(epochs * per_epoch)
    if start:
        ui.info(f"resuming {checkpoint_dir} at step {start}")
    tf = runtime.tf
    batches = runtime.strategy.experimental_distribute_dataset(
        deep_data.batches(tf, images, config["batch_size"], config["seed"], start_step=start))
    summary = _tensorboard(tf, logdir)
    sampler = Sampler(gan, config, checkpoint_dir, summary)
    metrics = run.metrics(start)
    counter = {"step": start}

    def step(batch):
        record = gan.train_step(batch, counter["step"] + 1)
        counter["step"] += 1
        return record

    def save(done):
        # Ctrl-C lands when the compiled step returns, after its update but before the loop
        # counts it: the optimizer's own counter says how many steps the weights have seen.
        run.save(gan.steps_done(), gan.objects())

    runner = loop.Loop(total=total, save=save, metrics=metrics,
                       checkpoint_every=checkpoint_every, every={sample_every: sampler}, summary=summary,
                       label="train-gan", steps_per_epoch=per_epoch, hold_signals=True)
    try:
        done = runner.run(step, batches, start=start)
    except KeyboardInterrupt:
        raise _interrupted(run) from None
    finally:
        metrics.close()
    if done > start and done % sample_every:
        sampler(done, None)
    return {"checkpoint_dir": checkpoint_dir, "started_at": start, "step": done, "images": config["images"],
            "epochs": round(done / per_epoch, 3), "latest": run.latest(), "samples": sampler.last,
            "device": runtime.describe()}


def _check_tensorboard(logdir):
    import importlib.util

    from mlkit.errors import MlkitError

    if logdir and importlib.util.find_spec("tensorboard") is None:
        raise MlkitError("--logdir needs the tensorboard package, which is not installed",
                         "pip install tensorboard, or drop --logdir (metrics.jsonl has every step)")


def _check_run_folder(checkpoint_dir, settings, seed):
    """The run folder's own checks (a file, other files, a run of another kind, changed settings),
    on the settings known before the data is read."""
    from mlkit.deep import checkpoint

    stored = checkpoint.check_folder(checkpoint_dir, "gan")
    if stored is not None:
        known = {**settings, **({"seed": int(seed)} if seed is not None else {})}
        keys = [k for k in cfg.MUST_MATCH if k in known and known[k] != "auto"]
        checkpoint.check_settings(checkpoint_dir, stored, known, keys)


def _interrupted(run):
    """Ctrl-C: which step the folder now holds, and how to go on from it."""
    import shlex
    import sys

    from mlkit.deep.checkpoint import PREFIX
    from mlkit.errors import Interrupted

    latest = run.latest()
    again = shlex.join(["mlkit", *sys.argv[1:]])
    if latest is None:
        return Interrupted("interrupted before the first checkpoint; nothing kept", f"start again: {again}")
    step = int(os.path.basename(latest)[len(PREFIX):])
    return Interrupted(f"interrupted; {latest} holds step {step}", f"resume: {again}")


def _check_batch(config, replicas):
    from mlkit.errors import UsageError

    if config["batch_size"] % replicas:
        raise UsageError(f"--batch-size {config['batch_size']} does not split over {replicas} replicas",
                         f"use a multiple of {replicas}")


class Sampler:
    """Writes the sample grid of the fixed z (drawn from the run's seed) under CKPT/samples/,
    and the loss curve so far as CKPT/losses.png."""

    def __init__(self, gan, config, checkpoint_dir, summary=None):
        rows, cols = cfg.GRID
        self.gan, self.summary, self.rows, self.cols = gan, summary, rows, cols
        self.z = grid.latent([config["seed"], 1], rows * cols, config["z_dim"])
        self.folder = os.path.join(checkpoint_dir, SAMPLES)
        self.metrics = os.path.join(checkpoint_dir, "metrics.jsonl")
        self.curve = os.path.join(checkpoint_dir, LOSS_CURVE)
        self.last = None

    def __call__(self, step, record):
        pixels = grid.tile(grid.to_uint8(self.gan.sample(self.z)), self.rows, self.cols)
        entry = steps.entry("train-gan", {"step": int(step), "grid": f"{self.rows}x{self.cols}"})
        os.makedirs(self.folder, exist_ok=True)
        self.last = steps.write([steps.picture(pixels, f"step-{step:08d}", entry)], self.folder + os.sep)[0]
        curve.write(self.metrics, self.curve)
        if self.summary is not None:
            self.summary.images(step, pixels, self.z, self.gan)


def _tensorboard(tf, logdir):
    """Scalars every step; at sample time the grid, the z histogram and D's outputs."""
    from mlkit.deep import loop

    summary = loop.tensorboard(tf, logdir)
    if summary is None:
        return None

    def images(step, pixels, z, gan):
        fake = gan.sample(z)
        with summary.writer.as_default(step=step):
            tf.summary.image("samples", pixels[None].astype(np.float32) / 255.0)
            tf.summary.histogram("z", z)
            tf.summary.histogram("d_fake_outputs", gan.discriminate(fake))
        summary.writer.flush()

    summary.images = images
    return summary
