"""`generate` as a library call: new samples, a grid, or a latent walk from a GAN checkpoint."""

from mlkit.gan import formats, grid, steps


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
