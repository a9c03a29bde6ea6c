"""Every knob of a style transfer, its default, and the checks that keep it meaningful."""

import dataclasses
import re

from mlkit.errors import UsageError
from mlkit.style.weights import LAYERS

CONTENT_LAYERS = ("block4_conv2",)
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
POOLING = ("max", "avg")
INITS = ("noise", "content", "style")
OPTIMIZERS = ("lbfgs", "adam")
GRAM_NORMS = ("hwc", "hw")  # what a Gram matrix is divided by (see mlkit.style.losses)


@dataclasses.dataclass
class Settings:
    size: int = 512  # the longest side of the output
    iterations: int = 500  # per scale
    stop_delta: float = 1e-4  # stop when the loss improves less than this (relative) per iteration
    content_weight: float = 5.0
    style_weight: float = 500.0
    tv_weight: float = 100.0
    content_layers: tuple = CONTENT_LAYERS
    style_layers: tuple = STYLE_LAYERS
    style_layer_weight_exp: float = 1.0
    style_scale: float = 1.0
    style_blend: tuple = None  # one weight per style; None: equal
    pooling: str = "max"
    init: str = "noise"
    optimizer: str = "lbfgs"
    lr: float = 10.0  # Adam's step, in 0-255 pixel units
    beta1: float = 0.9  # Adam's, library only (the benchmark's TensorFlow-tutorial recipe sets them)
    epsilon: float = 1e-8
    scales: int = 1
    preserve_colors: bool = False  # keep the content's colours, take only the luminance
    gram_norm: str = "hwc"  # divide each Gram matrix by h*w*c (neural-style) or h*w (the TensorFlow tutorial)

    def checked(self, n_styles):
        """A copy with layer names in Keras's spelling and blend weights summing to 1."""
        blend = self.style_blend or (1.0,) * n_styles
        if len(blend) != n_styles:
            raise UsageError(f"--style-blend has {len(blend)} weights for {n_styles} style(s)", "give one per --style")
        if min(blend) < 0 or sum(blend) <= 0:
            raise UsageError("--style-blend weights must be >= 0, and not all 0")
        for name, choices in (("pooling", POOLING), ("init", INITS), ("optimizer", OPTIMIZERS), ("gram_norm", GRAM_NORMS)):
            if getattr(self, name) not in choices:
                raise UsageError(f"--{name.replace('_', '-')} {getattr(self, name)!r} is not one of {', '.join(choices)}")
        if self.size / 2 ** (self.scales - 1) < 16:
            raise UsageError(f"--scales {self.scales} starts below 16 px at --size {self.size}", "use fewer scales")
        return dataclasses.replace(
            self, content_layers=layer_names(self.content_layers, "--content-layers"),
            style_layers=layer_names(self.style_layers, "--style-layers"),
            style_blend=tuple(float(b) / sum(blend) for b in blend))


def loss(settings):
    """What mlkit.style.losses.Perceptual takes from checked settings, the same in both modes."""
    from mlkit.style.losses import layer_weights

    per_layer = layer_weights(len(settings.style_layers), settings.style_layer_weight_exp)
    return {"content_layers": settings.content_layers,
            "style_layers": dict(zip(settings.style_layers, (float(w) for w in per_layer))),
            "weights": {"content": settings.content_weight, "style": settings.style_weight, "tv": settings.tv_weight},
            "gram_norm": settings.gram_norm}


def layer_names(names, option):
    """Keras's layer names from Keras's (block4_conv2) or the papers' spelling (relu4_2, conv4_2)."""
    out = []
    for name in names:
        match = re.fullmatch(r"(?:relu|conv)(\d)_(\d)", name.strip())
        keras_name = f"block{match[1]}_conv{match[2]}" if match else name.strip()
        if keras_name not in LAYERS:
            raise UsageError(f"{option}: no VGG19 layer {name!r}", f"choose from {', '.join(LAYERS)} (or relu4_2 style)")
        out.append(keras_name)
    if not out or len(set(out)) != len(out):
        raise UsageError(f"{option} needs one or more different layers")
    return tuple(out)
