"""`mlkit generate`: new images from a `train-gan` checkpoint."""

import click

from mlkit.commands._options import DIR, FILE, device_option, seed_option


def _grid(ctx, param, value):
    from mlkit.gan.grid import parse_grid

    if value is None:
        return None
    try:
        return parse_grid(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option("-c", "--checkpoint-dir", required=True, metavar="DIR", **DIR, help="A folder made by mlkit train-gan.")
@click.option("-n", "--count", type=click.IntRange(1, 4096), help="Samples (or walk frames) [default: rows*cols of --grid, else 64; 10 for --interpolate].")
@click.option("--grid", "rows_cols", metavar="ROWSxCOLS", callback=_grid, help="Tile the samples into one image, e.g. 8x8.")
@click.option("--interpolate", type=click.IntRange(0), nargs=2, metavar="SEED_A SEED_B", help="A strip of -n frames walking the latent space from SEED_A's z to SEED_B's.")
@click.option("--step", type=click.IntRange(1), help="Use the checkpoint of this step (one of the kept ones) [default: the latest].")
@seed_option
@click.option("-o", "--output", metavar="OUT", **FILE, help="A file (grid.png), a folder (ending in /) or - for the mlkit stream (the default when piped).")
@device_option
def command(checkpoint_dir, count, rows_cols, interpolate, step, seed, output, device):
    """Generate images with the latest (or --step's) checkpoint's generator: one image per
    sample, or one grid with --grid, or a latent walk with --interpolate. The
    same checkpoint and --seed give the same images.

    \b
    Examples:
      mlkit generate -c runs/faces --grid 8x8 --seed 3 -o grid.png
      mlkit generate -c runs/faces -n 100 --seed 3 -o samples/
      mlkit generate -c runs/faces --interpolate 3 7 -n 12 -o walk.png
    """
    import os
    import sys

    from mlkit.deep.runtime import require_deep
    from mlkit.io.batch import make_sink

    if interpolate and rows_cols:
        raise click.UsageError("--interpolate writes one strip: drop --grid")
    if count is None:
        count = 10 if interpolate else (rows_cols[0] * rows_cols[1] if rows_cols else 64)
    if rows_cols and count > rows_cols[0] * rows_cols[1]:
        raise click.BadParameter(f"{count} samples do not fit a {rows_cols[0]}x{rows_cols[1]} grid", param_hint="-n")
    if output is None and sys.stdout.isatty():
        raise click.UsageError("give -o grid.png or -o folder/, or pipe the images into another command")
    outputs = 1 if rows_cols or interpolate else count
    if outputs > 1 and output not in (None, "-") and not output.endswith(("/", os.sep)) and not os.path.isdir(output):
        raise click.UsageError(f"-n {count} makes {count} images, but -o {output} names one file: "
                               "give a folder (-o samples/), or --grid to tile them into one picture")
    make_sink(output, outputs)  # a wrong -o is refused before generating
    require_deep("generate")
    from mlkit.gan import generate, write

    images = generate(checkpoint_dir, n=count, seed=seed, rows_cols=rows_cols, interpolate=interpolate, device=device,
                      step=step)
    write(images, output)
