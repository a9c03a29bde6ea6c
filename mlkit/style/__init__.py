"""Neural style transfer, two ways. The optimisation mode (Gatys et al.): the image itself is
optimised so that its VGG19 features match a content picture in deep layers and the Gram
matrices of one or more style pictures in several layers. The fast mode (Johnson et al.): a
network is trained once per style with the same loss on a folder of photos, then paints any
picture in one forward pass, without VGG19.

    from mlkit.style import Settings, stylize
    result = stylize("photo.png", ["starry.jpg"], Settings(size=256, iterations=100), seed=1)
    result.image      # an mlkit Image (uint8 RGB), result.summary the final loss terms

    from mlkit.style import load_network, paint, train
    train(["photos/"], ["starry.jpg"], "runs/starry", Settings(size=256), steps_total=2000)
    painted = paint(load_network("runs/starry"), image)      # an mlkit Image
"""

from mlkit.style.fast import load_network, paint, train
from mlkit.style.settings import Settings
from mlkit.style.transfer import Result, stylize
from mlkit.style.weights import find as find_weights

__all__ = ["Result", "Settings", "find_weights", "load_network", "paint", "stylize", "train"]
