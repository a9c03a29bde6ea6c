"""A DCGAN for image folders and MRI slices: training with checkpoints, samples and exact
resume, and generation from a checkpoint.

    from mlkit.gan import generate, train
    summary = train(["faces/"], "run/", {"image_size": 16, "batch_size": 32}, seed=1, steps_total=200)
    images = generate("run/", n=16, seed=3, rows_cols=(4, 4))   # one 4x4 grid, an mlkit Image
"""

from mlkit.gan.config import settings
from mlkit.gan.generate import generate, load_generator
from mlkit.gan.steps import write
from mlkit.gan.train import train

__all__ = ["generate", "load_generator", "settings", "train", "write"]
