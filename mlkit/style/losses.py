"""Gatys et al.'s losses, shared by both modes of `mlkit stylize` (the picture optimised, and
the network trained), normalised as in the neural-style tools whose default weights mlkit
keeps (content 5, style 500, TV 100): each term is a mean of squares, so the weights do not
depend on the image size.

content = mean over content layers of mean((F - P)^2)
style   = sum over styles (blend weight) of sum over layers (layer weight) of mean((G - A)^2),
          G = F^T F / (h w c) (gram_norm "hwc", as Athalye's neural-style) or F^T F / (h w)
          ("hw", as the TensorFlow tutorial), the Gram matrix of a layer's features
tv      = mean of squared vertical differences + mean of squared horizontal differences

With "hw", a layer's Gram matrix is c times larger, so its style term is c^2 times larger:
4096x for block1_conv1 (c = 64), 262144x for block4/5 (c = 512). The deep layers then carry
most of the style loss, where with "hwc" the shallow ones do; lower --style-weight accordingly.

Every function takes a batch (B x h x w x c): the optimised picture is a batch of one, the
network's training batch holds several pictures, each with its own Gram matrix.
"""

import numpy as np

from mlkit.deep.runtime import import_tf

GRAM_NORMS = ("hwc", "hw")


def layer_weights(n, exp):
    """Weights of n style layers with weight(n+1) = exp * weight(n), normalised to sum 1."""
    w = float(exp) ** np.arange(n, dtype=np.float64)
    return w / w.sum()


def gram(features, norm="hwc"):
    """The Gram matrix of each image's features (B x h x w x c -> B x c x c), divided by
    h w c ("hwc") or h w ("hw")."""
    tf, _ = import_tf()
    shape = tf.shape(features)
    flat = tf.reshape(features, (shape[0], -1, shape[3]))
    size = tf.cast(tf.shape(flat)[1] * (shape[3] if norm == "hwc" else 1), features.dtype)
    return tf.matmul(flat, flat, transpose_a=True) / size


def mean_square(a, b):
    tf, _ = import_tf()
    return tf.reduce_mean(tf.square(a - b))


def content(features, targets):
    """Mean over the content layers; `features` and `targets` are {layer: tensor}."""
    return sum(mean_square(features[k], t) for k, t in targets.items()) / len(targets)


def style(features, grams, weights, norm="hwc"):
    """`grams`: one {layer: Gram matrix (1 x c x c)} per style; `weights`: (blend, {layer: weight})
    per style. A batch's term is the mean of its pictures' terms."""
    total = 0.0
    for target, (blend, per_layer) in zip(grams, weights):
        total += blend * sum(w * mean_square(gram(features[k], norm), target[k]) for k, w in per_layer.items())
    return total


def total_variation(image):
    return mean_square(image[:, 1:], image[:, :-1]) + mean_square(image[:, :, 1:], image[:, :, :-1])


class Perceptual:
    """The weighted loss of a batch of pictures (in VGG19's caffe space) against fixed targets.

    net: VGG19 up to the deepest layer used ({layer: features}); styles: one (picture, blend)
    per style; weights: {"content", "style", "tv"}; style_layers: {layer: weight}. The styles'
    Gram matrices are computed once, here; the content targets are given with each batch
    (the optimised picture has one, fixed; a training batch its own)."""

    def __init__(self, net, styles, content_layers, style_layers, weights, gram_norm="hwc"):
        tf, _ = import_tf()
        self.net, self.content_layers, self.gram_norm = net, tuple(content_layers), gram_norm
        self.weights = {k: tf.constant(float(v)) for k, v in weights.items()}
        self.grams, self.style_weights = [], []
        for image, blend in styles:
            features = net(tf.convert_to_tensor(np.asarray(image, np.float32)[None]))
            self.grams.append({k: tf.constant(gram(features[k], gram_norm)) for k in style_layers})
            self.style_weights.append((float(blend), dict(style_layers)))

    def content_targets(self, content):
        """{layer: features} of a batch of content pictures."""
        features = self.net(content)
        return {k: features[k] for k in self.content_layers}

    def terms(self, image, content_targets):
        """{"loss", "content_loss", "style_loss", "tv_loss"} of a batch of pictures."""
        features = self.net(image)
        c = self.weights["content"] * content(features, content_targets)
        s = self.weights["style"] * style(features, self.grams, self.style_weights, self.gram_norm)
        t = self.weights["tv"] * total_variation(image)
        return {"loss": c + s + t, "content_loss": c, "style_loss": s, "tv_loss": t}
