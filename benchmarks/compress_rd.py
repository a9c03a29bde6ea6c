"""Rate-distortion of `mlkit compress` (conv autoencoder, 8-bit codes) against JPEG, WebP and
AVIF at equal PSNR (headers once per set) on held-out in-domain data and out of domain, and
encode/decode images per second on the CPU.

    python benchmarks/compress_rd.py [WORK_DIR]

It writes the data (benchmarks/compress_data.py), trains one model per domain with the CLI,
runs `mlkit compress eval --format json` on every pair, and prints the table as Markdown.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from common import median_time  # noqa: E402

MODELS = {  # name: (training set, train options)
    "digits": ("digits/train", ["--latent", "16", "--size", "16x16", "--epochs", "100", "--patience", "8"]),
    "faces": ("faces/train", ["--latent", "48", "--size", "24x24", "--epochs", "400", "--patience", "30", "--batch-size", "16"]),
    "mri": ("mri/train", ["--latent", "64", "--size", "128x96", "--epochs", "300", "--patience", "30", "--batch-size", "8"]),
}
EVALS = [  # (model, test set, in domain?)
    ("digits", "digits/test", True), ("faces", "faces/test", True), ("mri", "mri/test", True),
    ("digits", "camera16", False), ("faces", "camera24", False), ("digits", "faces16", False),
]


def mlkit(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "mlkit", *map(str, args)], check=True, capture_output=True, **kwargs)


def faces16(root):
    """The held-out faces at 16x16: out of domain for the digits model."""
    import cv2

    os.makedirs(f"{root}/faces16", exist_ok=True)
    for name in sorted(os.listdir(f"{root}/faces/test")):
        face = cv2.imread(f"{root}/faces/test/{name}", cv2.IMREAD_UNCHANGED)
        cv2.imwrite(f"{root}/faces16/{name}", cv2.resize(face, (16, 16), interpolation=cv2.INTER_AREA))


def train(root):
    for name, (data, options) in MODELS.items():
        model = f"{root}/{name}.keras"
        if not os.path.exists(model):
            start = time.perf_counter()
            mlkit("compress", "train", f"{root}/{data}", "-o", model, "--kind", "conv", "--seed", "1", "--device", "cpu", *options)
            print(f"trained {name} in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def row(root, model, data, in_domain, plot=None):
    args = ["compress", "eval", f"{root}/{model}.keras", f"{root}/{data}", "--format", "json", "--device", "cpu"]
    mean = json.loads(mlkit(*args, *(["--plot", plot] if plot else [])).stdout)[-1]
    cells = [f"{model} -> {data}", "in" if in_domain else "out", str(mean["images"]),
             f"{mean['psnr_db']:.2f}", f"{mean['ssim']:.3f}", f"**{mean['bpp']:.3f}**"]
    for codec in ("jpeg", "webp", "avif"):
        c = mean[codec]
        mark = "" if c["reached"] else " (max)"
        cells.append(f"q{c['quality']}{mark} {c['psnr_db']:.2f} dB, {c['bpp']:.3f} ({c['bpp_per_file']:.2f})")
    cells += [f"{mean['png']['bpp']:.2f}", f"{mean['gzip']['bpp']:.2f}"]
    return "| " + " | ".join(cells) + " |"


def speed(root):
    """Images per second: the library's encode/decode on the digits test set, and whole commands."""
    from mlkit.compress import decode, encode, load
    from mlkit.compress.steps import read_set
    from mlkit.deep.runtime import Runtime

    codec = load(f"{root}/digits.keras", Runtime(device="cpu").keras)
    images = read_set([f"{root}/digits/test"])
    raw = encode(codec, images)
    enc = median_time(lambda: encode(codec, images), repeats=5)
    dec = median_time(lambda: decode(codec, raw), repeats=5)
    mlz = f"{root}/digits-test.mlz"
    cmd_enc = median_time(lambda: mlkit("compress", "encode", f"{root}/digits.keras", f"{root}/digits/test", "-o", mlz,
                                        "--device", "cpu"), repeats=3, warmup=0)
    cmd_dec = median_time(lambda: mlkit("compress", "decode", f"{root}/digits.keras", mlz, "-o", f"{root}/decoded/",
                                        "--device", "cpu"), repeats=3, warmup=0)
    n = len(images)
    print(f"\n| {n} digits (16x16) | library | whole command |\n|---|---|---|")
    print(f"| encode | {n / enc:.0f} images/s ({enc * 1000:.0f} ms) | {n / cmd_enc:.0f} images/s ({cmd_enc:.1f} s) |")
    print(f"| decode | {n / dec:.0f} images/s ({dec * 1000:.0f} ms) | {n / cmd_dec:.0f} images/s ({cmd_dec:.1f} s) |")


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "compress-bench")
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "compress_data.py"), root], check=True,
                   capture_output=True)
    faces16(root)
    train(root)
    print("| model -> test set | domain | images | PSNR dB | SSIM | bpp (.mlz) | JPEG at equal PSNR: q, PSNR, bpp tiled (per file) "
          "| WebP | AVIF | PNG bpp | gzip bpp |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model, data, in_domain in EVALS:
        plot = f"{root}/rd-{model}-{data.replace('/', '-')}.png"
        print(row(root, model, data, in_domain, plot), flush=True)
    speed(root)


if __name__ == "__main__":
    main()
