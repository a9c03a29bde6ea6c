"""The regress MLP as a Keras network, and its training step.

The network holds its own input standardisation (a Normalization layer) and output scaling (a
Rescaling layer), so a saved .keras file predicts in the data's units; no Lambda layers. The
`keras` and `tf` modules come from mlkit.deep.runtime (a quiet import).
"""

import numpy as np

LEAKY_SLOPE = 0.01
BUILT_IN = ("relu", "elu", "sigmoid", "tanh")  # the activations Dense takes by name


def build(keras, scale, hidden, activation, penalty, alpha, name):
    """(trainer, model): trainer predicts the standardised target (what the loss sees), model
    the target itself; they share every weight. scale: (x_mean, x_std, y_mean, y_std)."""
    x_mean, x_std, y_mean, y_std = scale
    regularizer = keras.regularizers.L1(alpha) if penalty == "l1" else keras.regularizers.L2(alpha)
    inputs = keras.Input((len(x_mean),))
    z = keras.layers.Normalization(mean=list(x_mean), variance=list(np.square(x_std)))(inputs)
    for size in hidden:
        z = keras.layers.Dense(size, activation=activation if activation in BUILT_IN else None, kernel_regularizer=regularizer)(z)
        if activation == "leaky-relu":
            z = keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE)(z)
        elif activation == "prelu":
            z = keras.layers.PReLU()(z)
    z = keras.layers.Dense(1, kernel_regularizer=regularizer)(z)
    scaled = keras.layers.Rescaling(scale=float(y_std), offset=float(y_mean))(z)
    return keras.Model(inputs, z), keras.Model(inputs, scaled, name=name)


def optimizer(keras, schedule):
    if schedule.optimizer == "adam":
        return keras.optimizers.Adam(schedule.lr)
    return keras.optimizers.SGD(schedule.lr, momentum=0.9 if schedule.optimizer == "momentum" else 0.0)


def epochs(tf, trainer, opt, X, y, schedule):
    """(epoch(e) -> {"loss": ...}, loss()): one epoch of mini-batch steps, each a compiled
    step (Keras' fit() costs ~50 ms per epoch in overhead, which small tabular problems cannot
    afford). Epoch e's order depends only on (seed, e), so a resumed run sees the same batches.
    The loss is the mean squared error of the standardised target plus the weight penalty."""
    X, y = tf.constant(X, tf.float32), tf.constant(y[:, None], tf.float32)
    n = int(X.shape[0])
    batch = schedule.batch_size or n

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((trainer(xb, training=True) - yb) ** 2) + tf.add_n(trainer.losses)
        opt.apply_gradients(zip(tape.gradient(loss, trainer.trainable_variables), trainer.trainable_variables))
        return loss

    @tf.function
    def full_loss():
        return tf.reduce_mean((trainer(X) - y) ** 2) + tf.add_n(trainer.losses)

    def epoch(e):
        if batch == n and not schedule.shuffle:
            step(X, y)
        else:
            order = np.random.default_rng([schedule.seed, e]).permutation(n) if schedule.shuffle else np.arange(n)
            for start in range(0, n, batch):
                idx = order[start : start + batch]
                step(tf.gather(X, idx), tf.gather(y, idx))
        return {"loss": full_loss()}

    return epoch, lambda: float(full_loss())
