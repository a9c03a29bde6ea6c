"""VGG19 as a feature extractor; the one compiled step that gives every loss term and the
gradient with respect to the image (the optimisation mode); the image transformation network
and its compiled training step (the fast mode). The only module of mlkit/style that imports
TensorFlow.

The network takes images as VGG19 was trained on them ("caffe" preprocessing: BGR, 0-255, the
ImageNet mean subtracted); it stops at the deepest layer a loss uses, so the layers after it
cost nothing. Average pooling swaps the max-pool layers for average-pool ones; the
convolutions and their weights are the same.
"""

import keras
import numpy as np
import tensorflow as tf

from mlkit.style import images, losses
from mlkit.style.weights import CONVS, LAYERS

POOLS = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}


def vgg19(arrays, pooling="max", outputs=LAYERS):
    """A Keras model: image (1 x H x W x 3, caffe space) -> {layer: features} for `outputs`,
    with the convolutions' weights from `arrays` ({layer: (kernel, bias)})."""
    deepest = max(LAYERS.index(name) for name in outputs)
    x = inputs = keras.Input((None, None, 3), dtype="float32")
    found = {}
    for i, (name, _, cout) in enumerate(CONVS[: deepest + 1]):
        conv = keras.layers.Conv2D(cout, 3, padding="same", activation="relu", name=name, dtype="float32")
        x = found[name] = conv(x)
        conv.set_weights(list(arrays[name]))
        block = name.split("_")[0]
        if i < deepest and not LAYERS[i + 1].startswith(block):
            x = POOLS[pooling](2, 2, name=f"{block}_pool", dtype="float32")(x)
    return keras.Model(inputs, {name: found[name] for name in outputs}, name=f"vgg19_{pooling}")


class Objective:
    """The weighted loss of an image (H x W x 3, caffe space) and its gradient, one compiled
    call. The content features and the styles' Gram matrices are computed once, here.

    styles: one (image, blend) per style; weights: {"content", "style", "tv"};
    style_layers: {layer: weight}; gram_norm: "hwc" or "hw" (see mlkit.style.losses)."""

    def __init__(self, net, content, styles, content_layers, style_layers, weights, jit=False, gram_norm="hwc"):
        self.net = net
        self.loss = losses.Perceptual(net, styles, content_layers, style_layers, weights, gram_norm)
        self.content_targets = {k: tf.constant(v) for k, v in self.loss.content_targets(_batch(content)).items()}
        self._step = tf.function(self._terms_and_gradient, jit_compile=jit, reduce_retracing=True)

    def terms(self, image):
        """{"loss", "content_loss", "style_loss", "tv_loss"} of a batch of one image tensor."""
        return self.loss.terms(image, self.content_targets)

    def _terms_and_gradient(self, image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            terms = self.terms(image)
        return terms, tape.gradient(terms["loss"], image)

    def evaluate(self, image):
        """({term: float}, gradient as float64 H x W x 3) for a numpy image."""
        terms, grad = self._step(_batch(image))
        return {k: float(v) for k, v in terms.items()}, grad.numpy()[0].astype(np.float64)

    def features(self, image):
        return {k: v.numpy()[0] for k, v in self.net(_batch(image)).items()}


class Adam:
    """Adam on the image itself, kept inside [low, high] per channel; one compiled step."""

    def __init__(self, objective, image, low, high, lr, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.objective = objective
        self.image = tf.Variable(_batch(image))
        self.low, self.high = tf.constant(low, tf.float32), tf.constant(high, tf.float32)
        self.optimizer = keras.optimizers.Adam(lr, beta_1=beta1, beta_2=beta2, epsilon=epsilon)
        self.optimizer.build([self.image])
        self._step = tf.function(self._update)

    def _update(self):
        before = tf.identity(self.image)
        terms, grad = self.objective._terms_and_gradient(before)
        self.optimizer.apply_gradients([(grad, self.image)])
        self.image.assign(tf.clip_by_value(self.image, self.low, self.high))
        return terms, before

    def step(self):
        """The terms of the image before this update (floats), and that image."""
        terms, before = self._step()
        return {k: float(v) for k, v in terms.items()}, before.numpy()[0]


def _batch(image):
    return tf.convert_to_tensor(np.asarray(image, np.float32)[None])


# The fast mode (Johnson, Alahi and Fei-Fei 2016): a network paints any picture in one pass.

@keras.saving.register_keras_serializable(package="mlkit")
class InstanceNormalization(keras.layers.Layer):
    """Each picture's channels normalised over its own pixels, then a learnt scale and offset
    per channel (Ulyanov et al. 2016). Computed in float32 under mixed precision."""

    def __init__(self, epsilon=1e-5, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.scale = self.add_weight(name="scale", shape=(channels,), initializer="ones")
        self.offset = self.add_weight(name="offset", shape=(channels,), initializer="zeros")

    def call(self, x):
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + self.epsilon) * self.scale + self.offset

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def transform_net(width=32, res_blocks=5):
    """RGB 0-255 (any size, a multiple of 4) -> RGB 0-255 of the same size: a 9x9
    convolution, two stride-2 convolutions, `res_blocks` residual blocks, two nearest-neighbour
    upsamplings each followed by a convolution (resize-convolutions: no checkerboard, unlike
    transposed convolutions), a 9x9 convolution, tanh scaled to 0-255. Instance normalisation
    and ReLU after every convolution but the last. Only built-in layers and
    InstanceNormalization: the file loads with safe_mode=True."""
    layers = keras.layers
    x = inputs = keras.Input((None, None, 3), name="picture")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit")(x)

    def conv(x, filters, kernel, name, stride=1, relu=True):
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", name=name)(x)
        x = InstanceNormalization(name=f"{name}_norm")(x)
        return layers.ReLU(name=f"{name}_relu")(x) if relu else x

    x = conv(x, width, 9, "in")
    x = conv(x, 2 * width, 3, "down1", stride=2)
    x = conv(x, 4 * width, 3, "down2", stride=2)
    for i in range(1, res_blocks + 1):
        y = conv(x, 4 * width, 3, f"res{i}a")
        y = conv(y, 4 * width, 3, f"res{i}b", relu=False)
        x = layers.Add(name=f"res{i}")([x, y])
    for i, filters in ((1, 2 * width), (2, width)):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}_resize")(x)
        x = conv(x, filters, 3, f"up{i}")
    x = layers.Conv2D(3, 9, padding="same", name="out", dtype="float32")(x)
    x = layers.Activation("tanh", dtype="float32", name="out_tanh")(x)
    outputs = layers.Rescaling(127.5, offset=127.5, name="to_pixels", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"stylize_w{width}_r{res_blocks}")


def to_vgg(x):
    """RGB 0-255 tensors -> VGG19's caffe space (as images.to_vgg)."""
    return tf.reverse(x, axis=[-1]) - tf.constant(images.MEAN_BGR)


class Trainer:
    """The transformation network, its Adam and the perceptual loss, with the step compiled
    over every replica of `runtime` (mlkit.deep.runtime.Runtime)."""

    def __init__(self, runtime, vgg, styles, settings, width, res_blocks, lr):
        self.runtime = runtime
        with runtime.strategy.scope():
            self.loss = losses.Perceptual(vgg, styles, settings["content_layers"], settings["style_layers"],
                                          settings["weights"], settings["gram_norm"])
            self.net = transform_net(width, res_blocks)
            optimizer = keras.optimizers.Adam(lr)
            if runtime.mixed_precision:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            self.optimizer = optimizer
            self.optimizer.build(self.net.trainable_variables)
        self._step = runtime.replicated(self._replica_step)

    def _replica_step(self, content):
        """One update on a batch of content pictures (RGB 0-255); the loss terms."""
        targets = {k: tf.stop_gradient(v) for k, v in self.loss.content_targets(to_vgg(content)).items()}
        variables = self.net.trainable_variables
        with tf.GradientTape() as tape:
            painted = tf.cast(self.net(content, training=True), tf.float32)
            terms = self.loss.terms(to_vgg(painted), targets)
            scaled = terms["loss"] * self.runtime.gradient_scale
            if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
                scaled = self.optimizer.scale_loss(scaled)
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return terms

    def step(self, batch):
        return self._step(batch)

    def steps_done(self):
        return int(self.optimizer.iterations.numpy())

    def objects(self):
        return {"network": (self.net, self.optimizer)}


def paint(net, pictures):
    """The network's output for a batch of pictures (N x H x W x 3, RGB 0-255, H and W
    multiples of 4), as float32 numpy."""
    return net(tf.convert_to_tensor(np.asarray(pictures, np.float32)), training=False).numpy().astype(np.float32)


def load(path):
    """A saved transformation network (safe mode: built-in layers and InstanceNormalization)."""
    from mlkit.deep.models import load_model

    return load_model(path, keras, {"mlkit>InstanceNormalization": InstanceNormalization})


def save(net, path):
    from mlkit.deep.models import save_model

    save_model(net, path)
