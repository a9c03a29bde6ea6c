"""Training steps per second: mlkit's DCGAN step against a plain implementation of the same
architecture with the TensorFlow tutorial's training pattern (a tf.function train step with
GradientTape, Keras loss objects, a shuffled tf.data pipeline), same image size, batch and
update rule (one discriminator update, then two generator updates), same machine, one run.

    python benchmarks/gan_steps.py [--image-size 32] [--batch-size 64] [--steps 40] [--rounds 3]

Rounds alternate the two so that other load on the machine hits both alike; medians are quoted.
Then the whole command (`mlkit train-gan`, start-up and data loading included) is timed once.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def faces(size):
    """scikit-image's 200 lfw_subset faces at size x size, in [-1, 1]."""
    import cv2
    import skimage.data

    stack = skimage.data.lfw_subset().astype(np.float32)
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in stack])[..., None] * 2 - 1


def plain_trainer(tf, keras, images, batch, z_dim=100, gf=64, df=64):
    """The tutorial pattern, written out by hand as a user would."""
    size, ch = images.shape[1], images.shape[3]
    ups = int(np.log2(size)) - 2
    init = keras.initializers.RandomNormal(stddev=0.02)
    depth = gf * 2 ** (ups - 1)
    g = keras.Sequential([keras.Input((z_dim,)), keras.layers.Dense(4 * 4 * depth, kernel_initializer=init),
                          keras.layers.Reshape((4, 4, depth)), keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
                          keras.layers.ReLU()])
    for _ in range(ups - 1):
        depth //= 2
        g.add(keras.layers.Conv2DTranspose(depth, 5, strides=2, padding="same", kernel_initializer=init))
        g.add(keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5))
        g.add(keras.layers.ReLU())
    g.add(keras.layers.Conv2DTranspose(ch, 5, strides=2, padding="same", kernel_initializer=init, activation="tanh"))
    d = keras.Sequential([keras.Input((size, size, ch))])
    for i in range(4):
        d.add(keras.layers.Conv2D(df * 2 ** i, 5, strides=2, padding="same", kernel_initializer=init))
        if i:
            d.add(keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5))
        d.add(keras.layers.LeakyReLU(0.2))
    d.add(keras.layers.Flatten())
    d.add(keras.layers.Dense(1, kernel_initializer=init))
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt, d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)

    @tf.function
    def train_step(real):
        z = tf.random.uniform((batch, z_dim), -1.0, 1.0)
        with tf.GradientTape() as tape:
            real_out, fake_out = d(real, training=True), d(g(z, training=True), training=True)
            d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
        d_opt.apply_gradients(zip(tape.gradient(d_loss, d.trainable_variables), d.trainable_variables))
        for _ in range(2):
            with tf.GradientTape() as tape:
                fake_out = d(g(z, training=True), training=True)
                g_loss = bce(tf.ones_like(fake_out), fake_out)
            g_opt.apply_gradients(zip(tape.gradient(g_loss, g.trainable_variables), g.trainable_variables))
        return d_loss, g_loss

    data = iter(tf.data.Dataset.from_tensor_slices(images).shuffle(len(images)).repeat().batch(batch, drop_remainder=True))

    def step():
        d_loss, g_loss = train_step(next(data))
        return float(d_loss), float(g_loss)  # the tutorial prints/logs the losses

    return step


def mlkit_trainer(runtime, images, batch):
    from mlkit.deep.data import batches
    from mlkit.gan.config import settings
    from mlkit.gan.model import Gan

    config = {**settings(image_size=images.shape[1], batch_size=batch), "channels": images.shape[3], "seed": 1}
    gan = Gan(config, runtime.strategy, runtime.mixed_precision)
    data = iter(runtime.strategy.experimental_distribute_dataset(batches(runtime.tf, images, batch, seed=1)))
    counter = [0]

    def step():
        counter[0] += 1
        return gan.train_step(next(data), counter[0])

    return step


def rate(step, n):
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return n / (time.perf_counter() - t0)


def whole_command(size, batch, steps):
    import cv2

    work = tempfile.mkdtemp(prefix="gan_steps_")
    folder = os.path.join(work, "faces")
    os.makedirs(folder)
    import skimage.data

    for i, f in enumerate(skimage.data.lfw_subset()):
        cv2.imwrite(os.path.join(folder, f"{i:03d}.png"), np.rint(f * 255).astype(np.uint8))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlkit", "-q", "train-gan", folder, "-c", os.path.join(work, "run"),
                    "--image-size", str(size), "--batch-size", str(batch), "--steps", str(steps), "--seed", "1",
                    "--device", "cpu"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from mlkit.deep.runtime import Runtime

    runtime = Runtime(device=args.device, seed=1)
    images = faces(args.image_size)
    ours, peer = mlkit_trainer(runtime, images, args.batch_size), plain_trainer(runtime.tf, runtime.keras, images, args.batch_size)
    for step in (ours, peer):  # trace and warm up
        for _ in range(3):
            step()
    rates = {"mlkit": [], "plain": []}
    for _ in range(args.rounds):
        rates["mlkit"].append(rate(ours, args.steps))
        rates["plain"].append(rate(peer, args.steps))
    m, p = statistics.median(rates["mlkit"]), statistics.median(rates["plain"])
    print(f"{os.cpu_count()} cores, {runtime.describe()}; image size {args.image_size}, batch {args.batch_size}, "
          f"{args.rounds} rounds of {args.steps} steps each")
    print("| implementation | steps/s (median) | all rounds |")
    print("|---|---|---|")
    for name, value in (("mlkit train step", m), ("plain tf.function + GradientTape", p)):
        print(f"| {name} | {value:.2f} | {' '.join(f'{r:.2f}' for r in rates['mlkit' if name.startswith('mlkit') else 'plain'])} |")
    print(f"ratio mlkit / plain: {m / p:.2f}x")
    total = args.steps * 2
    seconds = whole_command(args.image_size, args.batch_size, total)
    print(f"whole command, {total} steps (start-up, data loading, checkpoint, samples included): {seconds:.1f} s, "
          f"{total / seconds:.2f} steps/s")


if __name__ == "__main__":
    main()
