"""Model files: `.keras` archives written atomically and loaded in safe mode, never pickles.

A `.keras` file is a zip of config.json, metadata.json and model.weights.h5. Before Keras
sees it, the archive is checked: a zip, those members, sizes within the memory limit. Safe
mode refuses Lambda layers and any code a file could smuggle in.
"""

import hashlib
import io
import json
import lzma
import os
import zipfile
import zlib

from mlkit.errors import MlkitError
from mlkit.io import jsonfile, limits

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
        raise MlkitError(f"{path}: not a model mlkit can load: {reason_of(exc, 'it cannot be loaded')}",
                         "give a .keras file written by mlkit") from None


def reason_of(exc, default, width=200):
    """The telling line of a library's error, at most `width` characters: Keras often opens
    with "... Example error message for object <...>:" and says what is wrong on a later line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    while len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    reason = " ".join(lines[0].split()) if lines else default
    return reason if len(reason) <= width else reason[: width - 3] + "..."


def check_archive(path):
    """Refuse anything that is not a plausible .keras archive, before it is unpacked: its
    members, their sizes, config.json (bounded, strict JSON) and the weights its layers
    declare, all within the memory limit before Keras builds anything."""
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
            if members["config.json"].file_size > jsonfile.MAX_BYTES:
                raise MlkitError(f"{path}: damaged model file (config.json declares {members['config.json'].file_size} bytes)",
                                 "train it again or restore a copy")
            text = archive.read("config.json")
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error,
            lzma.LZMAError) as exc:  # encrypted, an unknown method, a broken stream: zipfile's many ways to fail
        reason = reason_of(exc, "its config.json does not unpack")
        raise MlkitError(f"{path}: damaged model file ({reason})", "train it again or restore a copy") from None
    config = jsonfile.loads(text, f"{path}: config.json")
    limits.check(declared_parameters(config) * 4 * WEIGHT_COPIES, f"{path}: the layers config.json declares")


WEIGHT_COPIES = 2  # the built variables and the weights read from the file into them
_SIZE_FIELDS = ("units", "filters", "output_dim")


def declared_parameters(config):
    """A count of the weights the layers in a Keras config declare, without building them:
    each layer's size field (units, filters...) times its input width (its build_config's
    input shape, else the previous layer's width) and kernel, summed over every nested layer."""
    total, width = 0, 1
    for layer in _layers(config):
        conf = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        width = _input_width(layer) or width
        if layer.get("class_name") == "Embedding":
            total += _count(conf.get("input_dim")) * _count(conf.get("output_dim"))
        for field in _SIZE_FIELDS:
            if field in conf:
                size = _count(conf[field])
                kernel = conf.get("kernel_size", 1)
                kernel = kernel if isinstance(kernel, list) else [kernel]
                taps = 1
                for k in kernel:
                    taps *= _count(k)
                total += size * (width * taps + 1)
                width = size
    return total


def _layers(node, depth=0):
    """Every dict holding a layer (a class_name and a config), nested models included."""
    if isinstance(node, dict):
        if "class_name" in node and isinstance(node.get("config"), dict) and depth:
            yield node
        for value in node.values():
            yield from _layers(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _layers(value, depth + 1)


def _input_width(layer):
    build = layer.get("build_config")
    shape = build.get("input_shape") if isinstance(build, dict) else None
    if isinstance(shape, list) and shape and isinstance(shape[-1], int) and not isinstance(shape[-1], bool):
        return max(shape[-1], 1)
    return None


def _count(value):
    """A declared size as a count (1 when it is not a positive integer: Keras refuses those itself)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def fingerprint(model):
    """A short hash of the architecture and the weights: names a model in the files it made."""
    digest = hashlib.sha256(json.dumps(model.get_config(), sort_keys=True, default=str).encode())
    for weight in model.get_weights():
        digest.update(str(weight.dtype).encode() + str(weight.shape).encode())
        digest.update(weight.tobytes())
    return digest.hexdigest()[:16]
