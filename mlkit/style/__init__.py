"""Gatys et al.'s neural style transfer: the image itself is optimised so that its VGG19
features match a content picture in deep layers and the Gram matrices of one or more style
pictures in several layers.

    from mlkit.style import Settings, stylize
    result = stylize("photo.png", ["starry.jpg"], Settings(size=256, iterations=100), seed=1)
    result.image      # an mlkit Image (uint8 RGB), result.summary the final loss terms
"""

from mlkit.style.settings import Settings
from mlkit.style.transfer import Result, stylize
from mlkit.style.weights import find as find_weights

__all__ = ["Result", "Settings", "find_weights", "stylize"]
