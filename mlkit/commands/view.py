"""`mlkit view`: look at volumes, photos and segmentations without leaving the terminal."""

import click

from mlkit.commands._options import FILE, Numbers, inputs_argument


@click.command()
@inputs_argument
@click.option("-o", "--output", metavar="OUT.png", **FILE, help="PNG file, or - for stdout [default: inline on kitty, iTerm2 or sixel terminals, "
              "else stdout when it is a pipe].")
@click.option("--overlay", "overlays", multiple=True, metavar="SEG", **FILE, help="Label image drawn over each input "
              "(one per input, in order, or one for all).")
@click.option("--pairs", is_flag=True, help="The inputs alternate image, segmentation (as `augment --seg ... -o -` writes them).")
@click.option("--style", type=click.Choice(["contour", "fill"]), default="contour", show_default=True,
              help="Overlay labels as outlines or as a translucent fill.")
@click.option("--at", type=Numbers(), metavar="X,Y,Z", help="Where the three planes cross: voxel indices (or --mm) [default: the centre].")
@click.option("--mm", is_flag=True, help="--at is in scanner millimetres.")
@click.option("--slices", type=click.IntRange(1, 64), help="A lightbox of N slices across --axis instead of three planes.")
@click.option("--axis", type=click.IntRange(0, 2), default=2, show_default=True, help="Array axis the --slices cut across.")
@click.option("--volume", type=click.IntRange(0), help="Which volume of a 4D series [default: 0].")
@click.option("--window", type=Numbers(), metavar="LO,HI", help="Intensity window [default: the 1st-99th percentiles].")
@click.option("--radiological", is_flag=True, help="The patient's right on the left of axial and coronal planes "
              "(the panel says so).")
@click.option("--labels/--no-labels", default=True, show_default=True,
              help="Orientation letters on the plane edges and slice numbers (x=, y=, z=: the file's voxel axes).")
@click.option("--columns", type=click.IntRange(1), help="Panels per row of a mosaic [default: as square as it gets].")
@click.option("--tile", type=click.IntRange(16, 4096), default=160, show_default=True,
              help="Small volumes are enlarged until a plane's longest side has this many pixels.")
def command(inputs, output, overlays, pairs, style, at, mm, slices, axis, volume, window, radiological, labels, columns, tile):
    """Draw images as a PNG: volumes as their sagittal, coronal and axial planes through the
    centre (anterior at the top of the axial plane, superior at the top of the others, the
    patient's left on the left, square pixels whatever the voxel size), or a lightbox with
    --slices, each plane labelled with L/R, A/P, S/I on its edges and its slice number; 2D
    images as they are. Several inputs, or a stream, make one mosaic, each panel
    captioned with its name; --overlay and --pairs draw segmentations on top.

    \b
    Examples:
      mlkit view t1.nii.gz --overlay t1_seg.nii.gz -o t1.png
      mlkit augment t1.nii.gz --seg t1_seg.nii.gz -n 20 --seed 1 -o - | mlkit view - --pairs -o copies.png
    """
    from mlkit.view import Settings

    if window is not None and (len(window) != 2 or window[0] >= window[1]):
        raise click.BadParameter("give LO,HI with LO < HI", param_hint="--window")
    if at is not None and len(at) != 3:
        raise click.BadParameter("give X,Y,Z", param_hint="--at")
    settings = Settings(at=tuple(at) if at else None, at_mm=mm, slices=slices, axis=axis, volume=volume,
                        window=tuple(window) if window else None, radiological=radiological, overlay=style, tile=tile,
                        labels=labels)
    ctx = click.get_current_context()
    given = {name for name in ("axis", "style", "tile")
             if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)}
    png = _render(inputs, overlays, pairs, settings, columns, given)
    _show(png, output)
    return 0


def _render(inputs, overlays, pairs, settings, columns, given):
    import cv2

    from mlkit.errors import MlkitError
    from mlkit.view import check_options, mosaic, picture

    images, segs = _images(inputs, overlays, pairs)
    check_options(images, segs, settings, given)
    panels = []
    for img, seg in zip(images, segs):
        try:
            panels.append(picture(img, seg, settings, caption=img.name if len(images) > 1 else None))
        except MlkitError as exc:
            raise type(exc)(f"{img.name}: {exc.message}", exc.hint) from None
    ok, buf = cv2.imencode(".png", mosaic(panels, columns)[..., ::-1])
    if not ok:
        raise MlkitError("OpenCV could not encode the picture as PNG")
    return buf.tobytes()


def _images(inputs, overlays, pairs):
    """(images, their overlays or None), every input read before anything is drawn."""
    from mlkit.errors import MlkitError, UsageError
    from mlkit.io.inputs import expand_inputs, input_label
    from mlkit.io.read import read_image, read_images

    if pairs and overlays:
        raise UsageError("--pairs takes the segmentations from the inputs, so --overlay has nothing to add",
                         "drop --overlay, or drop --pairs")
    images = []
    for path in expand_inputs(inputs):
        try:
            images += list(read_images(path))
        except MlkitError as exc:
            raise MlkitError(f"{input_label(path)}: {exc.message}", exc.hint) from None
    if pairs:
        if len(images) % 2:
            raise UsageError(f"--pairs needs image, segmentation pairs, but the inputs hold {len(images)} images")
        for seg in images[1::2]:
            _check_overlay(seg, f"the segmentation {seg.name} of --pairs")
        return images[0::2], images[1::2]
    segs = []
    for path in expand_inputs(list(overlays)):
        try:
            segs.append(read_image(path))
        except MlkitError as exc:
            raise MlkitError(f"{input_label(path)}: {exc.message}", exc.hint) from None
        _check_overlay(segs[-1], input_label(path))
    if segs and len(segs) not in (1, len(images)):
        raise UsageError(f"{len(images)} images but {len(segs)} overlays: give one per image, or one for all")
    return images, (segs * len(images) if len(segs) == 1 else segs) or [None] * len(images)


def _check_overlay(seg, label):
    from mlkit.errors import MlkitError
    from mlkit.view import check_overlay

    try:
        check_overlay(seg)
    except MlkitError as exc:
        raise MlkitError(f"{label}: {exc.message}", exc.hint) from None


def _show(png, output):
    import sys

    from mlkit.errors import UsageError
    from mlkit.io.write import atomic_write, refuse_terminal
    from mlkit.view import inline_bytes, inline_protocol

    if output not in (None, "-"):
        if not output.lower().endswith(".png"):
            raise UsageError(f"-o {output}: view writes PNG", "name it OUT.png, or -o - for stdout")
        with atomic_write(output) as out:
            out.write(png)
        return
    if output is None and sys.stdout.isatty():
        protocol = inline_protocol()
        if protocol is None:
            raise UsageError("this terminal cannot show pictures inline", "give -o view.png, run it in a terminal with kitty, iTerm2 or sixel graphics, or set MLKIT_INLINE")
        png = inline_bytes(png, protocol)
    else:
        refuse_terminal()
    sys.stdout.buffer.write(png)
    sys.stdout.flush()
