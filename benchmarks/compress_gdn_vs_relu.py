"""Does GDN pay? The rd model with its GDN layers, and the same model with ReLU in their place,
trained alike on the digits (--quality 3, 60 epochs, seed 1) and measured on the held-out 360.

    python benchmarks/compress_data.py /tmp/cb    # the data, if not there yet
    python benchmarks/compress_gdn_vs_relu.py /tmp/cb
"""

import sys

import numpy as np


def train(root, name, plain):
    from mlkit.cli import main
    from mlkit.compress import rd
    from mlkit.deep.runtime import import_tf

    _, keras = import_tf()
    gdn, prior = rd.layers()
    if plain:
        rd.layers = lambda: (lambda inverse=False: keras.layers.ReLU(), prior)
    sys.argv = ["mlkit", "compress", "train", f"{root}/digits/train", "-o", f"{root}/{name}.keras", "--kind", "rd",
                "--latent", "16", "--size", "16x16", "--quality", "3", "--epochs", "60", "--patience", "10", "--seed", "1",
                "--device", "cpu"]
    try:
        main()
    except SystemExit:
        pass
    rd.layers = lambda: (gdn, prior)


def measure(root, name):
    from mlkit.compress import codec, metrics
    from mlkit.compress.steps import read_set
    from mlkit.deep.runtime import import_tf

    model = codec.load(f"{root}/{name}.keras", import_tf()[1])
    images = read_set([f"{root}/digits/test"])
    raw = codec.encode(model, images)
    scores = [metrics.psnr(np.asarray(i.data), d) for i, (_, d) in zip(images, codec.decode(model, raw))]
    print(f"| {name} | {len(raw) * 8 / (256 * len(images)):.3f} | {np.mean(scores):.2f} |")


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "compress-bench"
    print("| transform | bpp | mean PSNR dB |\n|---|---|---|")
    for name, plain in (("gdn-q3", False), ("relu-q3", True)):
        train(root, name, plain)
        measure(root, name)
