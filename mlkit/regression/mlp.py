"""A small multilayer perceptron (Keras) for regression, with L1 or L2 weight penalties.

On an over-sized network (1-10-10-10-1) an L1 penalty drives whole rows and
columns of the weight matrices to zero: neurons get disconnected. L2 only
shrinks. Inputs and target are standardised inside; predictions are not.
"""

import os

import numpy as np

from mlkit.errors import MlkitError
from mlkit.regression.linear import Fit

ACTIVATIONS = ("relu", "leaky-relu", "prelu", "elu", "sigmoid", "tanh")
SPARSE = 1e-3  # |w| below this counts as zero
LEAKY_SLOPE = 0.01


def _import_keras():
    """Import Keras (TensorFlow) without its start-up chatter on stderr (no-GPU notices
    are printed by native code before any log level applies); --debug keeps it."""
    from mlkit import ui

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if ui.state["debug"]:
        import keras

        return keras
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import keras
            import tensorflow  # noqa: F401  (its native start-up logs land here too)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return keras


def fit_mlp(X, y, x_cols, y_col, hidden=(10, 10, 10), activation="relu", penalty="l2", alpha=1e-4, schedule=None):
    keras = _import_keras()

    keras.utils.set_random_seed(schedule.seed)
    x_mean, x_std = X.mean(axis=0), X.std(axis=0)
    if (x_std == 0).any():
        raise MlkitError("a feature column is constant", "drop it with --x")
    y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
    model = _network(keras, X.shape[1], hidden, activation, penalty, alpha)
    losses = _train(model, _optimizer(keras, schedule), (X - x_mean) / x_std, (y - y_mean) / y_std, schedule)
    layers = _export(model, activation)
    if not np.isfinite(losses[-1]):
        raise MlkitError("training diverged (the loss is not finite)", "lower --lr")
    net = {"layers": layers, "x_mean": x_mean.tolist(), "x_std": x_std.tolist(), "y_mean": y_mean, "y_std": y_std}
    details = {
        "final_loss": losses[-1],
        "epochs_run": len(losses),
        "penalty": penalty,
        "alpha": alpha,
        "hidden": list(hidden),
        "activation": activation,
        "sparsity": sparsity(layers),
        "disconnected_neurons": disconnected(layers),
        "network": net,
    }
    return MlpFit("mlp", x_cols, y_col, np.zeros(0), 0.0, len(y), details)


class MlpFit(Fit):
    def predict(self, X):
        return forward(self.details["network"], X)


def _network(keras, n_inputs, hidden, activation, penalty, alpha):
    if activation not in ACTIVATIONS:
        raise MlkitError(f"unknown activation {activation!r}", f"choose from {', '.join(ACTIVATIONS)}")
    regularizer = keras.regularizers.L1(alpha) if penalty == "l1" else keras.regularizers.L2(alpha)
    layers = [keras.Input((n_inputs,))]
    for size in hidden:
        built_in = activation if activation in ("relu", "elu", "sigmoid", "tanh") else None
        layers.append(keras.layers.Dense(size, activation=built_in, kernel_regularizer=regularizer))
        if activation == "leaky-relu":
            layers.append(keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE))
        elif activation == "prelu":
            layers.append(keras.layers.PReLU())
    layers.append(keras.layers.Dense(1, kernel_regularizer=regularizer))
    return keras.Sequential(layers)


def _train(model, optimizer, X, y, schedule):
    """Mini-batch training with one compiled step per batch (Keras' fit() costs ~50 ms per
    epoch in overhead, which small tabular problems cannot afford). Returns epoch losses:
    mean squared error plus the weight penalty."""
    import tensorflow as tf

    X, y = tf.constant(X, tf.float32), tf.constant(y[:, None], tf.float32)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(xb, training=True) - yb) ** 2) + tf.add_n(model.losses)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    @tf.function
    def full_loss():
        return tf.reduce_mean((model(X) - y) ** 2) + tf.add_n(model.losses)

    rng = np.random.default_rng(schedule.seed)
    n = int(X.shape[0])
    batch = schedule.batch_size or n
    losses = []
    for _ in range(schedule.epochs):
        order = rng.permutation(n) if schedule.shuffle else np.arange(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            if batch == n and not schedule.shuffle:
                step(X, y)
            else:
                step(tf.gather(X, idx), tf.gather(y, idx))
        losses.append(float(full_loss()))
        if not np.isfinite(losses[-1]):
            break
    return losses


def _optimizer(keras, schedule):
    if schedule.optimizer == "adam":
        return keras.optimizers.Adam(schedule.lr)
    return keras.optimizers.SGD(schedule.lr, momentum=0.9 if schedule.optimizer == "momentum" else 0.0)


def _export(model, activation):
    """Plain lists: kernel, bias, and the activation (with PReLU slopes) of every Dense layer."""
    out = []
    layers = model.layers
    for i, layer in enumerate(layers):
        if not hasattr(layer, "kernel"):
            continue
        entry = {"W": layer.kernel.numpy().tolist(), "b": layer.bias.numpy().tolist(), "activation": None}
        is_last = all(not hasattr(other, "kernel") for other in layers[i + 1 :])
        if not is_last:
            entry["activation"] = activation
            following = layers[i + 1] if i + 1 < len(layers) else None
            if activation == "prelu":
                entry["slopes"] = following.get_weights()[0].ravel().tolist()
        out.append(entry)
    return out


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
