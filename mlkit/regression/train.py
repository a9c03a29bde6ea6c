"""Training the regress MLP on mlkit.deep: the quiet runtime, the training loop (progress on
stderr, a loud stop on a non-finite loss) and, with a checkpoint folder, checkpoints with the
optimizer state, metrics.jsonl and automatic resume. One loop step is one epoch."""

import numpy as np

from mlkit.errors import MlkitError
from mlkit.regression import model as keras_model
from mlkit.regression.formats import keras_name
from mlkit.regression.linear import Schedule
from mlkit.regression.mlp import ACTIVATIONS, MlpFit, disconnected, network_of, sparsity

KIND = "regress-mlp"
CHECKPOINT_EVERY = 50  # epochs
RESUME_KEYS = ("x_cols", "y_col", "rows", "hidden", "activation", "penalty", "alpha", "optimizer", "lr", "batch_size",
               "shuffle", "seed")  # all but the number of epochs, which a resumed run may raise


def fit_mlp(X, y, x_cols, y_col, hidden=(10, 10, 10), activation="relu", penalty="l2", alpha=1e-4, schedule=None,
            device="auto", checkpoint_dir=None, checkpoint_every=CHECKPOINT_EVERY):
    """Train a Keras MLP on (X, y); inputs and target are standardised inside the network.
    With `checkpoint_dir` the run checkpoints there every `checkpoint_every` epochs and on
    Ctrl-C, and the same call continues from the latest checkpoint."""
    from mlkit.deep.runtime import Runtime

    schedule = schedule or Schedule(optimizer="adam", epochs=300)
    if activation not in ACTIVATIONS:
        raise MlkitError(f"unknown activation {activation!r}", f"choose from {', '.join(ACTIVATIONS)}")
    scale = _scale(X, y)
    config = {"x_cols": list(x_cols), "y_col": y_col, "rows": int(len(y)), "hidden": list(hidden), "activation": activation,
              "penalty": penalty, "alpha": alpha, "optimizer": schedule.optimizer, "lr": schedule.lr,
              "batch_size": schedule.batch_size, "shuffle": schedule.shuffle, "seed": schedule.seed, "epochs": schedule.epochs}
    run = _run_dir(checkpoint_dir, config)
    runtime = Runtime(device=device, seed=schedule.seed, mixed_precision=False)  # float16 would blur a regression
    trainer, net = keras_model.build(runtime.keras, scale, hidden, activation, penalty, alpha, keras_name(x_cols, y_col))
    opt = keras_model.optimizer(runtime.keras, schedule)
    opt.build(trainer.trainable_variables)
    epoch, loss = keras_model.epochs(runtime.tf, trainer, opt, X, (y - scale[2]) / scale[3], schedule)
    done = _train(run, {"mlp": (net, opt)}, epoch, schedule.epochs, checkpoint_every)
    network = network_of(net)
    details = {"final_loss": loss(), "epochs_run": done, "penalty": penalty, "alpha": alpha, "hidden": list(hidden),
               "activation": activation, "sparsity": sparsity(network["layers"]),
               "disconnected_neurons": disconnected(network["layers"]), "network": network}
    return MlpFit("mlp", x_cols, y_col, np.zeros(0), 0.0, len(y), details, model=net)


def _scale(X, y):
    x_mean, x_std = X.mean(axis=0), X.std(axis=0)
    if (x_std == 0).any():
        raise MlkitError("a feature column is constant", "drop it with --x")
    return x_mean, x_std, float(y.mean()), float(y.std()) or 1.0


def _run_dir(path, config):
    if path is None:
        return None
    from mlkit.deep.checkpoint import RunDir, check_resumable

    run = RunDir(path, KIND, config, must_match=RESUME_KEYS)
    check_resumable(path)  # a damaged metrics.jsonl is refused before TensorFlow builds the network
    return run


def check_run_folder(path):
    """What resuming in `path` would refuse (a file, links, other files, a run of another kind,
    a damaged run.json or metrics.jsonl), said before the rows load and TensorFlow starts."""
    from mlkit.deep import checkpoint

    if checkpoint.check_folder(path, KIND) is not None:
        checkpoint.check_resumable(path)


def _train(run, objects, epoch, epochs, every):
    """Epochs from the latest checkpoint (or 0) to `epochs` through deep's Loop; the epoch count."""
    from mlkit.deep.loop import Loop

    state = run.restore(objects) if run else None
    start = min(state["step"], epochs) if state else 0
    metrics = run.metrics(start) if run else _Discard()
    save = (lambda step: run.save(step, objects)) if run else (lambda step: None)
    try:
        return Loop(total=epochs, save=save, metrics=metrics, checkpoint_every=every, label="regress mlp",
                    steps_per_epoch=1).run(epoch, iter(range(start, epochs)), start=start)
    finally:
        metrics.close()


def stored_seed(checkpoint_dir):
    """The seed a regress MLP run in `checkpoint_dir` was started with, or None."""
    import os

    from mlkit.deep.checkpoint import RUN_FILE, check_tree
    from mlkit.errors import MlkitError
    from mlkit.io import jsonfile

    path = os.path.join(checkpoint_dir, RUN_FILE)
    if not os.path.isfile(path):
        return None
    check_tree(checkpoint_dir)  # a run.json that is a link is refused, not read
    try:
        stored = jsonfile.read(path)
    except MlkitError:
        return None  # RunDir says what is wrong with it
    config = stored.get("config") if isinstance(stored, dict) and stored.get("kind") == KIND else None
    seed = config.get("seed") if isinstance(config, dict) else None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else None


class _Discard:
    """metrics.jsonl when there is no checkpoint folder: nowhere."""

    def write(self, record):
        pass

    def close(self):
        pass
