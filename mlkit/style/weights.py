"""VGG19's weight file: where it is found, how it is read and checked, and how tests write one.

The file is Keras's `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` in the legacy Keras 2
HDF5 layout: a `layer_names` attribute at the root, one group per layer with a `weight_names`
attribute naming its datasets (kernel 3x3xCinxCout, then bias). It is looked for in --weights,
then MLKIT_VGG19_WEIGHTS, then Keras's cache; where there is a network it is downloaded into
that cache on first use, as keras.applications does.
"""

import hashlib
import os
import threading

import numpy as np

from mlkit import ui
from mlkit.errors import MlkitError
from mlkit.io import limits

FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
SIZE = 80134624  # bytes, "about 80 MB"
MD5 = "253f8cb515780f3b799900260a226db6"  # what keras.applications checks
URL = f"https://storage.googleapis.com/tensorflow/keras-applications/vgg19/{FILE}"
ENV = "MLKIT_VGG19_WEIGHTS"
OFFLINE_ENV = "MLKIT_OFFLINE"  # 1: never try to download

# (name, input channels, output channels) of the 16 convolutions, in order; a pool after each block.
CONVS = [(f"block{b}_conv{i}", cin if i == 1 else cout, cout)
         for b, cin, cout, n in [(1, 3, 64, 2), (2, 64, 128, 2), (3, 128, 256, 4), (4, 256, 512, 4), (5, 512, 512, 4)]
         for i in range(1, n + 1)]
LAYERS = [name for name, _, _ in CONVS]


def cache_dir():
    """Keras's cache: $KERAS_HOME/models, else ~/.keras/models."""
    from mlkit.deep.runtime import user_keras_home

    home = user_keras_home()  # not the temporary home mlkit gives Keras for its keras.json
    return os.path.join(home, "models")


def find(path=None):
    """The weight file to use: `path`, $MLKIT_VGG19_WEIGHTS, Keras's cache, or a download."""
    for given, what in ((path, "--weights"), (os.environ.get(ENV), ENV)):
        if given:
            if not os.path.isfile(given):
                raise MlkitError(f"{given}: no such file ({what})", f"point {what} at {FILE}")
            return given
    cached = os.path.join(cache_dir(), FILE)
    if os.path.isfile(cached):
        return cached
    if os.environ.get(OFFLINE_ENV, "") in ("", "0") and _reachable():
        return _download(cached)
    raise MlkitError(
        f"the VGG19 weights are not here and cannot be downloaded (offline): {FILE}, {SIZE / 1e6:.0f} MB",
        f"on a machine with a network, get {URL} (or run python -c \"import keras; "
        f"keras.applications.VGG19(include_top=False)\"), then put it in {cache_dir()}/ "
        f"or pass --weights PATH or set {ENV}=PATH",
    )


def _reachable(host="storage.googleapis.com", timeout=3.0):
    """Whether the download server answers within `timeout` s (a name lookup can hang offline,
    so it runs in a thread that is abandoned if slow)."""
    import socket

    ok = []

    def probe():
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(ok)


def _download(target):
    """Fetch the file into Keras's cache, atomically, checking Keras's MD5; progress on stderr
    (never stdout, which may carry the image)."""
    import urllib.request

    from mlkit.io.write import atomic_write

    ui.info(f"downloading {FILE} ({SIZE / 1e6:.0f} MB) into {os.path.dirname(target)}/")
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(URL, timeout=30) as response, atomic_write(target) as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
            if digest.hexdigest() != MD5:
                raise MlkitError(f"the downloaded {FILE} is corrupt (MD5 {digest.hexdigest()})", "run again")
    except OSError as exc:
        raise MlkitError(f"cannot download {URL}: {exc}", "fetch it by hand and pass --weights PATH") from None
    return target


def read(path, layers=LAYERS):
    """{layer: (kernel, bias)} float32 for `layers`, checked against VGG19's shapes."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
            return {name: _layer(root, name) for name in layers}
    except OSError:
        raise MlkitError(f"{path}: not an HDF5 file", f"give Keras's {FILE}") from None
    except MlkitError as exc:
        raise MlkitError(f"{path}: not VGG19 weights: {exc.message}", f"give Keras's {FILE}") from None


def _layer(root, name):
    shapes = {n: ((3, 3, cin, cout), (cout,)) for n, cin, cout in CONVS}
    import h5py

    if not isinstance(root.get(name), h5py.Group):
        raise MlkitError(f"no layer {name}")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in root[name].attrs.get("weight_names", [])]
    if len(names) != 2:
        raise MlkitError(f"layer {name} holds {len(names)} weights, expected a kernel and a bias")
    return tuple(_array(root[name], n, f"{name}'s {what}", shape)
                 for n, what, shape in zip(names, ("kernel", "bias"), shapes[name]))


def _array(group, key, what, shape):
    import h5py

    if not isinstance(group.get(key), h5py.Dataset):
        raise MlkitError(f"{what} is missing")
    data = group[key]
    if tuple(data.shape) != shape:
        raise MlkitError(f"{what} is {'x'.join(map(str, data.shape)) or 'a scalar'}, expected {'x'.join(map(str, shape))}")
    if data.dtype.kind != "f":
        raise MlkitError(f"{what} holds {data.dtype.name}, not floats")
    limits.check(int(np.prod(shape)) * 4, what)
    values = np.asarray(data, np.float32)
    if not np.isfinite(values).all():
        raise MlkitError(f"{what} holds NaN or infinite values")
    return values


def write(path, arrays):
    """Save {layer: (kernel, bias)} in the legacy layout keras.applications.VGG19(weights=path)
    loads (the input and pool layers are listed with no weights, as in Keras's file)."""
    import h5py

    names = ["input_1"]
    for i, name in enumerate(LAYERS):
        block = name.split("_")[0]
        names += [name] if i + 1 < len(LAYERS) and LAYERS[i + 1].startswith(block) else [name, f"{block}_pool"]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.1.6"
        for name in names:
            group = f.create_group(name)
            weights = [f"{name}_W_1:0", f"{name}_b_1:0"] if name in arrays else []
            group.attrs["weight_names"] = np.array([w.encode() for w in weights], dtype="S")
            for key, value in zip(weights, arrays.get(name, ())):
                group.create_dataset(key, data=np.asarray(value, np.float32))


def random(seed=0):
    """He-initialised VGG19 convolutions (zero biases): VGG19's architecture without ImageNet,
    for tests and benchmarks where the real file cannot be had."""
    rng = np.random.default_rng(seed)
    return {name: ((rng.standard_normal((3, 3, cin, cout)) * np.sqrt(2 / (9 * cin))).astype(np.float32),
                   np.zeros(cout, np.float32)) for name, cin, cout in CONVS}
