"""Rate-distortion of `mlkit compress` (the rd and hyper codecs, one model per --quality) against JPEG,
WebP, AVIF (libavif, speed 0) and JPEG XL through Pillow, headers once per set, on held-out
in-domain data and out of domain: the BD-rate of the models' curve against each codec, on the
mean and on the pooled PSNR, and a plot of all the curves per set.

    python benchmarks/compress_rd.py [WORK_DIR] [--docs DIR] [--faces FOLDER]

It writes the data (benchmarks/compress_data.py), trains the models with the CLI (skipping
those already in WORK_DIR), runs `mlkit compress eval MODELS SET --format json --plot` on
every pair and prints the table as Markdown. `--faces FOLDER` takes the face set from a folder
of face photos instead of scikit-image's 100 (see compress_data.py); give it a new WORK_DIR, as
models already in WORK_DIR are not trained again.
"""

import json
import os
import subprocess
import sys
import time

# the rates of each domain's models: --quality N, or "lL" for --lambda L (below quality 1's 556)
QUALITIES = {"digits": (1, 3, 5, 7), "faces": (1, 3, 5, 7), "mri": ("l1100", 1, 3)}
DOMAINS = {  # name: (training set, train options of its rd models)
    "digits": ("digits/train", ["--latent", "16", "--size", "16x16", "--epochs", "60", "--patience", "10"]),
    "faces": ("faces/train", ["--latent", "16", "--size", "24x24", "--epochs", "200", "--patience", "20", "--batch-size", "16"]),
    "mri": ("mri/train", ["--downsample", "8", "--latent", "16", "--size", "128x96", "--epochs", "2000", "--patience", "300",
                          "--batch-size", "8"]),
}
HYPER = {  # name: (training set, its rd domain's options, rates): --kind hyper, the same options as that rd domain
    "hyper-digits": ("digits/train", "digits", (1, 3, 5, 7)),
    "hyper-mri": ("mri/train", "mri", ("l1100", 1, 3)),
    "hyper-mri-split": ("mri-split/train", "mri", ("l1100", 1, 3)),  # anatomy it has not seen
}
AUTOENCODERS = {  # name: (training set, train options): the conv autoencoder, range coded, its curve over --bits
    "ae-mri": ("mri/train", ["--kind", "conv", "--latent", "64", "--size", "128x96", "--epochs", "300", "--patience", "30",
                             "--batch-size", "8"]),
}
EVALS = [  # (models, test set, in domain?, extra eval options)
    ("digits", "digits/test", True, []), ("faces", "faces/test", True, []), ("mri", "mri/test", True, []),
    ("ae-mri", "mri/test", True, []), ("hyper-digits", "digits/test", True, []), ("hyper-mri", "mri/test", True, []),
    ("hyper-mri-split", "mri-split/test", True, []),
    ("digits", "camera16", False, []), ("faces", "camera24", False, []), ("digits", "faces16", False, ["--fit"]),
]
CODECS = ("avif", "jxl", "webp", "jpeg")


def mlkit(*args):
    return subprocess.run([sys.executable, "-m", "mlkit", *map(str, args)], check=True, capture_output=True)


def faces16(root):
    """The held-out faces at 16x16: out of domain for the digits model."""
    import cv2

    os.makedirs(f"{root}/faces16", exist_ok=True)
    for name in sorted(os.listdir(f"{root}/faces/test")):
        face = cv2.imread(f"{root}/faces/test/{name}", cv2.IMREAD_UNCHANGED)
        cv2.imwrite(f"{root}/faces16/{name}", cv2.resize(face, (16, 16), interpolation=cv2.INTER_AREA))


def models(root, domain):
    if domain in AUTOENCODERS:
        return [f"{root}/{domain}.keras"]
    if domain in HYPER:
        _, rd_domain, rates = HYPER[domain]
        return _names(root, domain, DOMAINS[rd_domain][1], rates)
    return _names(root, f"rd-{domain}", DOMAINS[domain][1], QUALITIES[domain])


def _names(root, prefix, options, rates):
    """One model file per rate: PREFIX-[dN-]qQ.keras, or lL for a --lambda."""
    depth = f"d{options[options.index('--downsample') + 1]}-" if "--downsample" in options else ""
    return [f"{root}/{prefix}-{depth}{q if str(q).startswith('l') else f'q{q}'}.keras" for q in rates]


def rate(q):
    return ["--lambda", q[1:]] if str(q).startswith("l") else ["--quality", str(q)]


def _train(root, model, data, options):
    if not os.path.exists(model):
        start = time.perf_counter()
        mlkit("compress", "train", f"{root}/{data}", "-o", model, "--seed", "1", "--device", "cpu", *options)
        print(f"trained {model} in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def train(root):
    for domain, (data, options) in DOMAINS.items():
        for q, model in zip(QUALITIES[domain], models(root, domain)):
            _train(root, model, data, ["--kind", "rd", *rate(q), *options])
    for name, (data, rd_domain, rates) in HYPER.items():
        for q, model in zip(rates, models(root, name)):
            _train(root, model, data, ["--kind", "hyper", *rate(q), *DOMAINS[rd_domain][1]])
    for name, (data, options) in AUTOENCODERS.items():
        _train(root, models(root, name)[0], data, options)


def row(root, domain, data, in_domain, options, plot):
    args = ["compress", "eval", ",".join(models(root, domain)), f"{root}/{data}", "--format", "json", "--device", "cpu",
            "--plot", plot, *options]
    means = [r for r in json.loads(mlkit(*args).stdout) if r["image"] == "mean"]
    curve = ", ".join(f"{m['bpp']:.3f} @ {m['psnr_db']:.1f}" for m in means)
    cells = [f"{domain} -> {data}", "in" if in_domain else "out", str(means[0]["images"]), curve]
    for codec in CODECS:
        if codec not in means[0]:
            cells.append("-")
            continue
        found = means[0][codec]
        bd = [found["bd_rate"], found["bd_rate_pooled"]]
        if bd[0] is None and found["psnr_db"] >= means[0]["psnr_db"]:  # the codec's lowest setting beats the whole curve
            cells.append(f"no overlap: q{found['quality']:.0f} gives {found['bpp']:.3f} @ {found['psnr_db']:.1f}")
        else:
            cells.append(" / ".join("no overlap" if v is None else f"{v:+.1f} %" for v in bd))
    return "| " + " | ".join(cells) + " |"


def _option(args, name):
    return args[args.index(name) + 1] if name in args else None


def main():
    args = sys.argv[1:]
    docs, faces = _option(args, "--docs"), _option(args, "--faces")
    rest = [a for i, a in enumerate(args) if a not in ("--docs", "--faces") and (i == 0 or args[i - 1] not in ("--docs", "--faces"))]
    root = os.path.abspath(rest[0] if rest else "compress-bench")
    extra = ["--faces", faces] if faces else []
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "compress_data.py"), root, *extra], check=True,
                   capture_output=True)
    faces16(root)
    train(root)
    print("| models -> test set | domain | images | mlkit: bpp @ mean PSNR dB, per model | BD-rate vs AVIF (mean / pooled PSNR) "
          "| vs JPEG XL | vs WebP | vs JPEG |")
    print("|---|---|---|---|---|---|---|---|")
    for domain, data, in_domain, options in EVALS:
        kind = domain if domain.startswith("hyper") else f"rd-{domain}"
        name = f"compress-{kind}-{data.replace('/', '-')}.png"
        plot = os.path.join(docs or root, name)
        print(row(root, domain, data, in_domain, options, plot), flush=True)


if __name__ == "__main__":
    main()
