"""The rate-distortion model (Ballé et al. 2017): a GDN analysis transform to a latent map,
additive uniform noise in training, a learned factorized entropy model, and a synthesis
transform back; the loss is D + lambda * R (D: mean squared error on the 0..255 scale, R:
bits per pixel under the entropy model).

The saved model is one functional Keras model with three named parts: "analysis", "prior"
and "synthesis". The prior's integer tables (one probability table per latent channel) are
computed once from its float density when the model is saved (`freeze`) and are part of the
weights, so the fingerprint covers them and encode/decode never recompute a float CDF.
"""

import functools
import math

import numpy as np

from mlkit.deep.runtime import import_tf
from mlkit.errors import MlkitError

# --quality 1..8 -> lambda (the inverse of the lambdas of CompressAI's bmshj2018 models).
LAMBDAS = {1: 556.0, 2: 286.0, 3: 149.0, 4: 77.0, 5: 40.0, 6: 20.7, 7: 10.7, 8: 5.56}
FILTERS = 48  # channels of the hidden layers
TABLE = 256  # most symbols per latent channel's table
PRECISION = 16  # the tables' probabilities are integers summing to 2**PRECISION
LIKELIHOOD_FLOOR = 1e-9


@functools.cache
def layers():
    """(GDN, FactorizedPrior): the two custom layers, registered for safe-mode loading."""
    tf, keras = import_tf()

    @keras.saving.register_keras_serializable(package="mlkit")
    class GDN(keras.layers.Layer):
        """Generalized divisive normalisation: x / sqrt(beta + gamma x^2) (inverse: times)."""

        def __init__(self, inverse=False, **kwargs):
            super().__init__(**kwargs)
            self.inverse = inverse

        def build(self, shape):
            c = int(shape[-1])
            self.beta = self.add_weight(name="beta", shape=(c,), initializer="ones")
            self.gamma = self.add_weight(name="gamma", shape=(c, c), initializer=keras.initializers.Identity(0.1))

        def call(self, x):
            beta = tf.nn.relu(self.beta) + 1e-6
            gamma = tf.nn.relu(self.gamma)
            norm = tf.sqrt(beta + tf.tensordot(tf.square(x), gamma, axes=[[3], [0]]))
            return x * norm if self.inverse else x / norm

        def get_config(self):
            return {**super().get_config(), "inverse": self.inverse}

    @keras.saving.register_keras_serializable(package="mlkit")
    class FactorizedPrior(keras.layers.Layer):
        """Ballé's non-parametric density per channel: a monotone cumulative c(x) built from
        softplus matrices and tanh gates; the likelihood of y is c(y + 1/2) - c(y - 1/2).
        `offset`, `length`, `pmf` are the frozen integer tables (non-trainable)."""

        def __init__(self, filters=(3, 3, 3), init_scale=10.0, **kwargs):
            super().__init__(**kwargs)
            self.filters, self.init_scale = tuple(filters), float(init_scale)

        def build(self, shape):
            c = int(shape[-1])
            dims = (1, *self.filters, 1)
            scale = self.init_scale ** (1 / (len(self.filters) + 1))
            self.matrices, self.biases, self.factors = [], [], []
            for i in range(len(self.filters) + 1):
                init = math.log(math.expm1(1 / scale / dims[i + 1]))
                self.matrices.append(self.add_weight(name=f"matrix{i}", shape=(c, dims[i + 1], dims[i]),
                                                     initializer=keras.initializers.Constant(init)))
                self.biases.append(self.add_weight(name=f"bias{i}", shape=(c, dims[i + 1], 1),
                                                   initializer=keras.initializers.RandomUniform(-0.5, 0.5)))
                if i < len(self.filters):
                    self.factors.append(self.add_weight(name=f"factor{i}", shape=(c, dims[i + 1], 1), initializer="zeros"))
            self.offset = self.add_weight(name="offset", shape=(c,), dtype="int32", initializer="zeros", trainable=False)
            self.length = self.add_weight(name="length", shape=(c,), dtype="int32", initializer="zeros", trainable=False)
            self.pmf = self.add_weight(name="pmf", shape=(c, TABLE), dtype="int32", initializer="zeros", trainable=False)

        def logits(self, x):
            """The cumulative's logits at x: channels x 1 x n."""
            for i, matrix in enumerate(self.matrices):
                x = tf.linalg.matmul(tf.nn.softplus(matrix), x) + self.biases[i]
                if i < len(self.factors):
                    x = x + tf.tanh(self.factors[i]) * tf.tanh(x)
            return x

        def likelihood_of(self, values):
            """values: channels x n -> their likelihoods (same shape)."""
            values = values[:, None, :]
            lower, upper = self.logits(values - 0.5), self.logits(values + 0.5)
            sign = tf.stop_gradient(-tf.sign(lower + upper))
            diff = tf.abs(tf.sigmoid(sign * upper) - tf.sigmoid(sign * lower))
            return tf.maximum(diff[:, 0, :], LIKELIHOOD_FLOOR)

        def call(self, y):
            shape = tf.shape(y)
            flat = tf.transpose(tf.reshape(y, (-1, shape[-1])))  # channels x n
            return tf.reshape(tf.transpose(self.likelihood_of(flat)), shape)

        def get_config(self):
            return {**super().get_config(), "filters": list(self.filters), "init_scale": self.init_scale}

    return GDN, FactorizedPrior


def custom_objects():
    gdn, prior = layers()
    return {"GDN": gdn, "FactorizedPrior": prior, "mlkit>GDN": gdn, "mlkit>FactorizedPrior": prior}


DOWNSAMPLES = (4, 8, 16)  # 2, 3 or 4 stride-2 stages


def build(size, channels, latent, downsample=4):
    """The model for H x W x C images in [0, 1] (H, W multiples of `downsample`), `latent`
    channels in its H/downsample x W/downsample latent map: one stride-2 conv + GDN stage
    per halving, so small images get a latent map with few numbers."""
    _, keras = import_tf()
    _, prior = layers()
    analysis, synthesis = transforms(size, channels, latent, downsample)
    inputs = keras.Input((*size, channels))
    code = analysis(inputs)
    likelihood = prior(name="prior")(code)
    return keras.Model(inputs, [synthesis(code), likelihood], name="rd_codec")


def transforms(size, channels, latent, downsample=4):
    """(analysis, synthesis): the GDN transforms between images and the latent map."""
    _, keras = import_tf()
    gdn, _ = layers()
    conv, up = keras.layers.Conv2D, keras.layers.Conv2DTranspose
    h, w = size
    stages = int(math.log2(downsample))
    down = [layer for _ in range(stages) for layer in (conv(FILTERS, 5, strides=2, padding="same"), gdn())]
    analysis = keras.Sequential([keras.Input((h, w, channels)), *down, conv(latent, 3, padding="same")], name="analysis")
    ups = [layer for _ in range(stages - 1) for layer in (up(FILTERS, 5, strides=2, padding="same"), gdn(inverse=True))]
    synthesis = keras.Sequential([
        keras.Input((h // downsample, w // downsample, latent)),
        up(FILTERS, 3, padding="same"), gdn(inverse=True), *ups,
        up(channels, 5, strides=2, padding="same"),
    ], name="synthesis")
    return analysis, synthesis


def parts(model):
    return model.get_layer("analysis"), model.get_layer("prior"), model.get_layer("synthesis")


def steps(model, optimizer, lam, gradient_scale=1.0):
    """(train_step, val_loss): D + lam * R with uniform noise in training, rounding in validation."""
    tf, _ = import_tf()
    analysis, prior, synthesis = parts(model)

    def loss_of(batch, training):
        y = analysis(batch, training=training)
        y = y + tf.random.uniform(tf.shape(y), -0.5, 0.5) if training else tf.round(y)
        recon = synthesis(y, training=training)
        pixels = tf.cast(tf.shape(batch)[0] * tf.shape(batch)[1] * tf.shape(batch)[2], tf.float32)
        bpp = tf.reduce_sum(-tf.math.log(prior(y)) / math.log(2)) / pixels
        mse = tf.reduce_mean(tf.square(recon - batch))
        return mse * 255.0**2 + lam * bpp, mse, bpp

    return step_pair(model, optimizer, loss_of, gradient_scale)


def step_pair(model, optimizer, loss_of, gradient_scale=1.0, clip=None):
    """(train_step, val_loss) of a loss_of(batch, training) -> (loss, mse, bpp); with `clip`,
    the gradient's global norm is clipped there and logged as grad_norm."""
    tf, _ = import_tf()

    def train_step(batch):
        with tf.GradientTape() as tape:
            loss, mse, bpp = loss_of(batch, True)
            scaled = loss * gradient_scale
        grads = tape.gradient(scaled, model.trainable_variables)
        record = {"loss": loss, "mse": mse, "bpp": bpp}
        if clip is not None:
            norm = tf.linalg.global_norm(grads)
            grads, _ = tf.clip_by_global_norm(grads, clip * gradient_scale, use_norm=norm)
            record["grad_norm"] = norm / gradient_scale
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return record

    @tf.function
    def val_loss(batch):
        return loss_of(batch, False)[0]

    return train_step, val_loss


def freeze(model):
    """Quantise the prior's density to integer tables, once: per channel the symbols from
    `offset` on, `length` of them, probabilities summing to 2**PRECISION with none below 1."""
    freeze_prior(model.get_layer("prior"))


def freeze_prior(prior):
    """The integer tables of one FactorizedPrior layer (see freeze)."""
    tf, _ = import_tf()
    c = int(prior.pmf.shape[0])
    grid = np.arange(-512, 513, dtype=np.float32)
    lik = prior.likelihood_of(tf.constant(np.tile(grid, (c, 1)))).numpy().astype(np.float64)
    offsets, lengths, tables = np.zeros(c, np.int32), np.zeros(c, np.int32), np.zeros((c, TABLE), np.int32)
    for k in range(c):
        cdf = np.cumsum(lik[k]) / lik[k].sum()
        lo = int(np.searchsorted(cdf, 1e-7))
        hi = min(int(np.searchsorted(cdf, 1 - 1e-7)), lo + TABLE - 1)
        median = int(np.searchsorted(cdf, 0.5))
        lo, hi = _centre(lo, hi, median)
        p = lik[k, lo : hi + 1]
        offsets[k], lengths[k], tables[k, : hi - lo + 1] = int(grid[lo]), hi - lo + 1, integer_pmf(p)
    prior.offset.assign(offsets)
    prior.length.assign(lengths)
    prior.pmf.assign(tables)


def _centre(lo, hi, median):
    """At least one symbol each side of the median, inside the table's width."""
    lo, hi = min(lo, median - 1), max(hi, median + 1)
    if hi - lo + 1 > TABLE:
        lo, hi = median - TABLE // 2, median - TABLE // 2 + TABLE - 1
    return lo, hi


def integer_pmf(p):
    """Probabilities as positive integers summing to 2**PRECISION (largest share fixes the sum)."""
    total = 1 << PRECISION
    counts = np.maximum(1, np.floor(p / p.sum() * (total - len(p))).astype(np.int64))
    counts[np.argmax(counts)] += total - counts.sum()
    return counts.astype(np.int32)


OFFSET_MAX = 1 << 16  # rd.freeze_prior's offsets lie in -512..512; anything far beyond is forged


def check_tables(length, pmf, what, offset=None):
    """Each row's first `length` entries positive, summing to 2**PRECISION, within the table;
    offsets (rd's latents, a hyper model's z) within +-OFFSET_MAX."""
    width = pmf.shape[-1]
    if offset is not None and (np.abs(offset) > OFFSET_MAX).any():
        raise MlkitError(f"the model's entropy tables are damaged ({what} offsets are not within +-{OFFSET_MAX})",
                         "train it again or restore a copy")
    if (length > width).any():
        raise MlkitError(f"the model's entropy tables are damaged ({what} lengths run past the {width}-entry tables)",
                         "train it again or restore a copy")
    inside = np.arange(width) < length[:, None]
    if (pmf[inside] < 1).any() or (np.where(inside, pmf, 0).sum(axis=1) != 1 << PRECISION).any():
        raise MlkitError(f"the model's entropy tables are damaged ({what} probabilities are not positive integers "
                         f"summing to 2**{PRECISION})", "train it again or restore a copy")


def tables(model):
    """(offset, length, pmf) as numpy int arrays: what encode and decode use."""
    prior = model.get_layer("prior")
    return (np.asarray(prior.offset.numpy(), np.int64), np.asarray(prior.length.numpy(), np.int64),
            np.asarray(prior.pmf.numpy(), np.int64))


def estimated_bits(model, latents):
    """The float entropy model's bits for rounded latents (N x h x w x C): what training minimises."""
    tf, _ = import_tf()
    lik = model.get_layer("prior")(tf.constant(np.asarray(latents, np.float32)))
    return float(np.sum(-np.log2(np.asarray(lik, np.float64))))
