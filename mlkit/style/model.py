"""VGG19 as a feature extractor, and the one compiled step that gives every loss term and the
gradient with respect to the image. The only module of mlkit/style that imports TensorFlow.

The network takes images as VGG19 was trained on them ("caffe" preprocessing: BGR, 0-255, the
ImageNet mean subtracted); it stops at the deepest layer a loss uses, so the layers after it
cost nothing. Average pooling swaps the max-pool layers for average-pool ones; the
convolutions and their weights are the same.
"""

import keras
import numpy as np
import tensorflow as tf

from mlkit.style import losses
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
    style_layers: {layer: weight}."""

    def __init__(self, net, content, styles, content_layers, style_layers, weights, jit=False):
        self.net, self.weights = net, {k: tf.constant(float(v)) for k, v in weights.items()}
        features = net(_batch(content))
        self.content_targets = {k: tf.constant(features[k]) for k in content_layers}
        self.grams, self.style_weights = [], []
        for image, blend in styles:
            features = net(_batch(image))
            self.grams.append({k: tf.constant(losses.gram(features[k])) for k in style_layers})
            self.style_weights.append((float(blend), dict(style_layers)))
        self._step = tf.function(self._terms_and_gradient, jit_compile=jit, reduce_retracing=True)

    def terms(self, image):
        """{"loss", "content_loss", "style_loss", "tv_loss"} of a batch of one image tensor."""
        features = self.net(image)
        c = self.weights["content"] * losses.content(features, self.content_targets)
        s = self.weights["style"] * losses.style(features, self.grams, self.style_weights)
        t = self.weights["tv"] * losses.total_variation(image)
        return {"loss": c + s + t, "content_loss": c, "style_loss": s, "tv_loss": t}

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
