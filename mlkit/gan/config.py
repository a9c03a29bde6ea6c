"""The settings of a GAN run, checked before anything is loaded, and the ones a resume keeps."""

import math

from mlkit.errors import UsageError

ARCHITECTURE = ("image_size", "channels", "z_dim", "gf_dim", "df_dim")
# A resumed run may change the learning rate or the cadences, not what the weights or the
# data order depend on.
MUST_MATCH = ARCHITECTURE + ("batch_size", "seed", "images", "slice_axis")
# Settings added after runs were first stored: a resumed run without them keeps its old rule.
NEWER = ("label_smoothing", "d_lr")
D_LR_SHARE = 0.5  # the discriminator learns at half the generator's rate unless --d-lr says otherwise
DEFAULTS = {"image_size": 64, "channels": "auto", "z_dim": 100, "gf_dim": 64, "df_dim": 64, "batch_size": 64,
            "lr": 0.0002, "d_lr": None, "beta1": 0.5, "g_steps": 2, "label_smoothing": 0.1, "slice_axis": 2}
TRAINING_COPIES = 4  # float32 weights, Adam's m and v, the gradients
GRID = (8, 8)  # the training sample grid, from a fixed z


def settings(**given):
    """The run's settings: DEFAULTS overridden by `given`, checked."""
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown GAN settings: {', '.join(sorted(unknown))}")
    config = {**DEFAULTS, **given}
    size = config["image_size"]
    if not isinstance(size, int) or size < 8 or size & (size - 1):
        raise UsageError(f"--image-size {size} is not a power of two >= 8", "use 16, 32, 64, 128 ...")
    for key in ("z_dim", "gf_dim", "df_dim", "batch_size", "g_steps"):
        if not isinstance(config[key], int) or config[key] < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be a positive integer, not {config[key]!r}")
    if not 0 < config["lr"] < 1 or not 0 <= config["beta1"] < 1:
        raise UsageError("--lr must lie in (0, 1) and --beta1 in [0, 1)")
    if config["d_lr"] is not None and not 0 < config["d_lr"] < 1:
        raise UsageError("--d-lr must lie in (0, 1)")
    if not 0 <= config["label_smoothing"] < 0.5:
        raise UsageError(f"--label-smoothing {config['label_smoothing']!r} is not in [0, 0.5)", "0.1 is the usual value")
    if config["channels"] not in ("auto", 1, 3):
        raise UsageError(f"--channels {config['channels']!r} is not auto, 1 or 3")
    check_size(config, "the networks")
    return config


def parameters(config):
    """How many weights the generator and the discriminator of `config` hold (model.py's
    layers, counted without building them)."""
    size, channels = config["image_size"], 3 if config["channels"] == "auto" else config["channels"]
    ups = int(math.log2(size)) - 2
    depth = config["gf_dim"] * 2 ** (ups - 1)
    g = config["z_dim"] * 16 * depth
    for _ in range(ups - 1):
        g, depth = g + 25 * depth * (depth // 2), depth // 2
    g += 25 * depth * channels
    df = config["df_dim"]
    d = 25 * (channels * df + df * 2 * df + df * 2 * df * 4 + df * 4 * df * 8) + (size // 16) ** 2 * df * 8
    return g + d


def check_size(config, what, copies=TRAINING_COPIES):
    """Refuse settings whose weights (times `copies`: the weights, Adam's two moments and the
    gradients while training) would pass the memory limit, before TensorFlow builds them."""
    from mlkit.io import limits

    limits.check(parameters(config) * 4 * copies, what)


def d_lr(config):
    """The discriminator's learning rate: --d-lr, else half of --lr (a run stored without it: --lr)."""
    if "d_lr" not in config:
        return config["lr"]
    return config["d_lr"] if config["d_lr"] is not None else config["lr"] * D_LR_SHARE
