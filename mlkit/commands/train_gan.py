"""`mlkit train-gan`: a DCGAN on image folders or MRI slices, with checkpoints and resume."""

import click

from mlkit.commands._options import DIR, FILE, device_option, seed_option
from mlkit.commands._output import emit, format_option


def _power_of_two(ctx, param, value):
    if value < 8 or value & (value - 1):
        raise click.BadParameter(f"{value} is not a power of two >= 8 (16, 32, 64, 128 ...)")
    return value


@click.command()
@click.argument("data", nargs=-1, required=True, metavar="DATA...", **FILE)
@click.option("-c", "--checkpoint-dir", required=True, metavar="DIR", **DIR, help="Run folder: checkpoints, samples, metrics.jsonl. Rerun to resume.")
@click.option("--image-size", type=int, default=64, show_default=True, callback=_power_of_two, help="Side of the square images (a power of two >= 8).")
@click.option("--channels", type=click.Choice(["auto", "1", "3"]), default="auto", show_default=True, help="1 (gray) or 3 (colour); auto: 3 if any input has colour.")
@click.option("--epochs", type=click.FloatRange(0, min_open=True), default=20, show_default=True, help="Passes over the data (ignored with --steps).")
@click.option("--steps", "steps_total", type=click.IntRange(1), help="Train until this global step.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--z-dim", type=click.IntRange(1), default=100, show_default=True, help="Size of the latent vector z ~ U(-1, 1).")
@click.option("--gf-dim", type=click.IntRange(1), default=64, show_default=True, help="Generator filters in its last layer.")
@click.option("--df-dim", type=click.IntRange(1), default=64, show_default=True, help="Discriminator filters in its first layer.")
@click.option("--lr", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.0002, show_default=True, help="The generator's Adam learning rate (the discriminator's: --d-lr).")
@click.option("--d-lr", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="The discriminator's Adam learning rate [default: half of --lr; the tutorials use --lr].")
@click.option("--beta1", type=click.FloatRange(0, 1, max_open=True), default=0.5, show_default=True, help="Adam beta1.")
@click.option("--g-steps", type=click.IntRange(1), default=2, show_default=True, help="Generator updates per discriminator update.")
@click.option("--label-smoothing", type=click.FloatRange(0, 0.5, max_open=True),
              help="One-sided: the discriminator's target for real images is 1 minus this [default: 0.1; 0 as in the tutorials].")
@click.option("--sample-every", type=click.IntRange(1), default=100, show_default=True, help="Steps between 8x8 sample grids (CKPT/samples/).")
@click.option("--checkpoint-every", type=click.IntRange(1), default=500, show_default=True, help="Steps between checkpoints (the latest 3 kept).")
@click.option("--logdir", type=click.Path(file_okay=False), help="TensorBoard logs: losses, D outputs, z histogram, sample grids.")
@seed_option
@click.option("--slice-axis", type=click.IntRange(0, 2), default=2, show_default=True, help="Volumes are cut into 2D slices along this axis.")
@device_option
@format_option()
def command(data, checkpoint_dir, steps_total, epochs, sample_every, checkpoint_every, logdir, seed, device, fmt, **settings):
    """Train a DCGAN (as in the TensorFlow DCGAN tutorials) on images: folders
    (png/jpg, searched recursively), globs, or NIfTI volumes (their non-empty 2D
    slices). Images are centre-cropped and resized to --image-size. Rerunning the
    same command resumes from the latest checkpoint with the same step counter,
    weights, optimizer state and data order; Ctrl-C checkpoints, then exits 130.
    CKPT/metrics.jsonl gets one line per step (step, d_loss, g_loss, d_real, d_fake).

    \b
    Examples:
      mlkit train-gan faces/ -c runs/faces --image-size 32 --epochs 50 --seed 1
      mlkit train-gan anatomical.nii -c runs/mri --image-size 16 --steps 500
      mlkit generate -c runs/faces --grid 8x8 --seed 3 -o grid.png
    """
    from mlkit.deep.runtime import require_deep

    require_deep("train-gan")
    from mlkit.gan import train

    if settings["channels"] != "auto":
        settings["channels"] = int(settings["channels"])
    given = click.get_current_context().get_parameter_source("seed") != click.core.ParameterSource.DEFAULT
    summary = train(list(data), checkpoint_dir, settings, seed=seed if given else None, drawn_seed=seed,
                    steps_total=steps_total, epochs=epochs, sample_every=sample_every,
                    checkpoint_every=checkpoint_every, logdir=logdir, device=device)
    if fmt == "table":  # a summary for people: stderr, silenced by -q; json/csv are data for stdout
        from mlkit import ui

        ui.info(_text(summary))
    else:
        emit([summary], fmt, _text)


def _text(row):
    begun = f"from step {row['started_at']} " if row["started_at"] else ""
    return (f"trained {begun}to step {row['step']} ({row['epochs']} epochs over {row['images']} images, {row['device']}); "
            f"checkpoint {row['latest']}; samples {row['samples']}")
