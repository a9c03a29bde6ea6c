"""`generate` as a library call: new samples, a grid, or a latent walk from a GAN checkpoint."""

from mlkit.gan import formats, grid, steps
from mlkit.io import limits

# Bytes per output value: the generator's float32 output, to_uint8's float32 copy, the uint8
# pictures, the grid they are tiled into and the PNG written from it.
VALUE_BYTES = 4 + 4 + 1 + 1 + 1


def load_generator(checkpoint_dir, device="auto", step=None):
    """(generator, config, checkpoint path, step): the generator of the latest checkpoint, or
    of the one at `step`."""
    from mlkit.deep.runtime import Runtime

    run, config = formats.open_run(checkpoint_dir)
    latest = formats.checkpoint_at(run, step)  # a step not kept is said before TensorFlow loads
    Runtime(device=device)
    from mlkit.gan.model import generator

    g = generator(config["image_size"], config["channels"], config["z_dim"], config["gf_dim"])
    state = run.restore({"generator": (g, None)}, latest)
    return g, config, latest, state["step"]


def generate(checkpoint_dir, n=64, seed=0, rows_cols=None, interpolate=None, device="auto", step=None):
    """Images (mlkit Image objects): n samples from z drawn with `seed`, one per image or tiled
    into a rows x cols grid; with interpolate=(seed_a, seed_b), an n-frame strip between them."""
    check_output(formats.open_run(checkpoint_dir)[1], n, rows_cols, where=checkpoint_dir)
    g, config, latest, step = load_generator(checkpoint_dir, device, step)
    if interpolate is not None:
        z = grid.walk(interpolate[0], interpolate[1], n, config["z_dim"])
        rows_cols = (1, n)
    else:
        z = grid.latent(seed, n, config["z_dim"])
    pixels = grid.to_uint8(g(z, training=False).numpy())
    params = {"checkpoint": latest, "step": step, "n": n, "grid": rows_cols, "interpolate": interpolate}
    entry = steps.entry("generate", params, seed=None if interpolate else seed)
    if rows_cols is not None:
        name = "walk" if interpolate else "grid"
        return [steps.picture(grid.tile(pixels, *rows_cols), name, entry)]
    return [steps.picture(p, f"sample_{i + 1:04d}", entry) for i, p in enumerate(pixels)]


def check_output(config, n, rows_cols=None, where="the run"):
    """Refuse n samples (or a rows x cols grid) whose pixels would pass the memory limit,
    before the latent vectors or the network take any memory."""
    cells = max(n, rows_cols[0] * rows_cols[1] if rows_cols else 0)
    pixels = config["image_size"] ** 2 * config["channels"]
    limits.check(cells * (pixels * VALUE_BYTES + config["z_dim"] * 4), f"{where}: {cells} samples")
