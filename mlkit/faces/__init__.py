"""Faces: eigenfaces (a face space for recognition, detection and reconstruction), usable
without the CLI.

    from mlkit.faces import load_model, prepare, recognize, train
    model = train(prepare(gray_images, (25, 25)), labels, (25, 25))
    labels, distance, face_distance, unknown = recognize(model, prepare(probes, (25, 25)))
"""

from mlkit.faces.eigenfaces import (
    Model,
    calibrate,
    choose_k,
    components,
    face_distance,
    mosaic,
    prepare,
    project,
    recognize,
    reconstruct,
    reconstruct_image,
    train,
)
from mlkit.faces.formats import load_gray, load_model, read_labels, read_probes, save_model
from mlkit.faces.plot import scree
from mlkit.faces.steps import ProbeResult, detect_files, reconstruct_step, recognize_files, show, train_files

__all__ = [
    "Model", "ProbeResult", "calibrate", "choose_k", "components", "detect_files", "face_distance", "load_gray",
    "load_model", "mosaic", "prepare", "project", "read_labels", "read_probes", "recognize", "recognize_files",
    "reconstruct", "reconstruct_image", "reconstruct_step", "save_model", "scree", "show", "train", "train_files",
]
