"""`mlkit augment`: random augmentation of images and volumes, segmentations kept aligned."""

import click

from mlkit.commands._options import (
    FILE, Numbers, batch_options, inputs_argument, interp_option, interp_order, run_batch, seed_option,
)

def _range(name, default, help_text):
    return click.option(f"--{name}", type=float, nargs=2, default=default, show_default=True, metavar="LO HI", help=help_text)


@click.command()
@inputs_argument
@click.option("--seg", "segs", multiple=True, metavar="SEG", **FILE, help="Segmentation of each input, in the same order (repeat, or a folder/glob).")
@click.option("-n", "--count", type=click.IntRange(1), default=1, show_default=True, help="Copies per input.")
@seed_option
@click.option("--transforms", help="Enabled set, e.g. rotate,scale,elastic [default: rotate,scale,translate,intensity,flip,sliceshift].")
@click.option("--policy", type=click.Choice(["subset", "all"]), default="subset", show_default=True, help="subset: a random non-empty subset per copy; all: every enabled transform.")
@_range("rotate", (-10.0, 10.0), "Degrees, in-plane.")
@click.option("--rotate-axes", help="Rotation plane as A,B, or 'all' (each plane of a volume) [default: in-plane].")
@_range("scale", (0.9, 1.1), "Zoom factor about the centre (shape kept).")
@_range("translate", (-5.0, 5.0), "Voxels.")
@click.option("--translate-axes", type=Numbers(int), help="Axes to translate along [default: in-plane].")
@click.option("--flip-axes", type=Numbers(int), help="Axes that may be mirrored [default: left-right].")
@_range("intensity", (0.8, 1.2), "Intensity factor.")
@_range("sliceshift", (-3.0, 3.0), "In-plane shift of moved slices, voxels.")
@_range("sliceshift-fraction", (0.05, 0.2), "Fraction of slices moved (simulated motion).")
@_range("elastic", (0.0, 4.0), "Largest control-point displacement, voxels.")
@click.option("--elastic-points", type=click.IntRange(4), default=7, show_default=True, help="Control points per axis.")
@_range("gamma", (0.7, 1.5), "Gamma on the intensity range.")
@_range("noise", (0.0, 0.05), "Gaussian noise sigma, as a fraction of the intensity range.")
@_range("bias", (0.0, 0.3), "Bias field strength (log-polynomial coefficients).")
@click.option("--slice-axis", type=click.IntRange(0, 2), default=2, show_default=True, help="Acquisition slice axis of volumes.")
@click.option("--fill", type=click.Choice(["nearest", "constant"]), default="nearest", show_default=True, help="Beyond the edge: nearest value, or 0.")
@click.option("--crop", is_flag=True, help="Square in-plane crop that keeps the whole segmentation in view.")
@click.option("--margin", type=click.IntRange(0), default=0, show_default=True, help="Voxels around the segmentation for --crop.")
@click.option("--shape", type=Numbers(int), help="Resample every copy to this shape (H,W[,D]), last.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help="Write each copy's drawn parameters as JSON lines.")
@interp_option
@batch_options
def command(inputs, segs, count, seed, log_path, **opts):
    """Make N randomly augmented copies of each input; a segmentation (--seg)
    moves exactly like its image. Copies are named <stem>_aug001, ... and keep
    the input's format. All spatial transforms of a copy are composed into one
    interpolation; each copy's drawn parameters, and the order they act in
    ("composition"), go into its history and --log. Intensity changes that an
    integer dtype cannot hold are clipped with a warning; --dtype float32 keeps them.

    \b
    Examples:
      mlkit augment t1.nii.gz --seg t1_seg.nii.gz -n 20 --seed 1 -o train/
      mlkit augment - -n 3 -o - < scan.nii | mlkit info - --json
      mlkit augment photos/ -n 5 --transforms rotate,flip,gamma,noise -o aug/ --jobs 4
    """
    import functools

    from mlkit import provenance
    from mlkit.augment import batch_step
    from mlkit.io.inputs import expand_inputs

    options = _options(opts, seed)
    if options.crop and not segs:
        raise click.UsageError("--crop needs --seg: the crop is placed around the segmentation")
    extras = expand_inputs(list(segs)) if segs else None
    if extras is not None and "-" in expand_inputs(list(inputs)):
        raise click.UsageError("--seg needs file inputs, not stdin")
    options.cmdline = provenance.command_line()
    work = functools.partial(batch_step, n=count, options=options)
    log = []
    code = run_batch(inputs, work, opts, seed=seed, extras=extras, on_output=lambda name, entry: log.append((name, entry)))
    if log_path:
        _write_log(log_path, log)
    return code


def _options(opts, seed):
    from mlkit.augment import Options
    from mlkit.augment.policy import DEFAULT_ENABLED, Policy

    transforms = opts.pop("transforms")
    enabled = tuple(t.strip() for t in transforms.split(",") if t.strip()) if transforms else DEFAULT_ENABLED
    rotate_axes = opts.pop("rotate_axes")
    if rotate_axes not in (None, "all"):
        try:
            rotate_axes = [int(a) for a in rotate_axes.split(",")]
        except ValueError:
            raise click.UsageError(f"--rotate-axes takes A,B or 'all', got {rotate_axes!r}") from None
        if len(rotate_axes) != 2:
            raise click.UsageError("--rotate-axes takes two axes, e.g. 0,2")
    fields = ("rotate", "scale", "translate", "translate_axes", "flip_axes", "intensity", "sliceshift",
              "sliceshift_fraction", "elastic", "elastic_points", "gamma", "noise", "bias", "slice_axis")
    policy = Policy(enabled=enabled, mode=opts.pop("policy"), rotate_axes=rotate_axes, **{f: opts.pop(f) for f in fields})
    shape = opts.pop("shape")
    return Options(
        policy=policy,
        order=interp_order(opts, allowed=(0, 1, 3)),
        fill=opts.pop("fill"),
        crop=opts.pop("crop"),
        margin=opts.pop("margin"),
        shape=tuple(shape) if shape else None,
        seed=seed,
        dtype=opts["dtype"],  # a float --dtype: intensities are kept, not clipped to the input's dtype
    )


def _write_log(path, log):
    import json

    from mlkit.io.write import write_side_file

    lines = []
    for name, entry in log:
        if entry is None or entry.get("command") != "augment":
            continue
        lines.append(json.dumps({"output": name, "seed": entry["seed"], **entry["params"]}, sort_keys=True) + "\n")
    write_side_file(path, "".join(lines).encode())
