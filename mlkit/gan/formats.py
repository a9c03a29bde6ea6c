"""A GAN checkpoint folder read back for `generate`: its run.json checked field by field."""

import os

from mlkit.deep.checkpoint import PREFIX, RUN_FILE, RunDir
from mlkit.errors import MlkitError
from mlkit.gan import config as cfg

KIND = "gan"
FIELDS = {"image_size": (8, 4096), "channels": (1, 3), "z_dim": (1, 100000), "gf_dim": (1, 100000),
          "df_dim": (1, 100000), "seed": (0, 2**63)}


def open_run(path):
    """(RunDir, its config) for an existing GAN checkpoint folder with at least one checkpoint."""
    if not os.path.isdir(path):
        raise MlkitError(f"{path}: no such checkpoint folder", "train one with mlkit train-gan -c DIR")
    if not os.path.exists(os.path.join(path, RUN_FILE)):
        raise MlkitError(f"{path}: not an mlkit gan run (no {RUN_FILE})", "give a folder made by mlkit train-gan")
    run = RunDir(path, KIND, {})
    config = run.config
    for key, (lo, hi) in FIELDS.items():
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise MlkitError(f"{path}/{RUN_FILE}: damaged: {key} is {value!r}", "give a folder made by mlkit train-gan")
    size = config["image_size"]
    if size & (size - 1) or config["channels"] == 2:
        raise MlkitError(f"{path}/{RUN_FILE}: damaged: image_size {size}, channels {config['channels']}",
                         "give a folder made by mlkit train-gan")
    cfg.check_size(config, f"{path}/{RUN_FILE}: the generator", copies=1)
    if run.latest() is None:
        raise MlkitError(f"{path}: no checkpoint yet", "train for at least one step first")
    return run, config


def checkpoint_at(run, step=None):
    """The latest checkpoint's folder, or the one written at `step`."""
    if step is None:
        return run.latest()
    kept = {int(os.path.basename(p)[len(PREFIX):]): p for p in run.checkpoints()}
    if step not in kept:
        raise MlkitError(f"{run.path}: no checkpoint at step {step}", f"kept: {', '.join(map(str, sorted(kept)))}")
    return kept[step]
