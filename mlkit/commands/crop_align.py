"""`mlkit crop-align`: faces aligned on a landmark template, and square crops around anatomy."""

import click

from mlkit.commands._options import (
    FILE, Numbers, batch_options, device_option, inputs_argument, interp_option, interp_order, run_batch,
)

# Kept here as plain names so --help imports nothing (mlkit.crop.align holds the positions).
TEMPLATE_NAMES = ["openface-inner", "openface-outer", "arcface"]
FACE_ONLY = ("template", "landmarks", "transform", "padding", "all_faces", "min_confidence", "min_face_size",
             "skip_missing", "landmarks_out")
REGION_ONLY = {"margin": ("seg", "foreground"), "axes": ("seg", "foreground", "center"),
               "threshold": ("foreground",), "crop": ("center",)}


@click.command()
@inputs_argument
@click.option("--mode", type=click.Choice(["face", "seg", "foreground", "center"]),
              help="face: align faces; seg/foreground: a square around the segmentation or the voxels above "
                   "a threshold; center: the central square [default: seg with --seg, else face].")
@click.option("--size", type=click.IntRange(1), help="Output side, pixels [default: face: the template's (96, "
              "arcface 112); seg/foreground: the smallest square that holds the box; center: --crop].")
@click.option("--template", type=click.Choice(TEMPLATE_NAMES), default="openface-inner", show_default=True,
              help="Landmark layout: OpenFace's two alignments (inner eyes and bottom lip; outer eyes and nose), "
                   "or ArcFace's five points.")
@click.option("--landmarks", type=click.Choice(["eyes-mouth", "eyes-nose", "all"]),
              help="Points fitted: eye and mouth centres, eyes and nose tip, or all five "
                   "[default: the template's: eyes-mouth, eyes-nose, all].")
@click.option("--transform", type=click.Choice(["similarity", "affine"]), default="similarity", show_default=True,
              help="Least squares over the points; one poor point of four or more is left out.")
@click.option("--padding", type=click.FloatRange(0, 2), default=0.0, show_default=True,
              help="Margin added around the template, as a fraction of its width (0.25: a quarter each side).")
@click.option("--all-faces", is_flag=True, help="Write every face (<stem>_face0, ...), not only the most confident.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.9, show_default=True,
              help="Faces MTCNN is less sure of are ignored.")
@click.option("--min-face-size", type=click.IntRange(12), default=20, show_default=True,
              help="Smallest face to look for, pixels.")
@click.option("--skip-missing", is_flag=True, help="Inputs without a face are named on stderr but do not fail the run.")
@click.option("--landmarks-out", type=click.Path(dir_okay=False), metavar="FILE.csv",
              help="Write every detection: input, output, face, box, confidence, 5 points in input and output pixels.")
@device_option
@click.option("--seg", "segs", multiple=True, metavar="SEG", **FILE,
              help="Segmentation of each input, in the same order (repeat, or a folder/glob); cropped alike.")
@click.option("--margin", type=click.IntRange(0), default=0, show_default=True,
              help="Voxels kept around the segmentation or foreground.")
@click.option("--axes", type=Numbers(int), metavar="A,B", help="The in-plane axes of volumes [default: 0,1].")
@click.option("--threshold", type=float, help="foreground: voxels above this value [default: Otsu's threshold].")
@click.option("--crop", type=click.IntRange(1), metavar="N", help="center: side of the central square [default: the largest].")
@interp_option
@batch_options
@click.pass_context
def command(ctx, inputs, mode, segs, landmarks_out, **opts):
    """Align faces onto a landmark template, or crop volumes to a square around the
    anatomy, to build training sets.

    face (photos): MTCNN finds faces and five landmarks; a similarity transform fitted
    to the template's points maps each face onto it with one interpolation. Inputs
    without a face are named on stderr and make the exit status 1 (unless
    --skip-missing); the others are written. Colour, bit depth and history are kept.

    seg, foreground, center (volumes and photos): a square in-plane window through
    every slice and volume, moved inside the image (padded where it cannot be); the
    whole segmentation stays in view and every voxel keeps its world position.

    \b
    Examples:
      mlkit crop-align photos/ --size 96 -o faces/ --landmarks-out faces.csv
      mlkit crop-align t1.nii.gz --seg t1_seg.nii.gz --margin 2 -o crops/
    """
    from mlkit import provenance

    mode = mode or ("seg" if segs else "face")
    _check_mode_options(ctx, mode, segs, landmarks_out)
    order = interp_order(opts, allowed=(0, 1, 3))
    cmdline = provenance.command_line()
    if mode == "face":
        from mlkit.deep.runtime import INSTALL_HINT, require_deep

        require_deep("face mode", extra=("mtcnn",),
                     hint=f"{INSTALL_HINT}; --mode seg, foreground and center need no network")
        return _faces(inputs, opts, order, cmdline, landmarks_out)
    return _regions(inputs, segs, mode, opts, order, cmdline)


def _given(ctx, name):
    return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


def _check_mode_options(ctx, mode, segs, landmarks_out):
    flag = lambda name: "--" + name.replace("_", "-")  # noqa: E731
    if mode != "face":
        wrong = [n for n in FACE_ONLY if _given(ctx, n)]
        if wrong:
            raise click.UsageError(f"{flag(wrong[0])} applies to --mode face only")
    for name, modes in REGION_ONLY.items():
        if _given(ctx, name) and mode not in modes:
            raise click.UsageError(f"{flag(name)} applies to --mode {' or '.join(modes)} only")
    if segs and mode == "face":
        raise click.UsageError("--seg applies to --mode seg, foreground or center")
    if mode == "seg" and not segs:
        raise click.UsageError("--mode seg needs --seg SEG, one per input")


def _faces(inputs, opts, order, cmdline, landmarks_out):
    import functools

    from mlkit.crop import FaceOptions, detect_inputs, face_step
    from mlkit.crop.formats import landmark_rows, write_landmarks
    from mlkit.io import batch

    keys = ("template", "landmarks", "transform", "size", "padding", "all_faces", "min_confidence", "min_face_size",
            "skip_missing", "device")
    options = FaceOptions(**{k: opts.pop(k) for k in keys}, order=order, cmdline=cmdline)
    paths = batch.expand_inputs(list(inputs))
    batch.make_sink(opts["output"], len(paths), opts["ext"], opts["dtype"])  # a wrong -o fails before detection
    items = batch.select_shard(paths, batch.parse_shard(opts["shard"]))
    extras = detect_inputs(items, len(paths), options, jobs=opts["jobs"])
    rows = []
    collect = (lambda name, entry: rows.extend(landmark_rows(name, entry))) if landmarks_out else None
    jobs = opts["jobs"] if "-" in paths else 1  # detection is done: the warps take milliseconds
    code = run_batch(inputs, functools.partial(face_step, options=options), {**opts, "jobs": jobs}, label="photos",
                     extras=extras, on_output=collect)
    if landmarks_out:
        write_landmarks(landmarks_out, rows)
    return code


def _regions(inputs, segs, mode, opts, order, cmdline):
    import functools

    from mlkit.crop import RegionOptions, region_step
    from mlkit.io.inputs import expand_inputs

    axes = opts.pop("axes")
    options = RegionOptions(mode=mode, size=opts.pop("size"), margin=opts.pop("margin"), axes=tuple(axes) if axes else None,
                            threshold=opts.pop("threshold"), crop=opts.pop("crop"), order=order, cmdline=cmdline)
    extras = expand_inputs(list(segs)) if segs else None
    if extras is not None and "-" in expand_inputs(list(inputs)):
        raise click.UsageError("--seg needs file inputs, not stdin")
    return run_batch(inputs, functools.partial(region_step, options=options), opts, extras=extras)
