"""`mlkit homography`: estimate planar homographies from point pairs, rectify images."""

import click

from mlkit.commands._options import batch_options, inputs_argument, run_batch

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
def command():
    """Estimate a homography H from point pairs (normalised DLT, RANSAC or LMedS,
    refined on the reprojection error) and warp images with it. H maps source
    pixels to destination pixels, x right and y down.

    \b
    Examples:
      mlkit homography estimate --src "12,40 410,22 430,300 5,280" --dst "0,0 299,0 299,199 0,199"
      mlkit homography warp label.jpg --src "12,40 410,22 430,300 5,280" --dst "0,0 299,0 299,199 0,199" -o flat.png
    """


def point_options(fn):
    options = [
        click.option("--points", type=click.Path(dir_okay=False, allow_dash=True), help="CSV with header src_x,src_y,dst_x,dst_y (- for stdin)."),
        click.option("--src", help='Source points "x,y x,y ...".'),
        click.option("--dst", help='Destination points "x,y x,y ...".'),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def robust_options(fn):
    options = [
        click.option("--robust", type=click.Choice(["none", "ransac", "lmeds"]), help="[default: ransac with more than 4 pairs]"),
        click.option("--threshold", type=float, default=3.0, show_default=True, help="RANSAC inlier distance, pixels."),
        click.option("--max-iters", type=click.IntRange(1), default=2000, show_default=True),
        click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.995, show_default=True),
        click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed for the random samples."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _read_pairs(points, src, dst):
    from mlkit.homography_io import pairs_from_csv, pairs_from_text

    if points and (src or dst):
        raise click.UsageError("give --points or --src/--dst, not both")
    if points:
        return pairs_from_csv(points)
    if src and dst:
        return pairs_from_text(src, dst)
    raise click.UsageError("give the pairs: --points PAIRS.csv, or --src and --dst")


def _estimate(pairs, opts):
    from mlkit.homography import estimate

    return estimate(
        *pairs,
        robust=opts["robust"],
        threshold=opts["threshold"],
        max_iters=opts["max_iters"],
        confidence=opts["confidence"],
        seed=opts["seed"],
    )


@command.command()
@point_options
@robust_options
@click.option("--format", "fmt", type=click.Choice(["json", "txt", "npy"]), help="[default: by -o's extension, else json]")
@click.option("-o", "--output", metavar="FILE", help="Write H here instead of stdout.")
def estimate(points, src, dst, fmt, output, **opts):
    """Estimate H from point pairs and print it (H[2][2] = 1).

    JSON output: {"H": [[...], [...], [...]], "inliers": [...], "rmse_px": ...}.

    \b
    Examples:
      mlkit homography estimate --points pairs.csv --robust ransac --threshold 2
      mlkit homography estimate --points pairs.csv -o H.npy
    """
    from mlkit.homography_io import write_result

    result = _estimate(_read_pairs(points, src, dst), opts)
    write_result(result, fmt, output)
    return 0


@command.command()
@inputs_argument
@click.option("--matrix", type=click.Path(exists=True, dir_okay=False), help="H as .json, .txt or .npy.")
@point_options
@robust_options
@click.option("--size", metavar="WxH", help="Canvas size (default: the destination points' bounding box).")
@click.option("--fit", is_flag=True, help="Canvas that holds the whole warped image.")
@click.option("--interp", type=click.Choice(["nearest", "linear", "cubic"]), default="linear", show_default=True)
@click.option("--border", type=click.Choice(["constant", "replicate"]), default="constant", show_default=True, help="Outside the source: 0, or the edge value.")
@batch_options
def warp(inputs, matrix, points, src, dst, size, fit, interp, border, **opts):
    """Warp images with H by inverse mapping (every output pixel looks up its
    source through H^-1, so there are no holes). 3D volumes are warped slice by
    slice with the same H.

    \b
    Examples:
      mlkit homography warp label.jpg --src "12,40 410,22 430,300 5,280" --dst "0,0 299,0 299,199 0,199" -o flat.png
      mlkit homography warp page.png --matrix H.json --fit --interp cubic -o page_rectified.png
    """
    import functools

    from mlkit import provenance
    from mlkit.homography_io import parse_size, read_matrix, warp_step

    robust = {k: opts.pop(k) for k in ("robust", "threshold", "max_iters", "confidence", "seed")}
    if matrix and (points or src or dst):
        raise click.UsageError("give --matrix or point pairs, not both")
    if size and fit:
        raise click.UsageError("give --size or --fit, not both")
    if matrix:
        H, dst_points = read_matrix(matrix), None
    else:
        pairs = _read_pairs(points, src, dst)
        H, dst_points = _estimate(pairs, robust).H, pairs[1]
    work = functools.partial(
        warp_step, H=H, size=parse_size(size), fit=fit, dst_points=dst_points, interp=interp, border=border,
        cmdline=provenance.command_line(),
    )
    return run_batch(inputs, work, opts)


@command.command()
@click.argument("image1", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("image2", type=click.Path(dir_okay=False, allow_dash=True))
# the choices are mlkit.homography.FEATURES, spelled out so that --help imports no OpenCV
@click.option(
    "--features", type=click.Choice(["orb", "sift"]), default="orb", show_default=True, help="ORB (fast, binary) or SIFT (slower, more accurate)."
)
@click.option("--ratio", type=click.FloatRange(0, 1), default=0.75, show_default=True, help="Lowe's ratio test.")
@click.option("--draw", type=click.Path(dir_okay=False), help="Save the inlier matches side by side (PNG).")
@robust_options
def match(image1, image2, features, ratio, draw, **opts):
    """Find the point pairs automatically (ORB or SIFT features, ratio test),
    estimate H robustly (RANSAC by default) and print it as JSON.

    \b
    Example:
      mlkit homography match left.jpg right.jpg --draw matches.png > H.json
    """
    from mlkit.homography_io import match_images, write_result

    opts["robust"] = opts["robust"] or "ransac"
    found, result = match_images(image1, image2, features, ratio, draw, lambda pairs: _estimate(pairs, opts))
    write_result(result, "json", None, extra={"matches": len(found[2])})
    return 0
