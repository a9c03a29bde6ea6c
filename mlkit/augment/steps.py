"""The batch work of `mlkit augment`: names and history entries for each copy (the only place
augment writes history)."""

from mlkit import provenance
from mlkit.augment.engine import Options, draw_copies


def augment(img, seg, n, seedseq, options):
    """`n` augmented copies of `img` (and `seg`): a list of (image, seg or None)."""
    return list(iter_copies(img, seg, n, seedseq, options))


def iter_copies(img, seg, n, seedseq, options):
    """The copies of augment(), one at a time: a batch writes each as soon as it exists."""
    width = max(3, len(str(n)))
    for k, out_img, out_seg, record in draw_copies(img, seg, n, seedseq, options):
        suffix = f"_aug{k:0{width}d}"
        entry = provenance.entry("augment", record, seed=options.seed, cmdline=options.cmdline)
        out_img = out_img.replace(name=img.name + suffix, history=[*img.history, entry])
        if seg is not None:  # segs are resampled nearest-neighbour, and their entry says so
            seg_entry = provenance.entry("augment", {**record, "order": 0}, seed=options.seed, cmdline=options.cmdline)
            out_seg = out_seg.replace(name=seg.name + suffix, history=[*seg.history, seg_entry])
        yield out_img, out_seg


def batch_step(img, seedseq, extra=None, n=1, options=None):
    """Batch work function for `mlkit augment`: copies of one image (and its seg, `extra`)."""
    from mlkit.io.read import read_image

    seg = read_image(extra) if extra else None
    for copy, seg_copy in iter_copies(img, seg, n, seedseq, options or Options()):
        yield copy
        if seg_copy is not None:
            yield seg_copy
