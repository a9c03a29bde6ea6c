"""Gatys et al.'s losses, normalised as in the neural-style tools whose default weights mlkit
keeps (content 5, style 500, TV 100): each term is a mean of squares, so the weights do not
depend on the image size.

content = mean over content layers of mean((F - P)^2)
style   = sum over styles (blend weight) of sum over layers (layer weight) of mean((G - A)^2),
          G = F^T F / (h w c), the Gram matrix of a layer's features
tv      = mean of squared vertical differences + mean of squared horizontal differences
"""

import numpy as np

from mlkit.deep.runtime import import_tf


def layer_weights(n, exp):
    """Weights of n style layers with weight(n+1) = exp * weight(n), normalised to sum 1."""
    w = float(exp) ** np.arange(n, dtype=np.float64)
    return w / w.sum()


def gram(features):
    """The Gram matrix of one image's features (1 x h x w x c -> c x c), divided by h w c."""
    tf, _ = import_tf()
    c = tf.shape(features)[-1]
    flat = tf.reshape(features, (-1, c))
    size = tf.cast(tf.size(flat), features.dtype)
    return tf.matmul(flat, flat, transpose_a=True) / size


def mean_square(a, b):
    tf, _ = import_tf()
    return tf.reduce_mean(tf.square(a - b))


def content(features, targets):
    """Mean over the content layers; `features` and `targets` are {layer: tensor}."""
    return sum(mean_square(features[k], t) for k, t in targets.items()) / len(targets)


def style(features, grams, weights):
    """`grams`: one {layer: Gram matrix} per style; `weights`: (blend, {layer: weight}) per style."""
    total = 0.0
    for target, (blend, per_layer) in zip(grams, weights):
        total += blend * sum(w * mean_square(gram(features[k]), target[k]) for k, w in per_layer.items())
    return total


def total_variation(image):
    return mean_square(image[:, 1:], image[:, :-1]) + mean_square(image[:, :, 1:], image[:, :, :-1])
