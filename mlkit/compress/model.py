"""The autoencoders (dense, conv, sparse) and their compiled training steps.

The saved model is one Keras functional model whose two nested models are named "encoder"
and "decoder": `encode` and `decode` load the one .keras file and use either half. No Lambda
layers, so the file loads in safe mode.
"""

from mlkit.deep.runtime import import_tf

KINDS = ("dense", "conv", "sparse", "rd", "hyper")
SPARSE_L1 = 1e-3  # weight of the L1 penalty on the code's activity (mean over the batch)


def build(kind, size, channels, latent, downsample=4):
    """An autoencoder for H x W x C images in [0, 1] with a `latent`-number code (rd: its
    latent map at H/downsample x W/downsample)."""
    _, keras = import_tf()
    if kind in ("rd", "hyper"):
        from mlkit.compress import hyper, rd

        return (rd if kind == "rd" else hyper).build(size, channels, latent, downsample)
    h, w = size
    shape = (h, w, channels)
    if kind == "conv":
        encoder, decoder = _conv(keras, shape, latent)
    else:
        encoder, decoder = _dense(keras, shape, latent, sparse=kind == "sparse")
    inputs = keras.Input(shape)
    return keras.Model(inputs, decoder(encoder(inputs)), name=f"{kind}_autoencoder")


def _dense(keras, shape, latent, sparse):
    layers = keras.layers
    hidden = max(2 * latent, min(512, shape[0] * shape[1] * shape[2] // 2))
    code = layers.Dense(latent, activation="relu" if sparse else None, name="code",
                        activity_regularizer=keras.regularizers.L1(SPARSE_L1) if sparse else None)
    encoder = keras.Sequential([keras.Input(shape), layers.Flatten(), layers.Dense(hidden, activation="relu"), code],
                               name="encoder")
    decoder = keras.Sequential([keras.Input((latent,)), layers.Dense(hidden, activation="relu"),
                                layers.Dense(shape[0] * shape[1] * shape[2], activation="sigmoid"),
                                layers.Reshape(shape)], name="decoder")
    return encoder, decoder


def _conv(keras, shape, latent):
    layers = keras.layers
    h, w, c = shape
    encoder = keras.Sequential([
        keras.Input(shape),
        layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(latent, name="code"),
    ], name="encoder")
    decoder = keras.Sequential([
        keras.Input((latent,)),
        layers.Dense((h // 4) * (w // 4) * 64, activation="relu"),
        layers.Reshape((h // 4, w // 4, 64)),
        layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(c, 3, padding="same", activation="sigmoid"),
    ], name="decoder")
    return encoder, decoder


def halves(model):
    """(encoder, decoder) of a loaded autoencoder; an error when it is not one of ours."""
    from mlkit.errors import MlkitError

    names = [layer.name for layer in model.layers]
    if "encoder" not in names or "decoder" not in names:
        raise MlkitError("not an mlkit compress model (no encoder and decoder inside)", "train one with mlkit compress train")
    return model.get_layer("encoder"), model.get_layer("decoder")


def steps(model, optimizer, gradient_scale=1.0):
    """(train_step, val_loss) of a batch; the loss is the mean squared error plus any activity
    penalty (the sparse model's L1 on the code). train_step is left for the runtime to compile
    over its replicas (Runtime.replicated), which is why it scales the loss for the gradient."""
    tf, _ = import_tf()

    def loss_of(batch, training):
        mse = tf.reduce_mean(tf.square(model(batch, training=training) - batch))
        penalty = tf.add_n(model.losses) if model.losses else tf.constant(0.0)
        return mse, penalty

    def train_step(batch):
        with tf.GradientTape() as tape:
            mse, penalty = loss_of(batch, True)
            loss = mse + penalty
            scaled = loss * gradient_scale
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return {"loss": loss, "mse": mse}

    @tf.function
    def val_loss(batch):
        mse, penalty = loss_of(batch, False)
        return mse + penalty

    return train_step, val_loss


def run(fn, images, batch_size=256):
    """`fn` (a Keras model) over `images` in batches, as a numpy array."""
    import numpy as np

    if len(images) == 0:
        return np.empty((0,) + tuple(fn.output_shape[1:]), np.float32)
    return np.concatenate([np.asarray(fn(images[i : i + batch_size], training=False))
                           for i in range(0, len(images), batch_size)])
