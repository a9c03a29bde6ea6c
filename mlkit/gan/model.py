"""The DCGAN of the classic TensorFlow tutorials, and its compiled training step.

Generator: linear z -> 4x4x(8*gf_dim), transposed 5x5 convolutions with stride 2 halving the
depth up to the image size, batch norm + ReLU, tanh out. Discriminator: strided 5x5
convolutions (df_dim, 2x, 4x, 8x; batch norm on all but the first) with leaky ReLU 0.2, then a
linear layer to one logit. Sigmoid cross-entropy, Adam; the generator is updated `g_steps` times
per discriminator step. Unlike the tutorials, real images' target is 1 - label_smoothing and the
discriminator's rate is d_lr (half the generator's by default): both keep small sets from
collapsing. The only module of mlkit/gan that imports TensorFlow.
"""

import math

import keras
import tensorflow as tf

from mlkit.gan.config import d_lr

BN = {"momentum": 0.9, "epsilon": 1e-5}  # as the tutorials' batch_norm; Keras's 0.99 lags too long
INIT = {"kernel_initializer": keras.initializers.RandomNormal(stddev=0.02)}


def generator(image_size, channels, z_dim=100, gf_dim=64):
    ups = int(math.log2(image_size)) - 2  # 4 -> image_size, doubling each time
    depth = gf_dim * 2 ** (ups - 1)
    layers = [keras.Input((z_dim,)), keras.layers.Dense(4 * 4 * depth, **INIT), keras.layers.Reshape((4, 4, depth)),
              keras.layers.BatchNormalization(**BN), keras.layers.ReLU()]
    for i in range(ups - 1):
        depth //= 2
        layers += [keras.layers.Conv2DTranspose(depth, 5, strides=2, padding="same", **INIT),
                   keras.layers.BatchNormalization(**BN), keras.layers.ReLU()]
    layers += [keras.layers.Conv2DTranspose(channels, 5, strides=2, padding="same", **INIT),
               keras.layers.Activation("tanh", dtype="float32")]
    return keras.Sequential(layers, name="generator")


def discriminator(image_size, channels, df_dim=64):
    layers = [keras.Input((image_size, image_size, channels))]
    for i in range(4):
        layers.append(keras.layers.Conv2D(df_dim * 2 ** i, 5, strides=2, padding="same", **INIT))
        if i:
            layers.append(keras.layers.BatchNormalization(**BN))
        layers.append(keras.layers.LeakyReLU(0.2))
    layers += [keras.layers.Flatten(), keras.layers.Dense(1, dtype="float32", **INIT)]
    return keras.Sequential(layers, name="discriminator")


def adam(lr, beta1, mixed):
    optimizer = keras.optimizers.Adam(lr, beta_1=beta1)
    return keras.optimizers.LossScaleOptimizer(optimizer) if mixed else optimizer


class Gan:
    """Both networks, their optimizers and a train step compiled once under `strategy`.

    The step's z is drawn statelessly from (seed, step): a resumed run draws the same z."""

    def __init__(self, config, strategy, mixed=False):
        self.config, self.strategy, self.mixed = config, strategy, mixed
        size, channels = config["image_size"], config["channels"]
        with strategy.scope():
            self.g = generator(size, channels, config["z_dim"], config["gf_dim"])
            self.d = discriminator(size, channels, config["df_dim"])
            self.g_opt = adam(config["lr"], config["beta1"], mixed)
            self.d_opt = adam(d_lr(config), config["beta1"], mixed)
            self.g_opt.build(self.g.trainable_variables)
            self.d_opt.build(self.d.trainable_variables)
        self._step = tf.function(self._distributed_step)

    def set_learning_rates(self):
        """The configured rates, also after a restore (a resumed run may change them)."""
        for optimizer, rate in ((self.g_opt, self.config["lr"]), (self.d_opt, d_lr(self.config))):
            inner = getattr(optimizer, "inner_optimizer", optimizer)
            inner.learning_rate = float(rate)

    def objects(self):
        return {"generator": (self.g, self.g_opt), "discriminator": (self.d, self.d_opt)}

    def steps_done(self):
        """Discriminator updates applied so far (restored with the optimizer state)."""
        return int(self.d_opt.iterations.numpy())

    def train_step(self, batch, step):
        """One discriminator update and g_steps generator updates; the losses as floats."""
        return {k: float(v) for k, v in self._step(batch, tf.constant(step, tf.int64)).items()}

    def _distributed_step(self, batch, step):
        out = self.strategy.run(self._replica_step, args=(batch, step))
        return {k: self.strategy.reduce("SUM", v, axis=None) for k, v in out.items()}

    def _replica_step(self, real, step):
        cfg = self.config
        n = tf.shape(real)[0]
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        z = tf.random.stateless_uniform((n, cfg["z_dim"]), seed=tf.stack([tf.cast(cfg["seed"], tf.int64), step * 1024 + tf.cast(replica, tf.int64)]),
                                        minval=-1.0, maxval=1.0)
        real = tf.cast(real, self.g.compute_dtype)
        # The first generator update starts from the very G(z) the discriminator step saw (G has
        # not changed in between), so its forward pass is recorded once and not run again.
        with tf.GradientTape() as g_tape:
            fake = self.g(z, training=True)
            with g_tape.stop_recording():
                d_loss, d_real, d_fake = self._update_d(real, fake)
            g_loss = self._g_loss(fake)
            scaled = _scaled(self.g_opt, g_loss)
        _apply(self.g_opt, g_tape, scaled, self.g.trainable_variables)
        for _ in range(cfg["g_steps"] - 1):
            with tf.GradientTape() as tape:
                g_loss = self._g_loss(self.g(z, training=True))
                scaled = _scaled(self.g_opt, g_loss)
            _apply(self.g_opt, tape, scaled, self.g.trainable_variables)
        scale = tf.cast(self.strategy.num_replicas_in_sync, tf.float32)
        return {"d_loss": d_loss / scale, "g_loss": g_loss / scale, "d_real": d_real / scale, "d_fake": d_fake / scale}

    def _update_d(self, real, fake):
        with tf.GradientTape() as tape:
            real_logits, fake_logits = logits_of(self.d, real), logits_of(self.d, fake)
            smoothing = self.config.get("label_smoothing", 0.0)  # absent from runs stored before it existed
            real_target = tf.fill(tf.shape(real_logits), 1.0 - smoothing)
            loss = _bce(real_target, real_logits) + _bce(tf.zeros_like(fake_logits), fake_logits)
            scaled = _scaled(self.d_opt, loss)
        _apply(self.d_opt, tape, scaled, self.d.trainable_variables)
        return loss, tf.reduce_mean(tf.sigmoid(real_logits)), tf.reduce_mean(tf.sigmoid(fake_logits))

    def _g_loss(self, fake):
        """Against the discriminator as it is now (after its update this step)."""
        logits = logits_of(self.d, fake)
        return _bce(tf.ones_like(logits), logits)

    def sample(self, z):
        """Generator output for z (inference mode: batch norm's moving statistics), in [-1, 1]."""
        return self.g(tf.constant(z, tf.float32), training=False).numpy()

    def discriminate(self, images):
        return tf.sigmoid(logits_of(self.d, tf.constant(images, tf.float32), training=False)).numpy()


def logits_of(d, images, training=True):
    """d(images), with each convolution whose output is one position computed as the product
    of its input and the kernel taps that reach inside it. Keras's CPU kernel runs all 25 taps
    of a 5x5 over the padding there (the last layer at 16 px, 2x2 -> 1x1: 21 of 25 taps), and
    that one layer took 40% of a 16 px step; the product is the same sum."""
    x = images
    for layer in d.layers:
        x = _one_position(layer, x) if _is_one_position(layer, x) else layer(x, training=training)
    return x


def _is_one_position(layer, x):
    if type(layer) is not keras.layers.Conv2D or (layer.padding, layer.data_format) != ("same", "channels_last"):
        return False
    one_pixel = all(-(-n // s) == 1 for n, s in zip(x.shape[1:3], layer.strides))
    return one_pixel and layer.dilation_rate == (1, 1) and layer.groups == 1


def _one_position(layer, x):
    """The single output pixel of a 'same' convolution: TensorFlow pads (k - n) // 2 before.
    tf.slice, not [] indexing: its gradient is a pad, where a strided slice's took 5x longer."""
    x = tf.cast(x, layer.compute_dtype)
    (kh, kw), (h, w, c) = layer.kernel_size, x.shape[1:]
    top, left = max(kh - h, 0) // 2, max(kw - w, 0) // 2
    rows, cols = min(h, kh - top), min(w, kw - left)  # the taps that reach inside the input
    taps = tf.slice(layer.kernel, [top, left, 0, 0], [rows, cols, c, layer.filters])
    if (rows, cols) != (h, w):
        x = tf.slice(x, [0, 0, 0, 0], [-1, rows, cols, c])
    weights = tf.cast(tf.reshape(taps, (-1, layer.filters)), x.dtype)
    out = tf.matmul(tf.reshape(x, (-1, rows * cols * c)), weights)
    if layer.use_bias:
        out = out + tf.cast(layer.bias, x.dtype)
    return layer.activation(tf.reshape(out, (-1, 1, 1, layer.filters)))


def _bce(labels, logits):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32)))


def _scaled(optimizer, loss):
    """The loss the gradient is taken of (inside the tape). Each replica's loss is a mean over
    its share of the batch and the optimizer sums the replicas' gradients, so each contributes
    1/replicas; under mixed precision the loss scale multiplies it too (and is undone in apply)."""
    loss = loss / tf.distribute.get_strategy().num_replicas_in_sync
    return optimizer.scale_loss(loss) if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else loss


def _apply(optimizer, tape, scaled, variables):
    optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
