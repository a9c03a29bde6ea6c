"""`stylize` as a library call: weights, pictures, the network, coarse-to-fine optimisation."""

import contextlib
import dataclasses
import os

import numpy as np

from mlkit.errors import MlkitError
from mlkit.style import images, optimize, steps
from mlkit.style import weights as vgg
from mlkit.style.settings import Settings
from mlkit.style.settings import loss as settings_loss


@dataclasses.dataclass
class Result:
    image: object  # an mlkit Image: the best picture of the last scale
    summary: dict
    interrupted: bool = False  # Ctrl-C: `image` is the best picture so far


def stylize(content, styles, settings=None, *, weights=None, seed=0, device="auto", log=None,
            checkpoint_every=0, checkpoint_dir=None, jit=False):
    """Paint `content` (a path, '-' or an mlkit Image) in the style(s) of `styles` (paths or
    Images). The weights are found and checked first: without them nothing is computed."""
    settings = (settings or Settings()).checked(len(styles))
    path = vgg.find(weights)
    layers = settings.content_layers + tuple(k for k in settings.style_layers if k not in settings.content_layers)
    arrays = vgg.read(path, vgg.LAYERS[: 1 + max(vgg.LAYERS.index(k) for k in layers)])
    content_img = _read(content)
    _picture(content_img, content)  # a volume of many slices fails here, before TensorFlow starts
    style_rgbs = [_picture(_read(s), s)[0] for s in styles]

    from mlkit.deep.loop import progress
    from mlkit.deep.runtime import Runtime

    runtime = Runtime(device=device, seed=seed, mixed_precision=False)
    from mlkit.style.model import vgg19

    run = Run(vgg19(arrays, settings.pooling, layers), settings, content_img, style_rgbs, seed, jit, checkpoint_dir)
    with _log(log) as out, progress(settings.iterations * settings.scales, 0, "stylize") as show:
        recorder = optimize.Recorder(out, show, checkpoint_every if checkpoint_dir else 0)
        best, terms, interrupted = run.coarse_to_fine(recorder)
    params = {**dataclasses.asdict(settings), "styles": [_name(s) for s in styles], "weights": os.path.basename(path)}
    picture = steps.result(run.pixels(best), content_img, steps.entry(params, seed))
    summary = {"iterations": recorder.iteration, "size": list(best.shape[:2]), **terms,
               "seconds": round(recorder.seconds(), 3), "weights": path, "device": runtime.describe()}
    return Result(picture, summary, interrupted)


class Run:
    """The network, the pictures and the settings of one transfer, scale after scale.

    content_img: the content as an mlkit Image; styles: RGB 0-255 pictures."""

    def __init__(self, net, settings, content_img, styles, seed, jit=False, checkpoint_dir=None):
        self.net, self.settings, self.styles, self.jit = net, settings, styles, jit
        self.content_img, self.checkpoint_dir = content_img, checkpoint_dir
        self.content, gray = images.rgb(content_img)
        self.gray = gray and settings.preserve_colors
        self.rng = np.random.default_rng(seed)

    def sizes(self):
        n = self.settings.scales
        return [round(self.settings.size / 2 ** (n - 1 - k)) for k in range(n)]

    def coarse_to_fine(self, recorder):
        """(best image in VGG space, its loss terms, interrupted) of the last scale reached."""
        x, terms = None, {}
        recorder.checkpoint = self.checkpoint
        for size in self.sizes():
            content = images.resize(self.content, size)
            styles = [style_at(s, size, self.settings) for s in self.styles]
            low, high = images.bounds(content.shape)
            if x is None:
                start = images.to_vgg(images.start(self.settings.init, content, styles[0], self.rng))
            else:
                start = np.clip(images.resize_to(x, content.shape), low, high)
            scale = optimize.Scale(recorder, self.settings.stop_delta)
            try:
                self.optimize(self.objective(content, styles), start, low, high, scale)
            except KeyboardInterrupt:
                if scale.best is None and x is None:
                    raise
                return (x, terms, True) if scale.best is None else (scale.best, scale.best_terms, True)
            x, terms = scale.best, scale.best_terms
        return x, terms, False

    def objective(self, content, styles):
        from mlkit.style.model import Objective

        terms = settings_loss(self.settings)
        return Objective(self.net, images.to_vgg(content), vgg_styles(styles, self.settings.style_blend),
                         terms["content_layers"], terms["style_layers"], terms["weights"], jit=self.jit,
                         gram_norm=terms["gram_norm"])

    def optimize(self, objective, start, low, high, scale):
        s = self.settings
        if s.optimizer == "lbfgs":
            optimize.lbfgs(objective, start, low, high, s.iterations, scale)
        else:
            optimize.adam(objective, start, low, high, s.iterations, scale, lr=s.lr, beta1=s.beta1, epsilon=s.epsilon)

    def pixels(self, x):
        """uint8 pixels of a VGG-space image, with the content's colours if asked."""
        picture = images.from_vgg(x)
        if self.settings.preserve_colors:
            picture = images.keep_colors(picture, self.content)
        return images.to_uint8(picture, self.gray)

    def checkpoint(self, iteration, x):
        name = f"iter-{iteration:06d}"
        steps.write([steps.result(self.pixels(x), self.content_img, steps.entry({"iteration": iteration}, None))],
                    os.path.join(self.checkpoint_dir, name + ".png"))


def style_at(picture, size, settings):
    """A style picture (RGB 0-255) at --style-scale times the output's longest side."""
    return images.resize(picture, max(16, round(size * settings.style_scale)))


def vgg_styles(pictures, blend):
    """(VGG-space picture, blend weight) per style; a style of weight 0 costs nothing."""
    return [(images.to_vgg(p), b) for p, b in zip(pictures, blend) if b > 0]


def _read(source):
    """The one image in a path or '-'; an Image is taken as it is."""
    from mlkit.io.read import read_images

    if not isinstance(source, (str, os.PathLike)):
        return source
    try:
        found = list(read_images(str(source)))
    except MlkitError as exc:
        raise type(exc)(f"{source}: {exc.message}", exc.hint) from None
    if len(found) != 1:
        raise MlkitError(f"{source}: holds {len(found)} images, expected one", "give one picture")
    return found[0]


def _picture(img, source):
    try:
        return images.rgb(img)
    except MlkitError as exc:
        raise MlkitError(f"{_name(source)}: {exc.message}", exc.hint) from None


def _name(source):
    return str(source) if isinstance(source, (str, os.PathLike)) else source.name


@contextlib.contextmanager
def _log(path):
    """--log FILE.jsonl: one line per iteration, in a temporary file that replaces FILE only
    when the run ends with a picture (an existing log survives a failed run)."""
    if not path:
        yield None
        return
    import io

    from mlkit.io.write import atomic_write

    with atomic_write(path) as raw:
        out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
        yield out
        out.detach()  # atomic_write closes the file itself
