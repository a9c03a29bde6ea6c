"""mlkit crop-align vs the plain loop a user would write: MTCNN().detect_faces + cv2.warpAffine.

    PYTHONPATH=. python benchmarks/crop_align_vs_loop.py [--photos 100] [--rounds 1]

The photos: scikit-image's astronaut (512 x 512), turned by up to 25 degrees, scaled 0.7-1.1,
shifted and mirrored by `mlkit augment --seed 1`, as PNG files. Both sides align each photo's
most confident face on the same template (OpenFace's, eye centres and mouth centre, 96 px)
and write a PNG. Timed, interleaved when --rounds > 1 (medians):

- whole processes, what a user waits for (TensorFlow's import, reading, writing included):
  `mlkit crop-align photos/ -o out/` against a Python script looping over the files with
  one MTCNN() made once, and with MTCNN() made per photo (the loop as the issue writes it);
- the inner step in this process, the detector already loaded on both sides: mlkit's batched
  detection and warps against detect_faces + cv2.warpAffine per photo.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mlkit.crop.align import select, template_points  # noqa: E402

TEMPLATE = select(template_points("openface-inner", 96), "eyes-mouth").tolist()
LOOP = """
import glob, json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import cv2, numpy as np
from mtcnn import MTCNN

src, out, per_photo, template = sys.argv[1], sys.argv[2], sys.argv[3] == "1", np.float32(json.loads(sys.argv[4]))
detector = None if per_photo else MTCNN()
for path in sorted(glob.glob(os.path.join(src, "*.png"))):
    img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    faces = (MTCNN() if per_photo else detector).detect_faces(img)
    if not faces:
        continue
    k = max(faces, key=lambda f: f["confidence"])["keypoints"]
    points = np.float32([k["left_eye"], k["right_eye"], np.mean([k["mouth_left"], k["mouth_right"]], axis=0)])
    matrix, _ = cv2.estimateAffinePartial2D(points, template)
    crop = cv2.warpAffine(img, matrix, (96, 96), flags=cv2.INTER_LINEAR)
    cv2.imwrite(os.path.join(out, os.path.basename(path)), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
"""


def make_photos(folder, n):
    import cv2
    import skimage.data

    source = os.path.join(folder, "astronaut.png")
    cv2.imwrite(source, skimage.data.astronaut()[:, :, ::-1])
    photos = os.path.join(folder, "photos")
    subprocess.run([sys.executable, "-m", "mlkit", "augment", source, "-n", str(n), "--seed", "1", "--policy", "all",
                    "--transforms", "rotate,scale,flip,translate", "--rotate", "-25", "25", "--scale", "0.7", "1.1",
                    "--translate", "-40", "40", "-o", photos + "/"], check=True)
    return photos


def whole_processes(photos, folder):
    """{name: (seconds, crops written)} for one run of each command."""
    runs = {
        "mlkit crop-align": [sys.executable, "-m", "mlkit", "crop-align", photos, "--size", "96", "--skip-missing", "-q",
                             "-o", "{out}/"],
        "loop, one MTCNN()": [sys.executable, "-c", LOOP, photos, "{out}", "0", json.dumps(TEMPLATE)],
        "loop, MTCNN() per photo": [sys.executable, "-c", LOOP, photos, "{out}", "1", json.dumps(TEMPLATE)],
    }
    results = {}
    for name, args in runs.items():
        out = tempfile.mkdtemp(dir=folder)
        start = time.perf_counter()
        subprocess.run([a.replace("{out}", out) if a.startswith("{out}") else a for a in args], check=True,
                       stderr=subprocess.DEVNULL)  # TensorFlow's start-up chatter, in the loop's process
        results[name] = (time.perf_counter() - start, len(os.listdir(out)))
    return results


def inner_steps(photos):
    """{name: (seconds, crops)}: the detector loaded beforehand on both sides."""
    import cv2
    import numpy as np
    from mtcnn import MTCNN

    from mlkit.crop import FaceOptions, align_faces, detect_inputs
    from mlkit.crop.model import detector
    from mlkit.io import read_image
    from mlkit.io.inputs import expand_inputs

    paths = expand_inputs([photos])
    options = FaceOptions(size=96, skip_missing=True)
    detector(options.device)
    peer = MTCNN()

    def ours():
        extras = detect_inputs(list(enumerate(paths)), len(paths), options)
        return sum(len(align_faces(read_image(p), options, e["faces"], p)) for p, e in zip(paths, extras))

    def theirs():
        template, written = np.float32(TEMPLATE), 0
        for path in paths:
            img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
            faces = peer.detect_faces(img)
            if faces:
                k = max(faces, key=lambda f: f["confidence"])["keypoints"]
                points = np.float32([k["left_eye"], k["right_eye"], np.mean([k["mouth_left"], k["mouth_right"]], axis=0)])
                matrix, _ = cv2.estimateAffinePartial2D(points, template)
                cv2.warpAffine(img, matrix, (96, 96), flags=cv2.INTER_LINEAR)
                written += 1
        return written

    ours(), theirs()  # traced and warm on both sides
    return {name: _timed(fn) for name, fn in (("mlkit (library)", ours), ("loop, one MTCNN()", theirs))}


def _timed(fn):
    start = time.perf_counter()
    count = fn()
    return time.perf_counter() - start, count


def _medians(rounds, measure):
    runs = [measure() for _ in range(rounds)]
    return {name: (statistics.median(r[name][0] for r in runs), runs[0][name][1]) for name in runs[0]}


def _report(title, results, base):
    print(f"\n{title}\n| run | seconds | crops | crops/s | mlkit speed-up |\n| --- | --- | --- | --- | --- |")
    for name, (seconds, count) in results.items():
        print(f"| {name} | {seconds:.1f} | {count} | {count / seconds:.1f} | {seconds / results[base][0]:.2f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        photos = make_photos(folder, args.photos)
        print(f"{args.photos} photos, 512 x 512; {os.cpu_count()} CPU cores; rounds: {args.rounds}")
        _report("Whole processes", _medians(args.rounds, lambda: whole_processes(photos, folder)), "mlkit crop-align")
        _report("Inner step (detector loaded)", _medians(args.rounds, lambda: inner_steps(photos)), "mlkit (library)")


if __name__ == "__main__":
    main()
