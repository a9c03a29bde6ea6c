"""`mlkit transform OP`: deterministic point and geometric operations."""

import click

from mlkit.commands._options import Numbers, batch_options, inputs_argument, interp_option, interp_order, run_batch

@click.group()
def command():
    """Point and geometric operations on 2D images and 3D/4D volumes.

    Each op reads INPUT... (files, folders, globs or - for stdin) and writes
    -o OUT (a file, a folder, or - for stdout). 4D series are processed one
    volume at a time. Geometric ops move the voxel grid and update the affine
    so the anatomy stays where it was in scanner space (--keep-affine moves the
    content instead); --label makes them safe for segmentations.

    \b
    Examples:
      mlkit transform negative anatomical.nii -o - | mlkit transform negative - -o back.nii
      mlkit transform resample --voxel-size 1 scans/ -o resampled/ --jobs 4
    """


def _run(op, params, inputs, opts):
    import functools

    from mlkit import provenance
    from mlkit.transform import params as checks, transform_step

    checks.check(op, params)  # wrong values are usage errors, before any input is read
    cmdline = provenance.command_line()
    work = functools.partial(transform_step, op=op, params=params, cmdline=cmdline, dtype=opts["dtype"])
    return run_batch(inputs, work, opts)


def geometric_options(fn):
    options = [
        click.option(
            "--mode",
            type=click.Choice(["constant", "nearest", "reflect", "mirror", "wrap"]),
            help="How voxels beyond the edge are filled [default: constant; resample: nearest].",
        ),
        click.option("--cval", type=float, default=0.0, show_default=True, help="Fill value for --mode constant."),
        click.option("--label", is_flag=True, help="Label image: nearest neighbour, labels never blended."),
        click.option("--keep-affine", is_flag=True, help="Keep the affine: the content moves in scanner space."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return interp_option(fn)


def op(*options, geometric=False, name=None):
    """`mlkit transform NAME`: its own options, the resampling ones if `geometric`, then inputs and -o."""

    def decorate(fn):
        fn = inputs_argument(batch_options(fn))
        if geometric:
            fn = geometric_options(fn)
        for option in reversed(options):
            fn = option(fn)
        return command.command(name=name)(fn)

    return decorate


def _resampling(opts, mode="constant"):
    params = {"order": interp_order(opts), **{k: opts.pop(k) for k in ("mode", "cval", "label", "keep_affine")}}
    params["mode"] = params["mode"] or mode
    return params


@op()
def negative(inputs, **opts):
    """Invert intensities: integers r -> max+min-r (255-r for uint8), floats r -> max+min-r.

    \b
    Example:
      mlkit transform negative photo.png -o negative.png
    """
    return _run("negative", {}, inputs, opts)


@op()
def log(inputs, **opts):
    """Log transform s = c*log(1+r), c scaling the maximum to the dtype's (floats: to 1).

    \b
    Example:
      mlkit transform log scan.nii.gz -o scan_log.nii.gz
    """
    return _run("log", {}, inputs, opts)


@op(
    click.option("-g", "--gamma", "gamma_", type=float, required=True, help="The exponent."),
    click.option("-c", type=float, help="Constant c in s = c*r^gamma (default: keep the reference maximum)."),
)
def gamma(gamma_, c, inputs, **opts):
    """Power law s = c*r^gamma (default c keeps the dtype maximum; floats: the data maximum).

    \b
    Example:
      mlkit transform gamma --gamma 0.5 photo.png -o brighter.png
    """
    return _run("gamma", {"gamma": gamma_, "c": c}, inputs, opts)


@op(
    click.option("--zscore", is_flag=True, help="Zero mean, unit standard deviation instead of [0, 1]."),
    click.option("--mask", type=click.Path(dir_okay=False), help="Take the statistics from voxels inside this mask."),
)
def normalize(zscore, mask, inputs, **opts):
    """Scale to [0, 1] (min-max) or to z-scores; float32 output.

    \b
    Example:
      mlkit transform normalize --zscore --mask brain.nii.gz t1.nii.gz -o t1_z.nii.gz
    """
    return _run("normalize", {"zscore": zscore, "mask": mask}, inputs, opts)


@op(
    click.option("--to", "to", type=click.Choice(["uint8", "int8", "uint16", "int16", "int32", "float32", "float64"]), help="Target dtype (default: the input's)."),
    click.option("--range", "out_range", type=float, nargs=2, metavar="LO HI", help="Target range (default: the dtype's; floats [0, 1])."),
)
def rescale(to, out_range, inputs, **opts):
    """Map [min, max] linearly onto a dtype's range or onto LO..HI.

    The output has the --to dtype, else the input's; when the input's integer
    dtype cannot hold LO..HI (--range -1 1 on uint8, say) the output is float32.

    \b
    Examples:
      mlkit transform rescale --to uint8 scan.nii.gz -o scan8.nii.gz
      mlkit transform rescale --range -1 1 photo.png -o photo.nii.gz
    """
    return _run("rescale", {"to": to, "out_range": out_range}, inputs, opts)


@op(
    click.option("--min", "low", type=float, help="Lower limit."),
    click.option("--max", "high", type=float, help="Upper limit."),
    click.option("--percentile", "percentiles", type=float, nargs=2, metavar="LO HI", help="Limits at these percentiles."),
)
def clip(low, high, percentiles, inputs, **opts):
    """Limit values to [MIN, MAX] or to percentiles of each volume.

    \b
    Example:
      mlkit transform clip --percentile 1 99 scan.nii.gz -o clipped.nii.gz
    """
    return _run("clip", {"low": low, "high": high, "percentiles": percentiles}, inputs, opts)


@op(
    click.option("-t", "--value", type=float, help="Threshold: voxels above it are kept."),
    click.option("--otsu", is_flag=True, help="Pick the threshold with Otsu's method."),
    click.option("--zero", "mode", flag_value="zero", help="Keep values above the threshold, set the rest to 0."),
    click.option("--binary", "mode", flag_value="binary", default=True, help="Output a 0/1 uint8 mask (default)."),
)
def threshold(value, otsu, mode, inputs, **opts):
    """Binary mask of the voxels above a threshold (or --zero the others).

    \b
    Example:
      mlkit transform threshold --otsu t1.nii.gz -o mask.nii.gz
    """
    return _run("threshold", {"value": value, "otsu": otsu, "mode": mode}, inputs, opts)


@op(
    click.option("-a", "--axis", type=int, default=0, show_default=True, help="Spatial axis to mirror."),
    click.option("--keep-affine", is_flag=True, help="Keep the affine: the content moves in scanner space."),
)
def flip(axis, keep_affine, inputs, **opts):
    """Mirror along a spatial axis (exact, no interpolation).

    \b
    Examples:
      mlkit transform flip --axis 1 photo.png -o mirrored.png
      mlkit transform flip --axis 0 --keep-affine scan.nii.gz -o lr_swapped.nii.gz
    """
    return _run("flip", {"axis": axis, "keep_affine": keep_affine}, inputs, opts)


@op(
    click.option("--angle", type=float, required=True, help="Degrees."),
    click.option("--axes", type=Numbers(int), default="0,1", show_default=True, help="The two spatial axes of the plane."),
    geometric=True,
)
def rotate(angle, axes, inputs, **opts):
    """Rotate in-plane about the grid centre (in millimetres), shape kept.

    \b
    Example:
      mlkit transform rotate --angle 15 --interp cubic scan.nii.gz -o rotated.nii.gz
    """
    params = {"angle": angle, "axes": axes, **_resampling(opts)}
    return _run("rotate", params, inputs, opts)


@op(
    click.option("--by", "offsets", type=Numbers(), required=True, help="Voxels, one value or one per axis."),
    geometric=True,
)
def shift(offsets, inputs, **opts):
    """Move the content by whole or fractional voxels.

    \b
    Example:
      mlkit transform shift --by 5,-3,0 scan.nii.gz -o shifted.nii.gz
    """
    return _run("shift", {"offsets": offsets, **_resampling(opts)}, inputs, opts)


@op(
    click.option("--factor", "factors", type=Numbers(), required=True, help=">1 zooms in, <1 out; one value or one per axis."),
    geometric=True,
)
def zoom(factors, inputs, **opts):
    """Zoom in or out about the centre; the shape is kept.

    \b
    Example:
      mlkit transform zoom --factor 1.25 photo.png -o closer.png
    """
    return _run("zoom", {"factors": factors, **_resampling(opts)}, inputs, opts)


@op(
    click.option("--shape", type=Numbers(int), help="Output shape, e.g. 128,128,64."),
    click.option("--voxel-size", type=Numbers(), help="Output voxel size in mm, one value or one per axis."),
    click.option("--antialias/--no-antialias", default=True, show_default=True, help="Smooth before shrinking."),
    geometric=True,
)
def resample(shape, voxel_size, antialias, inputs, **opts):
    """Resample the same field of view to a new shape or voxel size.

    \b
    Examples:
      mlkit transform resample --voxel-size 1 scan.nii.gz -o scan_1mm.nii.gz
      mlkit transform resample --shape 64,64,40 --label seg.nii.gz -o seg_small.nii.gz
    """
    params = {"shape": shape, "voxel_size": voxel_size, "antialias": antialias, **_resampling(opts, "nearest")}
    return _run("resample", params, inputs, opts)


@op(
    click.option("--shape", type=Numbers(int), required=True, help="Window shape."),
    click.option("--origin", type=Numbers(int), help="First voxel of the window (default: centred)."),
    click.option("--keep-affine", is_flag=True, help="Keep the affine: the content moves in scanner space."),
)
def crop(shape, origin, keep_affine, inputs, **opts):
    """Cut a window (centred by default); the affine follows it.

    \b
    Example:
      mlkit transform crop --shape 160,192,160 t1.nii.gz -o t1_crop.nii.gz
    """
    return _run("crop", {"shape": shape, "origin": origin, "keep_affine": keep_affine}, inputs, opts)


@op(
    click.option("--shape", type=Numbers(int), required=True, help="Padded shape."),
    click.option("--mode", type=click.Choice(["constant", "edge"]), default="constant", show_default=True),
    click.option("--cval", type=float, default=0.0, show_default=True, help="Fill value for --mode constant."),
    click.option("--keep-affine", is_flag=True, help="Keep the affine: the content moves in scanner space."),
)
def pad(shape, mode, cval, keep_affine, inputs, **opts):
    """Grow to a shape with the image centred.

    \b
    Example:
      mlkit transform pad --shape 256,256 photo.png -o padded.png
    """
    return _run("pad", {"shape": shape, "mode": mode, "cval": cval, "keep_affine": keep_affine}, inputs, opts)


@op(
    click.option("-a", "--axis", type=int, default=2, show_default=True, help="Spatial axis across which to cut."),
    click.option("-i", "--index", type=int, help="Slice index along that axis (default: the middle)."),
    click.option("--raw", is_flag=True, help="Keep the array's row and column order instead of the display orientation."),
    click.option("--radiological", is_flag=True, help="The patient's right on the left (axial and coronal planes)."),
    name="slice",
)
def slice_(axis, index, raw, radiological, inputs, **opts):
    """Take one 2D plane of a 3D volume (for PNG output, say), turned as `mlkit view`
    shows it: anterior at the top of an axial plane, superior at the top of sagittal
    and coronal ones, the patient's left on the left. The affine follows.

    \b
    Example:
      mlkit sample t1 | mlkit transform slice --axis 2 - | mlkit transform rescale --to uint8 - -o slice.png
    """
    return _run("slice", {"axis": axis, "index": index, "raw": raw, "radiological": radiological}, inputs, opts)
