"""The MTCNN face detector (the `mtcnn` package; its weights ship in the wheel), loaded once
per process. The only crop module that imports TensorFlow (through mlkit.deep.runtime).

Each stage's network runs as one compiled tf.function with a relaxed input shape: traced
once per process, about twice as fast as the package's eager calls on a CPU. Images of the
same shape go through the networks together; the package's own batching pads mixed shapes
and then shifts one image's boxes by another's padding when an image has no face, so
batches here never mix shapes.
"""

import os

import numpy as np

from mlkit.io.quiet import silenced

MIN_SIDE = 24  # smaller images hold no face MTCNN can find (its pyramid stops at 12 px)


_DETECTORS = {}


def detector(device="auto", threads=0):
    """The process's detector for `device`: built on first use (with `threads` TensorFlow
    threads, 0 for its default), then reused."""
    if device not in _DETECTORS:
        _DETECTORS[device] = Detector(device, threads)
    return _DETECTORS[device]


class Detector:
    def __init__(self, device="auto", threads=0):
        from mlkit.deep.runtime import Runtime

        runtime = Runtime(device, mixed_precision=False)  # float16 would cost landmark precision
        tf = runtime.tf
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        with silenced():
            from mtcnn import MTCNN

            self.mtcnn = MTCNN(device="GPU:0" if runtime.gpus else "CPU:0")
        spec = [tf.TensorSpec([None, None, None, 3], tf.float32)]
        for stage in self.mtcnn.stages:
            if hasattr(stage, "_model"):  # mtcnn 1.0 keeps each network there
                stage._model = tf.function(stage._model, input_signature=spec, reduce_retracing=True)

    def detect(self, images, min_face_size=20):
        """For each RGB float32 image (H x W x 3, 0..255): its faces, most confident first,
        each {"box": [x, y, w, h], "confidence": c, "points": 5 x [x, y]}."""
        found = [[] for _ in images]
        groups = {}
        for k, image in enumerate(images):
            if min(image.shape[:2]) >= MIN_SIDE:
                groups.setdefault(image.shape, []).append(k)
        for members in groups.values():
            rows = self._run([images[k] for k in members], min_face_size)
            for row in rows:
                found[members[int(row[0])]].append(_face(row))
        return [sorted(faces, key=lambda f: -f["confidence"]) for faces in found]

    def _run(self, images, min_face_size):
        with silenced():
            rows = self.mtcnn.detect_faces(list(images), output_type="numpy", box_format="xyxy",
                                           min_face_size=int(min_face_size))
        return np.asarray(rows, float).reshape(-1, 16)


def _face(row):
    x1, y1, x2, y2 = (float(v) for v in row[1:5])
    points = np.stack([row[6:11], row[11:16]], axis=1)
    return {"box": [x1, y1, x2 - x1, y2 - y1], "confidence": float(row[5]), "points": points.tolist()}


def default_threads(jobs):
    """TensorFlow threads per process when `jobs` processes share the machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs)) if jobs > 1 else 0
