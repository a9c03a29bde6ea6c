"""`mlkit homography`: estimate planar homographies from point pairs, rectify images."""

import click

from mlkit.commands._options import FILE, batch_options, inputs_argument, interp_option, interp_order, run_batch, seed_option


@click.group()
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


ROBUST = ("robust", "threshold", "max_iters", "confidence", "seed")  # estimate()'s options


def robust_options(fn):
    options = [
        click.option("--robust", type=click.Choice(["none", "ransac", "lmeds"]), help="[default: ransac with more than 4 pairs]"),
        click.option("--threshold", type=float, default=3.0, show_default=True, help="RANSAC inlier distance, pixels."),
        click.option("--max-iters", type=click.IntRange(1), default=2000, show_default=True),
        click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.995, show_default=True),
    ]
    for option in reversed(options):
        fn = option(fn)
    return seed_option(fn)


def _robust(opts):
    return {k: opts.pop(k) for k in ROBUST}


def _read_pairs(points, src, dst):
    from mlkit.homography import pairs_from_csv, pairs_from_text

    if points and (src or dst):
        raise click.UsageError("give --points or --src/--dst, not both")
    if points:
        return pairs_from_csv(points)
    if src and dst:
        return pairs_from_text(src, dst)
    raise click.UsageError("give the pairs: --points PAIRS.csv, or --src and --dst")


@command.command()
@point_options
@robust_options
@click.option("--format", "fmt", type=click.Choice(["json", "txt", "npy"]), help="Matrix file format [default: by -o's extension, else json].")
@click.option("-o", "--output", metavar="FILE", **FILE, help="Write H here instead of stdout.")
def estimate(points, src, dst, fmt, output, **opts):
    """Estimate H from point pairs and print it (H[2][2] = 1).

    JSON output is one matrix file, which warp --matrix reads back:
    {"H": [[...], [...], [...]], "inliers": [...], "rmse_px": ..., "seed": ...}
    (seed: that of the random samples, null when there were none).

    \b
    Examples:
      mlkit homography estimate --points pairs.csv --robust ransac --threshold 2
      mlkit homography estimate --points pairs.csv -o H.npy
    """
    from mlkit.homography import estimate as estimate_h, write_result

    write_result(estimate_h(*_read_pairs(points, src, dst), **_robust(opts)), fmt, output)
    return 0


@command.command()
@inputs_argument
@click.option("--matrix", type=click.Path(exists=True, dir_okay=False), help="H as .json, .txt or .npy.")
@point_options
@robust_options
@click.option("--size", metavar="WxH", help="Canvas size (default: the destination points' bounding box).")
@click.option("--fit", is_flag=True, help="Canvas that holds the whole warped image.")
@interp_option
@click.option("--border", type=click.Choice(["constant", "replicate"]), default="constant", show_default=True, help="Outside the source: 0, or the edge value.")
@batch_options
def warp(inputs, matrix, points, src, dst, size, fit, border, **opts):
    """Warp images with H by inverse mapping (every output pixel looks up its
    source through H^-1, so there are no holes), with cv2.warpPerspective.
    --interp nearest copies values without blending: safe for label images.
    3D volumes are warped slice by slice with the same H.

    \b
    Examples:
      mlkit homography warp label.jpg --src "12,40 410,22 430,300 5,280" --dst "0,0 299,0 299,199 0,199" -o flat.png
      mlkit homography warp page.png --matrix H.json --fit --interp cubic -o page_rectified.png
    """
    from mlkit import provenance
    from mlkit.homography import parse_size, warp_work

    robust, order = _robust(opts), interp_order(opts, allowed=(0, 1, 3))
    if matrix and (points or src or dst):
        raise click.UsageError("give --matrix or point pairs, not both")
    if size and fit:
        raise click.UsageError("give --size or --fit, not both")
    pairs = None if matrix else _read_pairs(points, src, dst)
    work = warp_work(matrix, pairs, parse_size(size), fit, order, border, robust, cmdline=provenance.command_line())
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
    estimate H robustly (RANSAC by default) and print it as JSON (estimate's
    matrix file, with the number of matches).

    \b
    Example:
      mlkit homography match left.jpg right.jpg --draw matches.png > H.json
    """
    from mlkit.homography import match_images, write_result

    found, result = match_images(image1, image2, features, ratio, draw, _robust(opts))
    write_result(result, "json", None, extra={"matches": len(found[2])})
    return 0
