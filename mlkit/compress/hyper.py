"""The scale hyperprior codec (Ballé et al. 2018): rd's GDN transforms, plus a hyper-analysis
of |y| to a small side map z (rd's factorized prior) and a hyper-synthesis from z to each
latent's scale; y's likelihood is a zero-mean Gaussian of that scale convolved with U(-1/2, 1/2).
The loss is D + lambda * (bits of y + bits of z) per pixel.

The saved model is one functional Keras model with named parts: "analysis", "hyper_analysis",
"prior" (z's density and tables), "hyper_synthesis", "conditional" (y's Gaussian tables) and
"synthesis".

Bit-exact decoding: the decoder must choose every latent's table exactly as the encoder did,
on any CPU, thread count or batch; float convolutions (oneDNN, BLAS) do not promise that. So
encode and decode run the hyper-synthesis as an integer network (Ballé, Johnston, Minnen 2019,
"Integer networks for data compression"): its weights quantised to fixed point when the model
loads, int64 numpy convolutions (integer sums are exact in any order), floor shifts, and the
output rounded to a scale index with integer arithmetic. Training uses the float network; the
two agree on nearly every index (tests/test_compress_hyper.py measures it), and where they
differ only the rate suffers, never the decode.

Tables are weights: z's per-channel tables (rd.freeze_prior) and one Gaussian table per scale
level are computed once when the model is saved, so decoding never evaluates a float CDF.
"""

import dataclasses
import functools
import math

import numpy as np

from mlkit.compress import rd
from mlkit.deep.runtime import import_tf
from mlkit.errors import MlkitError

LEVELS = 64  # scale levels, log-spaced from SCALE_MIN to SCALE_MAX (tensorflow-compression's defaults)
SCALE_MIN, SCALE_MAX = 0.11, 256.0
STEP = math.log(SCALE_MAX / SCALE_MIN) / (LEVELS - 1)  # ln of the ratio between neighbouring scales
# Most symbols in a y table: -511..511. A Gaussian's table covers all but TAIL of its mass up to a
# scale of 96; the few wider scales are cut at +-511 and a latent beyond is clipped to the edge.
TABLE = 1023
TAIL = 1e-7
FILTERS = rd.FILTERS
# The gradient's global norm is clipped to this. On MRI slices it ranged over 300..46000 within
# one run, and a spike (with GDN's cubic inverse) blew the reconstructions up after ~1000 steps at
# --quality 1 and 3; Adam rescales the step anyway, so clipping most steps to one norm keeps
# their direction and only tames the spikes.
CLIP_NORM = 1000.0
WORK = 1 << 28  # bytes of integer-network work per batch of planes (64 planes of a 128x192 grid took 15 GB)
FRACTIONS = range(16, 7, -1)  # fixed-point fraction bits tried, largest first (see integer_net)


def scales():
    """The LEVELS scales, as float64."""
    return SCALE_MIN * np.exp(STEP * np.arange(LEVELS))


@functools.cache
def layers():
    """(Abs, GaussianConditional), registered for safe-mode loading."""
    tf, keras = import_tf()

    @keras.saving.register_keras_serializable(package="mlkit")
    class Abs(keras.layers.Layer):
        """|x|: what the hyper-analysis sees (the scale of y does not depend on its sign)."""

        def call(self, x):
            return tf.abs(x)

    @tf.custom_gradient
    def bounded(u):
        """u clipped to the levels; outside, the gradient passes only when it pulls u back in
        (tensorflow-compression's lower_bound): a latent already at the smallest scale cannot
        drive its u ever further down, which made training unstable."""
        top = LEVELS - 1.0

        def grad(g):
            inside = (u >= 0.0) & (u <= top)
            return g * tf.cast(inside | (u < 0.0) & (g < 0.0) | (u > top) & (g > 0.0), g.dtype)

        return tf.clip_by_value(u, 0.0, top), grad

    @keras.saving.register_keras_serializable(package="mlkit")
    class GaussianConditional(keras.layers.Layer):
        """[y, u] -> the likelihood of y under N(0, sigma^2) * U(-1/2, 1/2), sigma = SCALE_MIN *
        exp(STEP * u). The hyper-synthesis predicts u in units of scale levels (as
        tensorflow-compression's indexed entropy models do): the integer network then needs no
        exp or log, only a rounding of u to the nearest level. `length` and `pmf` are the frozen
        integer tables, one per level (non-trainable)."""

        def build(self, shapes=None):
            self.length = self.add_weight(name="length", shape=(LEVELS,), dtype="int32", initializer="zeros", trainable=False)
            self.pmf = self.add_weight(name="pmf", shape=(LEVELS, TABLE), dtype="int32", initializer="zeros", trainable=False)

        def call(self, inputs):
            y, u = inputs
            u = bounded(u)
            sigma = SCALE_MIN * tf.exp(STEP * u)
            y = tf.abs(y)
            upper = 0.5 * tf.math.erfc((y - 0.5) / (sigma * math.sqrt(2)))  # Phi((0.5 - |y|) / sigma)
            lower = 0.5 * tf.math.erfc((y + 0.5) / (sigma * math.sqrt(2)))
            return tf.maximum(upper - lower, rd.LIKELIHOOD_FLOOR)

    return Abs, GaussianConditional


def custom_objects():
    found = rd.custom_objects()
    for cls in layers():
        found |= {cls.__name__: cls, f"mlkit>{cls.__name__}": cls}
    return found


def build(size, channels, latent, downsample=4):
    """The model for H x W x C images (H, W multiples of 4 * downsample): y is H/downsample x
    W/downsample x latent, z a quarter of that on each side, with `latent` channels."""
    _, keras = import_tf()
    _, prior = rd.layers()
    abs_, conditional = layers()
    conv, up = keras.layers.Conv2D, keras.layers.UpSampling2D
    analysis, synthesis = rd.transforms(size, channels, latent, downsample)
    gh, gw = size[0] // downsample, size[1] // downsample
    hyper_analysis = keras.Sequential([
        keras.Input((gh, gw, latent)), abs_(),
        conv(FILTERS, 3, padding="same", activation="relu"),
        conv(FILTERS, 5, strides=2, padding="same", activation="relu"),
        conv(latent, 5, strides=2, padding="same"),
    ], name="hyper_analysis")
    # nearest upsampling + 'same' convolutions (not Conv2DTranspose): exactly re-done in integers
    hyper_synthesis = keras.Sequential([
        keras.Input((gh // 4, gw // 4, latent)),
        up(2), conv(FILTERS, 5, padding="same", activation="relu"),
        up(2), conv(FILTERS, 5, padding="same", activation="relu"),
        conv(latent, 3, padding="same", bias_initializer=keras.initializers.Constant(LEVELS / 2)),
    ], name="hyper_synthesis")
    inputs = keras.Input((*size, channels))
    y = analysis(inputs)
    z = hyper_analysis(y)
    likelihood = conditional(name="conditional")([y, hyper_synthesis(z)])
    return keras.Model(inputs, [synthesis(y), likelihood, prior(name="prior")(z)], name="hyper_codec")


def parts(model):
    """(analysis, hyper_analysis, prior, hyper_synthesis, conditional, synthesis)."""
    names = ("analysis", "hyper_analysis", "prior", "hyper_synthesis", "conditional", "synthesis")
    return tuple(model.get_layer(n) for n in names)


def steps(model, optimizer, lam, gradient_scale=1.0):
    """(train_step, val_loss): D + lam * R, R the bits of y and z per pixel; uniform noise on
    both in training, rounding in validation."""
    tf, _ = import_tf()
    analysis, hyper_analysis, prior, hyper_synthesis, conditional, synthesis = parts(model)

    def loss_of(batch, training):
        y = analysis(batch, training=training)
        z = hyper_analysis(y, training=training)
        if training:
            y, z = (t + tf.random.uniform(tf.shape(t), -0.5, 0.5) for t in (y, z))
        else:
            y, z = tf.round(y), tf.round(z)
        bits = tf.reduce_sum(-tf.math.log(conditional([y, hyper_synthesis(z, training=training)]))) \
            + tf.reduce_sum(-tf.math.log(prior(z)))
        pixels = tf.cast(tf.shape(batch)[0] * tf.shape(batch)[1] * tf.shape(batch)[2], tf.float32)
        bpp = bits / math.log(2) / pixels
        mse = tf.reduce_mean(tf.square(synthesis(y, training=training) - batch))
        return mse * 255.0**2 + lam * bpp, mse, bpp

    return rd.step_pair(model, optimizer, loss_of, gradient_scale, clip=CLIP_NORM)


def freeze(model):
    """z's tables (rd's) and one Gaussian table per scale level, as integer weights."""
    from scipy.special import ndtr, ndtri

    rd.freeze_prior(model.get_layer("prior"))
    lengths, tables = np.zeros(LEVELS, np.int32), np.zeros((LEVELS, TABLE), np.int32)
    edge = -float(ndtri(TAIL / 2))  # all but TAIL of N(0, 1) lies within +-edge
    for i, s in enumerate(scales()):
        half = int(min(max(1, math.ceil(s * edge - 0.5)), TABLE // 2))
        k = np.abs(np.arange(-half, half + 1, dtype=np.float64))
        p = ndtr((0.5 - k) / s) - ndtr((-0.5 - k) / s)  # the lower side of the mean: no cancellation
        lengths[i], tables[i, : 2 * half + 1] = 2 * half + 1, rd.integer_pmf(p)
    conditional = model.get_layer("conditional")
    conditional.length.assign(lengths)
    conditional.pmf.assign(tables)


def y_tables(model):
    """(length, pmf) of y's levels as int64: symbol s of level i is the value s - length[i] // 2."""
    conditional = model.get_layer("conditional")
    return np.asarray(conditional.length.numpy(), np.int64), np.asarray(conditional.pmf.numpy(), np.int64)


# ---------------------------------------------------------------------------------------------
# The integer hyper-synthesis


@dataclasses.dataclass
class IntegerNet:
    """The hyper-synthesis in fixed point: per conv layer its int64 kernel (k x k x in x out,
    weights * 2**fraction) and bias, and whether a x2 nearest upsampling comes first; the float
    weights are kept for error bounds."""

    fraction: int
    kernels: list
    biases: list
    upsample: list
    floats: list
    z_bound: int


def _convs(hyper_synthesis):
    """[(kernel, bias, upsampled before)] of the hyper-synthesis's conv layers, as float64;
    refused unless the network is what integer_run re-does (a forged file may hold anything)."""
    found, up, layers_ = [], False, list(hyper_synthesis.layers)
    for i, layer in enumerate(layers_):
        name, config = layer.__class__.__name__, layer.get_config()
        if name == "UpSampling2D" and not up and i < len(layers_) - 1 and _nearest_x2(config):
            up = True
        elif name == "Conv2D" and _plain_conv(config, last=i == len(layers_) - 1):
            kernel, bias = layer.get_weights()
            found.append((np.asarray(kernel, np.float64), np.asarray(bias, np.float64), up))
            up = False
        else:
            raise MlkitError(f"the hyper model's scale network has a layer integer decoding cannot run ({layer.name})",
                             "train the model again with mlkit compress train --kind hyper")
    if len(found) < 2:  # integer_run's scales: the first layer's sum at 2**F, the last one's at 2**2F
        raise MlkitError("the hyper model's scale network has under two convolutions, which integer decoding "
                         "cannot run", "train the model again with mlkit compress train --kind hyper")
    return found


def _nearest_x2(config):
    return (tuple(config.get("size", ())) == (2, 2) and config.get("interpolation") == "nearest"
            and config.get("data_format") == "channels_last")


def _plain_conv(config, last):
    """A stride-1, undilated, 'same', odd square, biased Conv2D; ReLU inside, linear last."""
    size = tuple(config.get("kernel_size", ()))
    return (len(size) == 2 and size[0] == size[1] and size[0] % 2 == 1 and tuple(config.get("strides", ())) == (1, 1)
            and tuple(config.get("dilation_rate", ())) == (1, 1) and config.get("padding") == "same"
            and config.get("groups", 1) == 1 and config.get("use_bias") is True
            and config.get("data_format") == "channels_last"
            and config.get("activation") == ("linear" if last else "relu"))


def integer_net(hyper_synthesis, z_bound):
    """The fixed-point network for inputs |z| <= z_bound, with the most fraction bits F (16 down
    to 8) for which no int64 sum can overflow.

    Scales: z is an integer (scale 1); the first layer's kernel and bias are at 2**F, so its
    output is at 2**F. A later layer multiplies a 2**F activation by a 2**F kernel (its bias is at
    2**2F), and a floor shift by F brings ReLU outputs back to 2**F; the last layer's 2**2F sum is
    rounded to a level by (sum + 2**(2F-1)) >> 2F. The bound is exact, in Python integers: per
    layer, per output channel, sum |kernel| * (largest input) + |bias| is the largest any partial
    or full sum can reach, and it must stay below 2**62."""
    convs = _convs(hyper_synthesis)
    for fraction in FRACTIONS:
        kernels, biases, largest, ok = [], [], int(z_bound), True
        for i, (kernel, bias, _) in enumerate(convs):
            if not (np.isfinite(kernel).all() and np.isfinite(bias).all()
                    and np.abs(kernel).max(initial=0) < 2.0 ** (40 - fraction) and np.abs(bias).max(initial=0) < 2.0 ** (60 - 2 * fraction)):
                ok = False  # the int64 casts and column sums below stay exact only for such weights
                break
            kq = np.rint(kernel * 2.0**fraction).astype(np.int64)
            bq = np.rint(bias * 2.0 ** (fraction * (1 if i == 0 else 2))).astype(np.int64)
            # Python integers: an int64 column sum of 2**23 kernel entries near 2**40 would wrap
            column = np.abs(kq).reshape(-1, kq.shape[-1]).sum(axis=0, dtype=object)
            bound = max(int(c) * largest + abs(int(b)) for c, b in zip(column.tolist(), bq.tolist())) + (1 << 2 * fraction)
            if bound >= 1 << 62:
                ok = False
                break
            kernels.append(kq)
            biases.append(bq)
            largest = bound >> (0 if i == 0 else fraction)
        if ok:
            return IntegerNet(fraction, kernels, biases, [c[2] for c in convs], [c[:2] for c in convs], int(z_bound))
    raise MlkitError("the hyper model's scale network has weights too large for exact integer decoding",
                     "train the model again")


def _conv(x, kernel):
    """'same' stride-1 convolution (Keras's cross-correlation) of int64 N x H x W x C."""
    k = kernel.shape[0]
    pad = k // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))  # N H W C k k
    return np.tensordot(windows, kernel, axes=([4, 5, 3], [0, 1, 2]))  # integer dot: exact, no BLAS


def integer_run(net, z_hat):
    """Every layer's output (int64): ReLU layers at 2**F, the last layer's sum at 2**2F."""
    x, outputs, f = np.asarray(z_hat, np.int64), [], net.fraction
    for i, (kernel, bias, up) in enumerate(zip(net.kernels, net.biases, net.upsample)):
        if up:
            x = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
        x = _conv(x, kernel) + bias
        if i < len(net.kernels) - 1:
            x = np.maximum(x, 0) >> (0 if i == 0 else f)  # arithmetic shift: floor, the same everywhere
        outputs.append(x)
    return outputs


def plane_bytes(net, z_shape):
    """What integer_run holds per z plane (h x w x C) at its peak: every layer's int64 output
    (all are kept) plus the largest layer's window copy (tensordot copies the strided windows)."""
    (h, w), outputs, windows = z_shape[:2], 0, 0
    for kernel, up in zip(net.kernels, net.upsample):
        h, w = (2 * h, 2 * w) if up else (h, w)
        k, _, cin, cout = kernel.shape
        outputs, windows = outputs + h * w * cout * 8, max(windows, h * w * (k * k + 1) * cin * 8)
    return outputs + windows


def indices(net, z_hat):
    """Each latent's scale level, 0..LEVELS-1: round(u) in integers, over as many planes at a
    time as fit in WORK bytes (exact sums: the batches change nothing but the memory)."""
    from mlkit.io import limits

    z_hat = np.asarray(z_hat, np.int64)
    per = plane_bytes(net, z_hat.shape[1:])
    limits.check(per, "the integer scale network on one plane")
    step, shift, found = max(1, WORK // per), 2 * net.fraction, []
    for i in range(0, len(z_hat), step):
        total = integer_run(net, z_hat[i : i + step])[-1]
        found.append(np.clip((total + (1 << (shift - 1))) >> shift, 0, LEVELS - 1))
    return np.concatenate(found) if found else integer_run(net, z_hat)[-1]


def error_bound(net, z_hat):
    """A bound on |u from the integer network - u from the float one in exact arithmetic|, for
    these z_hat. Per layer, in real units, with a the integer layer's input: |err_out| <=
    ||w||_1 * err_in + 2**-(F+1) * (sum of |a| over the kernel's window) + the bias's rounding,
    plus 2**-F for a floor shift (ReLU is 1-Lipschitz)."""
    f, err = net.fraction, 0.0
    inputs = [np.asarray(z_hat, np.int64)] + integer_run(net, z_hat)[:-1]
    for i, ((kernel, _), a, up) in enumerate(zip(net.floats, inputs, net.upsample)):
        a = np.abs(a)
        if up:
            a = np.repeat(np.repeat(a, 2, axis=1), 2, axis=2)
        window = float(_conv(a, np.ones((*kernel.shape[:3], 1), np.int64)).max()) / 2.0 ** (f if i else 0)
        norm = float(np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0).max())
        err = norm * err + 2.0 ** -(f + 1) * window + 2.0 ** -(f * (1 if i == 0 else 2) + 1)
        if 0 < i < len(net.floats) - 1:
            err += 2.0**-f
    return err


# ---------------------------------------------------------------------------------------------
# What encode and decode need


@dataclasses.dataclass
class Side:
    """A loaded hyper model's side information: the hyper-analysis (float, encode only), the
    integer hyper-synthesis, z's tables (offset, length, pmf per channel) and y's (length, pmf
    per level)."""

    hyper_analysis: object
    net: IntegerNet
    z_tables: tuple
    y_tables: tuple


def side_of(model):
    analysis, hyper_analysis, _, hyper_synthesis, _, _ = parts(model)
    offset, length, pmf = rd.tables(model)
    ylength, ypmf = y_tables(model)
    if (length < 2).any() or (ylength < 3).any():
        raise MlkitError("the hyper model has no entropy tables", "train it with mlkit compress train")
    rd.check_tables(length, pmf, "z's", offset)
    rd.check_tables(ylength, ypmf, "y's")
    if (ylength % 2 == 0).any():
        raise MlkitError("the hyper model's entropy tables are damaged (a y table is not centred: even length)",
                         "train it again or restore a copy")
    _check_shapes(analysis, hyper_analysis, hyper_synthesis)
    z_bound = int(max(np.abs(offset).max(), np.abs(offset + length - 1).max()))
    net = integer_net(hyper_synthesis, z_bound)
    z = np.zeros((1, *hyper_synthesis.input_shape[1:]), np.int64)
    if integer_run(net, z)[-1].shape[1:] != tuple(hyper_synthesis.output_shape[1:]):
        raise MlkitError("the hyper model's scale network does not give one level per latent in integer decoding",
                         "train the model again with mlkit compress train --kind hyper")
    return Side(hyper_analysis, net, (offset, length, pmf), (ylength, ypmf))


def _check_shapes(analysis, hyper_analysis, hyper_synthesis):
    """z is a quarter of y on each side with y's channels, and the scale network maps it back to y's shape."""
    _, gh, gw, c = analysis.output_shape
    z = (gh // 4, gw // 4, c)
    if gh % 4 or gw % 4 or tuple(hyper_analysis.output_shape[1:]) != z or tuple(hyper_synthesis.input_shape[1:]) != z \
            or tuple(hyper_synthesis.output_shape[1:]) != (gh, gw, c):
        raise MlkitError(f"the hyper model's side map does not fit its {gh}x{gw}x{c} latent map",
                         "train the model again with mlkit compress train --kind hyper")


def estimated_bits(model, y_hat, z_hat):
    """The float entropy model's bits for rounded y and z (what training minimises)."""
    tf, _ = import_tf()
    _, _, prior, hyper_synthesis, conditional, _ = parts(model)
    z = tf.constant(np.asarray(z_hat, np.float32))
    lik_y = conditional([tf.constant(np.asarray(y_hat, np.float32)), hyper_synthesis(z, training=False)])
    lik_z = prior(z)
    return float(np.sum(-np.log2(np.asarray(lik_y, np.float64))) + np.sum(-np.log2(np.asarray(lik_z, np.float64))))
