"""The regress MLP in plain numpy: its weights as lists, its predictions, its sparsity.

On an over-sized network (1-10-10-10-1) an L1 penalty drives whole rows and columns of the
weight matrices to zero: neurons get disconnected. L2 only shrinks. The Keras network lives in
model.py and is trained in train.py; what is read back from it here needs no TensorFlow.
"""

import dataclasses

import numpy as np

from mlkit.errors import MlkitError
from mlkit.regression.linear import Fit
from mlkit.regression.model import LEAKY_SLOPE

ACTIVATIONS = ("relu", "leaky-relu", "prelu", "elu", "sigmoid", "tanh")
SPARSE = 1e-3  # |w| below this counts as zero
AFTER_DENSE = {"LeakyReLU": "leaky-relu", "PReLU": "prelu"}  # activations that are layers of their own


@dataclasses.dataclass
class MlpFit(Fit):
    model: object = None  # the Keras network (what --save MODEL.keras writes), when there is one

    def predict(self, X):
        return forward(self.details["network"], X)


def network_of(model):
    """The network as plain lists: x_mean, x_std, y_mean, y_std, and per Dense layer its
    kernel, bias and activation (with PReLU slopes). Layers a regress MLP has not are refused."""
    layers = []
    net = {"layers": layers}
    for layer in model.layers:
        kind, config = type(layer).__name__, layer.get_config()
        if kind == "Normalization":
            net["x_mean"] = _floats(config.get("mean"))
            net["x_std"] = [float(np.sqrt(v)) if v >= 0 else float("nan") for v in _floats(config.get("variance"))]
        elif kind == "Rescaling":
            net["y_std"], net["y_mean"] = config.get("scale"), config.get("offset")
        elif kind == "Dense" and config.get("use_bias", True):
            activation = config.get("activation")
            layers.append({"W": layer.kernel.numpy().tolist(), "b": layer.bias.numpy().tolist(),
                           "activation": None if activation == "linear" else activation})
        elif kind in AFTER_DENSE and layers and layers[-1]["activation"] is None:
            layers[-1]["activation"] = AFTER_DENSE[kind]
            if kind == "PReLU":
                layers[-1]["slopes"] = layer.get_weights()[0].ravel().tolist()
            elif config.get("negative_slope") != LEAKY_SLOPE:
                raise MlkitError(f"a LeakyReLU slope of {config.get('negative_slope')}, not {LEAKY_SLOPE}")
        elif kind != "InputLayer":
            raise MlkitError(f"a {kind} layer, which a regress MLP does not have")
    return net


def _floats(value):
    try:
        return [float(v) for v in np.ravel(np.asarray(value, float))]
    except (TypeError, ValueError):
        raise MlkitError("the standardisation is not a list of numbers") from None


def forward(net, X):
    """The network's predictions in plain numpy (no TensorFlow needed to predict)."""
    a = (np.asarray(X, float) - net["x_mean"]) / np.asarray(net["x_std"])
    for layer in net["layers"]:
        a = a @ np.asarray(layer["W"]) + np.asarray(layer["b"])
        a = _activate(a, layer)
    return a[:, 0] * net["y_std"] + net["y_mean"]


def _activate(a, layer):
    kind = layer["activation"]
    if kind is None:
        return a
    if kind == "relu":
        return np.maximum(a, 0)
    if kind == "leaky-relu":
        return np.where(a > 0, a, LEAKY_SLOPE * a)
    if kind == "prelu":
        return np.where(a > 0, a, np.asarray(layer["slopes"]) * a)
    if kind == "elu":
        return np.where(a > 0, a, np.expm1(np.minimum(a, 0)))
    if kind == "sigmoid":
        return 1 / (1 + np.exp(-a))
    return np.tanh(a)


def sparsity(layers):
    """Per layer: the fraction of weights with |w| < 1e-3."""
    return [float((np.abs(np.asarray(layer["W"])) < SPARSE).mean()) for layer in layers]


def disconnected(layers):
    """Hidden neurons whose incoming or outgoing weights are all below 1e-3."""
    count = 0
    for here, after in zip(layers[:-1], layers[1:]):
        incoming = np.abs(np.asarray(here["W"])).max(axis=0) < SPARSE
        outgoing = np.abs(np.asarray(after["W"])).max(axis=1) < SPARSE
        count += int((incoming | outgoing).sum())
    return count
