"""The fast mode of `mlkit stylize` against the optimisation mode and the plain Keras pattern.

1. Painting one picture: `mlkit stylize apply` (one forward pass of the default network, width
   32, 5 residual blocks) against the optimisation mode's 500 L-BFGS iterations, at 256 and
   512 px. The L-BFGS figure is a few timed iterations scaled linearly to 500 (a 500-iteration
   run at 512 px takes over an hour on this CPU); the apply figure is the median forward pass,
   and the whole `mlkit stylize apply` command (start-up, TensorFlow import, loading the
   network, reading, writing) is timed once at 512 px.
2. Training steps per second: `mlkit stylize train` (its loop: prefetched photo crops, the
   compiled step, metrics.jsonl) against the plain Keras pattern of lengstrom/fast-style-transfer
   written here: the same network and loss (keras.applications.VGG19 with the same weights,
   mean-square terms, Gram matrices / (h w c)), a tf.function GradientTape step, the batch's
   photos read and resized in Python before each step. Rounds alternate the two; medians of
   the seconds between steps (the first step, which traces, left out).

    python benchmarks/stylize_fast.py [--sizes 256,512] [--lbfgs-iterations 3] [--train-size 128]
                                      [--batch-size 2] [--steps 6] [--rounds 2] [--weights FILE.h5]

Without --weights, VGG19's architecture with seeded random weights (the ImageNet file cannot
be downloaded on the machine these figures come from); speed does not depend on the values.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up notices
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry", "hubble_deep_field", "cat")


def photo_folder(folder):
    import cv2
    import skimage.data

    os.makedirs(folder, exist_ok=True)
    for name in PHOTOS:
        picture = getattr(skimage.data, name)()
        cv2.imwrite(os.path.join(folder, f"{name}.png"), picture[..., ::-1] if picture.ndim == 3 else picture)
    return folder


def apply_seconds(folder, sizes, repeats=5):
    """{size: median seconds of one forward pass}, and the saved network's path."""
    import cv2
    import skimage.data

    from mlkit.deep.runtime import Runtime

    Runtime(device="cpu", mixed_precision=False)  # TensorFlow imported quietly, on the CPU
    from mlkit.style import model
    from mlkit.style.fast import painted_pixels

    path = os.path.join(folder, "model.keras")
    model.save(model.transform_net(), path)
    net = model.load(path)
    out = {}
    for size in sizes:
        picture = cv2.resize(skimage.data.astronaut(), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
        forward = lambda: painted_pixels(lambda x: model.paint(net, x), picture, False)  # noqa: E731
        forward()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            forward()
            times.append(time.perf_counter() - start)
        out[size] = statistics.median(times)
    return out, path


def apply_command(network, picture, output):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlkit", "stylize", "apply", network, picture, "--device", "cpu", "-o", output],
                   check=True, capture_output=True, env={**os.environ, "PYTHONPATH": ROOT})
    return time.perf_counter() - start


def mlkit_steps(photos, style, weights, run, size, batch, steps):
    """Seconds between the steps of `mlkit stylize train` (the library call the command makes)."""
    import shutil

    from mlkit.style import Settings, model, train

    stamps, step = [], model.Trainer.step

    def timed(self, batch_):
        record = step(self, batch_)
        float(record["loss"])
        stamps.append(time.perf_counter())
        return record

    shutil.rmtree(run, ignore_errors=True)
    model.Trainer.step = timed
    try:
        train([photos], [style], run, Settings(size=size), steps_total=steps, batch_size=batch, seed=1, weights=weights,
              device="cpu", sample_every=10**6)
    finally:
        model.Trainer.step = step
    return np.diff(stamps)[1:]


def plain_steps(photos, style, weights, size, batch, steps):
    """lengstrom/fast-style-transfer's pattern in Keras: the same network and loss."""
    import cv2

    from mlkit.deep.runtime import import_tf
    from mlkit.style import model

    tf, keras = import_tf()
    content_layer = "block4_conv2"
    style_layers = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
    vgg = keras.applications.VGG19(include_top=False, weights=weights)
    features = keras.Model(vgg.input, [vgg.get_layer(n).output for n in [content_layer] + style_layers])
    preprocess = keras.applications.vgg19.preprocess_input

    def gram(f):
        b, h, w, c = tf.unstack(tf.shape(f))
        flat = tf.reshape(f, (b, h * w, c))
        return tf.matmul(flat, flat, transpose_a=True) / tf.cast(h * w * c, tf.float32)

    style_picture = cv2.cvtColor(cv2.imread(style), cv2.COLOR_BGR2RGB).astype(np.float32)
    scale = size / max(style_picture.shape[:2])
    style_picture = cv2.resize(style_picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    style_grams = [gram(f) for f in features(preprocess(style_picture[None]))[1:]]
    net = model.transform_net()
    optimizer = keras.optimizers.Adam(1e-3)

    @tf.function
    def train_step(x):
        content_target = features(preprocess(x))[0]
        with tf.GradientTape() as tape:
            y = net(x, training=True)
            out = features(preprocess(y))
            content_loss = 5.0 * tf.reduce_mean(tf.square(out[0] - content_target))
            style_loss = 500.0 * tf.add_n([tf.reduce_mean(tf.square(gram(f) - g)) for f, g in zip(out[1:], style_grams)]) / 5
            tv_loss = 100.0 * (tf.reduce_mean(tf.square(y[:, 1:] - y[:, :-1])) + tf.reduce_mean(tf.square(y[:, :, 1:] - y[:, :, :-1])))
            loss = content_loss + style_loss + tv_loss
        grads = tape.gradient(loss, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables))
        return loss

    files = sorted(os.path.join(photos, f) for f in os.listdir(photos))
    stamps = []
    for step in range(steps):
        names = [files[(step * batch + i) % len(files)] for i in range(batch)]
        x = np.stack([cv2.resize(_rgb(cv2.imread(n)), (size, size)) for n in names]).astype(np.float32)
        float(train_step(tf.constant(x)))
        stamps.append(time.perf_counter())
    return np.diff(stamps)[1:]


def _rgb(picture):
    import cv2

    return cv2.cvtColor(picture, cv2.COLOR_BGR2RGB) if picture.ndim == 3 else cv2.cvtColor(picture, cv2.COLOR_GRAY2RGB)


def run_in_fresh_process(kind, args, folder):
    """One training measurement in its own interpreter (each starts TensorFlow alike)."""
    code = (f"import sys, json; sys.path[:0] = [{ROOT!r}, {HERE!r}]\n"
            "import stylize_fast as b\n"
            f"a = {args!r}\n"
            f"t = b.{kind}_steps(**a)\nprint(json.dumps([float(v) for v in t]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=folder)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    import json

    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--lbfgs-iterations", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--weights")
    parser.add_argument("--skip-lbfgs", action="store_true")
    args = parser.parse_args()
    from stylize_speed import per_iteration, pictures, weights_file

    with tempfile.TemporaryDirectory() as folder:
        paths, weights = pictures(folder), weights_file(folder, args.weights)
        photos = photo_folder(os.path.join(folder, "photos"))
        sizes = [int(s) for s in args.sizes.split(",")]
        print(f"CPU, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
              f"{'given' if args.weights else 'random'} VGG19 weights")
        common = {"photos": photos, "style": paths["coffee"], "weights": weights, "size": args.train_size,
                  "batch": args.batch_size, "steps": args.steps}
        rows = {"mlkit": [], "plain": []}
        for _ in range(args.rounds):
            rows["mlkit"] += run_in_fresh_process("mlkit", {**common, "run": os.path.join(folder, "run")}, folder)
            rows["plain"] += run_in_fresh_process("plain", common, folder)
        mlkit, plain = statistics.median(rows["mlkit"]), statistics.median(rows["plain"])
        print(f"\ntraining, {args.train_size} px crops, batch {args.batch_size}, {args.steps} steps x {args.rounds} rounds:")
        print("| | s / step (median) | steps / s |\n|---|---|---|")
        print(f"| mlkit stylize train | {mlkit:.2f} | {1 / mlkit:.3f} |")
        print(f"| plain Keras (lengstrom pattern) | {plain:.2f} | {1 / plain:.3f} |")
        print(f"mlkit / plain steps/s: {plain / mlkit:.2f}x", flush=True)

        forward, network = apply_seconds(folder, sizes)
        whole = apply_command(network, paths["astronaut"], os.path.join(folder, "painted.png"))
        print("\n| size | apply: one forward pass | L-BFGS: s / iteration | 500 iterations (scaled) | speed-up |")
        print("|---|---|---|---|---|")
        for size in sizes:
            if args.skip_lbfgs:
                print(f"| {size} px | {forward[size]:.3f} s | | | |", flush=True)
                continue
            step, first = per_iteration(paths, weights, size, "lbfgs", args.lbfgs_iterations)
            print(f"| {size} px | {forward[size]:.3f} s | {step:.2f} s | {500 * step:.0f} s | {500 * step / forward[size]:.0f}x |",
                  flush=True)
        print(f"whole `mlkit stylize apply` command, 512 x 512 astronaut: {whole:.1f} s")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
