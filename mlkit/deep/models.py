"""Model files: `.keras` archives written atomically and loaded in safe mode, never pickles.

A `.keras` file is a zip of config.json, metadata.json and model.weights.h5. Before Keras
sees it, the archive is checked: a zip, those members, sizes within the memory limit. Safe
mode refuses Lambda layers and any code a file could smuggle in.
"""

import hashlib
import io
import json
import os
import zipfile

from mlkit.errors import MlkitError
from mlkit.io import limits

REQUIRED_MEMBERS = ("config.json", "model.weights.h5")


def save_model(model, path):
    """Write `model` to `path` (.keras); the file appears complete or not at all.

    The archive is built in memory first, so a full or read-only disk is met by mlkit's own
    writer (one line naming the path) and never by h5py halfway through a file."""
    from keras.src.saving import saving_lib

    from mlkit.io.write import atomic_write

    if not str(path).endswith(".keras"):
        raise MlkitError(f"{path}: a model file must end in .keras", "name it MODEL.keras")
    buffer = io.BytesIO()
    saving_lib.save_model(model, buffer)
    with atomic_write(str(path)) as out:
        out.write(buffer.getbuffer())


def weights_bytes(model):
    """`model`'s weights as the bytes of a Keras .weights.h5 file, built in memory."""
    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")
    saving_lib._save_state(model, store, None, "", set())
    store.close()
    return buffer.getvalue()


def load_model(path, keras, custom_objects=None):
    """The model in `path`, checked first and loaded with safe_mode=True."""
    check_archive(path)
    try:
        return keras.saving.load_model(path, custom_objects=custom_objects, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for foreign or damaged files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "it cannot be loaded"
        raise MlkitError(f"{path}: not a model mlkit can load: {reason[:200]}", "give a .keras file written by mlkit") from None


def check_archive(path):
    """Refuse anything that is not a plausible .keras archive, before it is unpacked."""
    if not os.path.isfile(path):
        raise MlkitError(f"{path}: no such model file", "train one first, or check the path")
    if not zipfile.is_zipfile(path):
        raise MlkitError(f"{path}: not a Keras model file (not a .keras zip archive)", "give a .keras file written by mlkit")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            missing = [m for m in REQUIRED_MEMBERS if m not in members]
            if missing:
                raise MlkitError(f"{path}: not a Keras model file (no {missing[0]})", "give a .keras file written by mlkit")
            limits.check(sum(info.file_size for info in members.values()), f"{path}: the model")
            json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise MlkitError(f"{path}: damaged model file ({exc})", "train it again or restore a copy") from None


def fingerprint(model):
    """A short hash of the architecture and the weights: names a model in the files it made."""
    digest = hashlib.sha256(json.dumps(model.get_config(), sort_keys=True, default=str).encode())
    for weight in model.get_weights():
        digest.update(str(weight.dtype).encode() + str(weight.shape).encode())
        digest.update(weight.tobytes())
    return digest.hexdigest()[:16]
