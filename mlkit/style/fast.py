"""The fast mode as library calls: `train` a transformation network on a folder of photos
with the perceptual loss of the optimisation mode, then `paint` any picture with one forward
pass (the network is a safe .keras file; VGG19 is needed only for training).

    from mlkit.style import Settings, train, load_network, paint
    summary = train(["photos/"], ["starry.jpg"], "runs/starry", Settings(size=256), steps_total=2000)
    network = load_network("runs/starry")
    painted = paint(network, read_image("photo.jpg"))    # an mlkit Image, uint8
"""

import dataclasses
import math
import os

import numpy as np

from mlkit import ui
from mlkit.errors import MlkitError, UsageError
from mlkit.style import images, steps
from mlkit.style import weights as vgg
from mlkit.style.settings import Settings
from mlkit.style.settings import loss as settings_loss

KIND = "stylize"
MODEL = "model.keras"  # the latest network, written with every checkpoint
SAMPLES = "samples"
STRIDE = 4  # the network's two stride-2 convolutions: sides must be multiples of this
NETWORK = {"width": 32, "res_blocks": 5}  # Johnson et al.'s
# A resumed run may change the rate, the length and the cadences, not what the weights, the
# loss or the data order depend on.
MUST_MATCH = ("width", "res_blocks", "size", "batch_size", "seed", "photos", "styles", "style_blend",
              "content_weight", "style_weight", "tv_weight", "content_layers", "style_layers",
              "style_layer_weight_exp", "style_scale", "pooling", "gram_norm")
LOSS_KEYS = ("style_blend", "content_weight", "style_weight", "tv_weight", "content_layers", "style_layers",
             "style_layer_weight_exp", "style_scale", "pooling", "gram_norm", "preserve_colors")


@dataclasses.dataclass
class Network:
    """A loaded transformation network and how it paints."""

    model: object
    path: str
    preserve_colors: bool = False  # the run's --preserve-colors
    fingerprint: str = ""


def train(photos, styles, checkpoint_dir, settings=None, *, steps_total=None, epochs=2.0, batch_size=4, lr=1e-3,
          width=32, res_blocks=5, seed=None, drawn_seed=0, weights=None, device="auto", checkpoint_every=500,
          sample_every=500, logdir=None, cpu_replicas=1):
    """Train (or resume) the network of `checkpoint_dir` on `photos` (files, folders, globs)
    to paint in the style(s) of `styles`; a summary dict (and the trainer under "trainer").

    settings: the loss knobs of the optimisation mode (size is the training crop's side);
    seed: the --seed given, or None to keep a resumed run's own (a new run takes drawn_seed);
    steps_total: train until this global step, else `epochs` passes over the photos."""
    from mlkit.deep import loop
    from mlkit.deep.runtime import Runtime
    from mlkit.style import model

    settings = (settings or Settings(size=256)).checked(len(styles))
    if settings.size % STRIDE:
        raise UsageError(f"--size {settings.size} is not a multiple of {STRIDE}", f"use {settings.size // STRIDE * STRIDE}")
    _check_tensorboard(logdir)
    path = vgg.find(weights)
    style_rgbs = _style_pictures(styles)  # a bad style fails before the run folder is made
    network = {"width": int(width), "res_blocks": int(res_blocks), "batch_size": int(batch_size), "lr": float(lr)}
    run, photos = _open_run(checkpoint_dir, photos, styles, settings, network, seed, drawn_seed)
    config = run.config
    runtime = Runtime(device=device, seed=config["seed"], cpu_replicas=cpu_replicas)
    if config["batch_size"] % runtime.replicas:
        raise UsageError(f"--batch-size {config['batch_size']} does not split over {runtime.replicas} replicas",
                         f"use a multiple of {runtime.replicas}")
    trainer = _trainer(runtime, settings, config, path, style_rgbs)
    state = run.restore(trainer.objects())
    _set_rate(trainer.optimizer, config["lr"])
    start = state["step"] if state else 0
    per_epoch = len(photos) / config["batch_size"]
    total = steps_total if steps_total is not None else max(1, math.ceil(epochs * per_epoch))
    if start:
        ui.info(f"resuming {checkpoint_dir} at step {start}")
    photos.batch(start)  # unreadable photos are reported now, not inside TensorFlow's reader
    batches = runtime.distribute(_dataset(runtime.tf, photos, start, max(total, start)))
    sampler = Sampler(trainer.net, photos, config, checkpoint_dir)
    metrics = run.metrics(start)

    def save(done):
        run.save(trainer.steps_done(), trainer.objects())
        model.save(trainer.net, os.path.join(checkpoint_dir, MODEL))

    runner = loop.Loop(total=total, save=save, metrics=metrics, checkpoint_every=checkpoint_every,
                       every={sample_every: sampler}, summary=loop.tensorboard(runtime.tf, logdir),
                       label="stylize train", steps_per_epoch=per_epoch)
    try:
        done = runner.run(trainer.step, batches, start=start)
    finally:
        metrics.close()
    if done > start and done % sample_every:
        sampler(done, None)
    return {"checkpoint_dir": checkpoint_dir, "started_at": start, "step": done, "photos": len(photos),
            "epochs": round(done / per_epoch, 3), "model": os.path.join(checkpoint_dir, MODEL),
            "latest": run.latest(), "samples": sampler.last, "device": runtime.describe(), "trainer": trainer}


def _open_run(checkpoint_dir, specs, styles, settings, network, seed, drawn_seed):
    """(the run folder, created or checked against the stored run, and its photos)."""
    from mlkit.deep import checkpoint
    from mlkit.style.photos import Photos
    from mlkit.style.transfer import _name

    photos = Photos(specs, settings.size, network["batch_size"], 0)  # the list only; the seed comes with the run
    config = {**network, "size": int(settings.size), "styles": [_name(s) for s in styles], "photos": len(photos),
              **{k: _plain(getattr(settings, k)) for k in LOSS_KEYS}}
    if seed is not None:
        config["seed"] = int(seed)
    run = checkpoint.RunDir(checkpoint_dir, KIND, config, must_match=MUST_MATCH, defaults={"seed": int(drawn_seed)})
    photos.seed = int(run.config["seed"])
    return run, photos


def _style_pictures(styles):
    from mlkit.style.transfer import _picture, _read

    return [_picture(_read(s), s)[0] for s in styles]


def _trainer(runtime, settings, config, path, style_rgbs):
    """VGG19 up to the deepest layer the loss uses, the styles' targets, the network."""
    from mlkit.style import model
    from mlkit.style.transfer import style_at, vgg_styles

    pictures = [style_at(s, settings.size, settings) for s in style_rgbs]
    terms = settings_loss(settings)
    layers = terms["content_layers"] + tuple(k for k in terms["style_layers"] if k not in terms["content_layers"])
    arrays = vgg.read(path, vgg.LAYERS[: 1 + max(vgg.LAYERS.index(k) for k in layers)])
    with runtime.strategy.scope():
        net = model.vgg19(arrays, settings.pooling, layers)
    return model.Trainer(runtime, net, vgg_styles(pictures, settings.style_blend), terms, config["width"],
                         config["res_blocks"], config["lr"])


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _set_rate(optimizer, rate):
    """The configured rate, also after a restore (a resumed run may change it)."""
    getattr(optimizer, "inner_optimizer", optimizer).learning_rate = float(rate)


def _dataset(tf, photos, start, total):
    """Batches start..total-1 read and cut ahead of the step, in order."""
    shape = (photos.batch_size, photos.size, photos.size, 3)
    steps = tf.data.Dataset.range(start, total)
    read = steps.map(lambda s: tf.ensure_shape(tf.numpy_function(photos.batch, [s], tf.float32), shape),
                     num_parallel_calls=2, deterministic=True)
    return read.prefetch(2)


def _check_tensorboard(logdir):
    import importlib.util

    if logdir and importlib.util.find_spec("tensorboard") is None:
        raise MlkitError("--logdir needs the tensorboard package, which is not installed",
                         "pip install tensorboard, or drop --logdir (metrics.jsonl has every step)")


class Sampler:
    """Paints the first photo (longest side --size) into CKPT/samples/step-00000500.png."""

    def __init__(self, net, photos, config, checkpoint_dir):
        self.net, self.config, self.folder, self.last = net, config, os.path.join(checkpoint_dir, SAMPLES), None
        self.picture = images.resize(photos.read(0), config["size"])

    def __call__(self, step, record):
        from mlkit.style.model import paint as forward

        pixels = painted_pixels(lambda x: forward(self.net, x), self.picture, self.config["preserve_colors"])
        entry = steps.entry({"step": int(step)}, None)
        os.makedirs(self.folder, exist_ok=True)
        self.last = steps.write([steps.picture(pixels, f"step-{step:08d}", entry)], self.folder + os.sep)[0]


# Applying a trained network.


def load_network(source):
    """The network in a run folder (its model.keras and --preserve-colors) or a .keras file."""
    from mlkit.deep.models import fingerprint
    from mlkit.style import model

    path, preserve = source, False
    if os.path.isdir(source):
        path = os.path.join(source, MODEL)
        if not os.path.isfile(path):
            raise MlkitError(f"{source}: no {MODEL} in this folder",
                             "give a run folder of mlkit stylize train that has saved a checkpoint, or a .keras file")
        preserve = _run_preserves_colors(source)
    net = model.load(path)
    if not _is_transform_net(net):
        raise MlkitError(f"{path}: not a network made by mlkit stylize train", "give the run folder or its model.keras")
    return Network(net, path, preserve, fingerprint(net))


def _run_preserves_colors(folder):
    from mlkit.deep.checkpoint import RUN_FILE, _read_json

    run_file = os.path.join(folder, RUN_FILE)
    stored = _read_json(run_file) if os.path.isfile(run_file) else {}
    if not isinstance(stored, dict) or stored.get("kind") != KIND:
        raise MlkitError(f"{folder}: not a run of mlkit stylize train", "give its run folder or a .keras file")
    value = (stored.get("config") or {}).get("preserve_colors", False)
    if not isinstance(value, bool):
        raise MlkitError(f"{run_file}: damaged: preserve_colors is {value!r}", "give a folder made by mlkit stylize train")
    return value


def _is_transform_net(net):
    inputs, outputs = getattr(net, "inputs", None) or [], getattr(net, "outputs", None) or []
    if len(inputs) != 1 or len(outputs) != 1:
        return False
    return tuple(inputs[0].shape[1:]) == (None, None, 3) and tuple(outputs[0].shape[1:]) == (None, None, 3)


def paint(network, img, preserve_colors=None, params=None):
    """`img` (an mlkit Image: a photo, a gray picture, RGBA, one 2D slice) painted by the
    network at its own size, as uint8 RGB (or gray with preserve_colors on a gray picture),
    alpha kept; its name and history, plus one entry."""
    from mlkit.style import model

    preserve = network.preserve_colors if preserve_colors is None else preserve_colors
    picture, gray = images.rgb(img)
    _check_memory(network, picture.shape)
    pixels = painted_pixels(lambda x: model.paint(network.model, x), picture, preserve, gray)
    alpha = _alpha(img)
    if alpha is not None:
        pixels = np.concatenate([pixels if pixels.ndim == 3 else pixels[..., None], alpha[..., None]], axis=2)
    entry = steps.entry({"model": os.path.basename(network.path), "fingerprint": network.fingerprint,
                         "preserve_colors": preserve, **(params or {})}, None)
    entry["command"] = "stylize apply"
    return _result(pixels, img, entry)


def _check_memory(network, shape):
    """The network's activations at full size (its first layer's filters, a few tensors of them
    alive at once) must fit the memory limit."""
    from mlkit.io import limits

    layer = next((l for l in network.model.layers if hasattr(l, "filters")), None)
    filters = int(getattr(layer, "filters", 32))
    h, w = (n + -n % STRIDE for n in shape[:2])
    limits.check(4 * h * w * filters * 4, f"painting a {shape[1]}x{shape[0]} picture")


def painted_pixels(forward, picture, preserve_colors, gray=False):
    """forward(batch) on `picture` (RGB 0-255, any size: padded by reflection to a multiple of
    the network's stride, then cropped back) as uint8."""
    h, w = picture.shape[:2]
    padded = np.pad(picture, ((0, -h % STRIDE), (0, -w % STRIDE), (0, 0)), mode="reflect" if min(h, w) > STRIDE else "edge")
    out = forward(padded[None])[0][:h, :w]
    if preserve_colors:
        out = images.keep_colors(out, picture)
    return images.to_uint8(out, gray and preserve_colors)


def _alpha(img):
    """The alpha channel (uint8) of a gray+alpha or RGBA photo, else None."""
    from mlkit.deep.data import planes

    if not img.channels or img.data.shape[-1] not in (2, 4):
        return None
    return np.rint(planes(img)[0][..., -1] * 255).astype(np.uint8)


def _result(pixels, content, entry):
    img = steps.result(pixels[..., :3] if pixels.shape[-1] == 4 else pixels, content, entry)
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        img = img.replace(data=pixels, channels=True)
    return img
