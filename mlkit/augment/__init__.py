"""Random augmentation of images and volumes, segmentations moved exactly like their image.

    from mlkit.augment import Options, augment
    copies = augment(img, seg, n=10, seedseq=np.random.SeedSequence(42), options=Options())
    copies = augment(img, seg, 10, seedseq, Options(dtype="float32"))   # as --dtype float32: nothing clipped

All spatial transforms of a copy (rotate, scale, translate, flip, per-slice motion,
elastic, crop, output shape) are composed into one mapping and each image is
interpolated once. The output keeps the input's affine unless --crop or --shape
change the grid, in which case the affine follows the new grid exactly.

Each copy's history entry holds everything drawn for it and the order its steps
act in (COMPOSITION); `reproduce(img, seg, entry["params"])` remakes the copy
from that record alone.
"""

from mlkit.augment.engine import COMPOSITION, Options, content_matrix, reproduce
from mlkit.augment.steps import augment, batch_step, iter_copies

__all__ = ["COMPOSITION", "Options", "augment", "batch_step", "content_matrix", "iter_copies", "reproduce"]
