"""deep/: the foundation of the TensorFlow commands, on CPU with tiny models and few steps."""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from mlkit.errors import MlkitError

import tensorflow as tf  # noqa: E402  (a declared dependency: a missing one must fail, not skip)


@pytest.fixture(scope="module")
def runtime():
    from mlkit.deep.runtime import Runtime

    return Runtime(device="cpu", seed=3)


def _model(keras):
    return keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(4, activation="tanh"),
                             keras.layers.Dense(1)])


def _trainer(runtime, path, images, total, every=5, start_model=None):
    """A tiny regression run through RunDir + Loop, as a deep command wires it."""
    from mlkit.deep import checkpoint, data, loop

    keras = runtime.keras
    keras.utils.set_random_seed(3)
    model, optimizer = _model(keras), keras.optimizers.Adam(1e-2)
    optimizer.build(model.trainable_variables)
    run = checkpoint.RunDir(str(path), "toy", {"size": 6, "steps": total}, must_match=("size",))
    objects = {"model": (model, optimizer)}
    state = run.restore(objects)
    start = state["step"] if state else 0
    target = tf.constant(images.mean(axis=(1, 2, 3))[:, None] * 0 + 0.5)

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(batch) - target[:4]) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return {"loss": loss}

    runner = loop.Loop(total=total, save=lambda s: run.save(s, objects), metrics=run.metrics(start), checkpoint_every=every)
    done = runner.run(step, data.batches(tf, images, 4, seed=11, start_step=start), start=start)
    return run, model, optimizer, done, runner


@pytest.fixture
def images():
    return np.random.default_rng(0).random((10, 6, 6, 1), dtype=np.float32)


def test_tensorflow_starts_quietly():
    code = "from mlkit.deep.runtime import Runtime; Runtime(device='cpu'); print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == "ok"
    assert proc.stderr == ""  # no oneDNN notice, no 'could not find cuda drivers', no absl preamble


def test_gpu_without_a_gpu_is_one_clear_error(runtime):
    from mlkit.deep.runtime import Runtime

    if runtime.tf.config.list_physical_devices("GPU"):
        assert Runtime(device="gpu").gpus
    else:
        with pytest.raises(MlkitError, match="sees no GPU"):
            Runtime(device="gpu")


def test_checkpoints_metrics_and_exact_resume(runtime, images, tmp_path):
    straight, model_a, _, done, _ = _trainer(runtime, tmp_path / "a", images, total=12)
    assert done == 12
    assert [os.path.basename(p) for p in straight.checkpoints()] == ["ckpt-00000005", "ckpt-00000010", "ckpt-00000012"]
    lines = [json.loads(x) for x in open(tmp_path / "a" / "metrics.jsonl")]
    assert [r["step"] for r in lines] == list(range(1, 13)) and all(np.isfinite(r["loss"]) for r in lines)

    # Stop at 7 (checkpoint at 5 and 7), then the same command resumes to 12.
    _trainer(runtime, tmp_path / "b", images, total=7)
    run, model_b, optimizer_b, done, _ = _trainer(runtime, tmp_path / "b", images, total=12)
    assert done == 12
    assert [json.loads(x)["step"] for x in open(tmp_path / "b" / "metrics.jsonl")] == list(range(1, 13))
    for a, b in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # same weights, optimizer state and data order


def test_restore_gives_back_the_checkpointed_weights_and_optimizer(runtime, images, tmp_path):
    run, model, optimizer, _, _ = _trainer(runtime, tmp_path / "r", images, total=5)
    fresh, fresh_opt = _model(runtime.keras), runtime.keras.optimizers.Adam(1e-2)
    state = run.restore({"model": (fresh, fresh_opt)})
    assert state["step"] == 5
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(optimizer.variables, fresh_opt.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_ctrl_c_writes_a_checkpoint_then_goes_on_up(runtime, tmp_path):
    from mlkit.deep import checkpoint, loop

    saved = []

    def step(batch):
        if batch == 7:
            raise KeyboardInterrupt
        return {"loss": 1.0 / batch}

    run = checkpoint.RunDir(str(tmp_path / "c"), "toy", {})
    runner = loop.Loop(total=100, save=saved.append, metrics=run.metrics(0), checkpoint_every=50)
    with pytest.raises(KeyboardInterrupt):
        runner.run(step, iter(range(1, 100)))
    assert saved == [6]


def test_a_non_finite_loss_stops_loudly(tmp_path):
    from mlkit.deep import checkpoint, loop

    run = checkpoint.RunDir(str(tmp_path / "n"), "toy", {})
    runner = loop.Loop(total=10, save=lambda s: None, metrics=run.metrics(0))
    with pytest.raises(MlkitError, match="diverged at step 3: loss is nan"):
        runner.run(lambda b: {"loss": float("nan") if b == 3 else 1.0}, iter(range(1, 11)))


def test_run_folder_refuses_foreign_and_incompatible_runs(tmp_path):
    from mlkit.deep.checkpoint import RunDir

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "me.jpg").write_bytes(b"x")
    with pytest.raises(MlkitError, match="holds other files"):
        RunDir(str(tmp_path / "photos"), "gan", {})
    RunDir(str(tmp_path / "run"), "gan", {"image_size": 16})
    with pytest.raises(MlkitError, match="started with image_size=16, not 32"):
        RunDir(str(tmp_path / "run"), "gan", {"image_size": 32}, must_match=("image_size",))
    with pytest.raises(MlkitError, match="another kind"):
        RunDir(str(tmp_path / "run"), "compress", {})


def test_model_files_are_atomic_safe_and_checked(runtime, tmp_path):
    from mlkit.deep.models import fingerprint, load_model, save_model

    keras = runtime.keras
    model = _model(keras)
    path = str(tmp_path / "m.keras")
    old_mask = os.umask(0o022)
    try:
        save_model(model, path)
    finally:
        os.umask(old_mask)
    assert os.listdir(tmp_path) == ["m.keras"]
    assert os.stat(path).st_mode & 0o777 == 0o644  # the umask, as every other output (not mkstemp's 0600)
    loaded = load_model(path, keras)
    assert fingerprint(loaded) == fingerprint(model)
    assert fingerprint(_model(keras)) != fingerprint(model)

    (tmp_path / "text.keras").write_text("not a model")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as z:
        z.writestr("notes.txt", "hello")
    lam = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x * 2)])
    save_model(lam, str(tmp_path / "lambda.keras"))
    for name, words in [("text.keras", "not a Keras model file"), ("empty.keras", "no config.json"),
                        ("lambda.keras", "not a model mlkit can load"), ("missing.keras", "no such model file")]:
        with pytest.raises(MlkitError, match=words):
            load_model(str(tmp_path / name), keras)


def test_image_sets_from_volume_slices_and_photos(nib_data, tmp_path):
    import cv2
    import nibabel as nib
    import skimage.data

    from mlkit.deep.data import load_image_set

    anatomical = os.path.join(nib_data, "anatomical.nii")
    volume = np.asanyarray(nib.load(anatomical).dataobj)
    expected = sum(np.ptp(volume[:, :, k]) > 0 for k in range(volume.shape[2]))
    images, names = load_image_set([anatomical], (16, 16), slice_axis=2)
    assert images.shape == (expected, 16, 16, 1) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1 and images.max() > 0.9

    folder = tmp_path / "photos" / "sub"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "astronaut.png"), skimage.data.astronaut()[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "photos" / "camera.png"), skimage.data.camera())
    (tmp_path / "photos" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    photos, names = load_image_set([str(tmp_path / "photos")], (8, 8))
    assert photos.shape == (2, 8, 8, 3)  # the broken one skipped with a warning; colour wins
    camera = cv2.resize(skimage.data.camera().astype(np.float32) / 255, (8, 8), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(photos[names.index(str(tmp_path / "photos" / "camera.png")), :, :, 0], camera, atol=1e-6)


def test_batches_resume_in_the_same_order(runtime, images):
    from mlkit.deep.data import batches

    tf = runtime.tf
    straight = [b.numpy() for _, b in zip(range(8), batches(tf, images, 4, seed=5))]
    resumed = [b.numpy() for _, b in zip(range(3), batches(tf, images, 4, seed=5, start_step=5))]
    for a, b in zip(straight[5:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(straight[0], [b.numpy() for _, b in zip(range(1), batches(tf, images, 4, seed=6))][0])


REPLICA_RUN = """
import sys
import numpy as np
from mlkit.deep import data
from mlkit.deep.runtime import Runtime
rt = Runtime(device="cpu", seed=3, cpu_replicas=int(sys.argv[1]))
tf, keras = rt.tf, rt.keras
images = np.random.default_rng(0).random((16, 6, 6, 1), dtype=np.float32)
with rt.strategy.scope():
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(model.trainable_variables)
def step(batch):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(batch) - tf.reduce_mean(batch, axis=[1, 2, 3])[:, None]) ** 2)
        scaled = loss * rt.gradient_scale
    optimizer.apply_gradients(zip(tape.gradient(scaled, model.trainable_variables), model.trainable_variables))
    return {"loss": loss}
run = rt.replicated(step)
for _, batch in zip(range(5), rt.distribute(data.batches(tf, images, 8, seed=1))):
    loss = float(run(batch)["loss"])
print(rt.replicas, loss, *np.concatenate([w.ravel() for w in model.get_weights()]))
"""


def test_a_step_over_two_replicas_equals_one_device():
    """The multi-GPU code path (MirroredStrategy, a replicated step, scaled gradients), on two
    logical CPUs: the same weights as one device."""
    runs = []
    for replicas in (1, 2):
        proc = subprocess.run([sys.executable, "-c", REPLICA_RUN, str(replicas)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append([float(v) for v in proc.stdout.split()])
    assert [r[0] for r in runs] == [1, 2]
    np.testing.assert_allclose(runs[1][1:], runs[0][1:], rtol=1e-5, atol=1e-6)


# --- declared sizes and the user's home (issue 25) ---------------------------------------------


def _declared(model, path):
    from mlkit.deep.models import declared_parameters, save_model

    save_model(model, str(path))
    with zipfile.ZipFile(path) as archive:
        return declared_parameters(json.loads(archive.read("config.json")))


def test_declared_parameters_count_what_keras_builds(runtime, tmp_path):
    """The count made from config.json alone (before a model file is built) against Keras's
    own: exact without batch norm; with it, short only by batch norm's 4 numbers a channel."""
    from mlkit.compress.model import build
    from mlkit.gan.config import parameters, settings
    from mlkit.gan.model import discriminator, generator

    keras = runtime.keras
    for model in (_model(keras), build("conv", (16, 16), 1, 8), build("dense", (12, 12), 3, 6)):
        assert _declared(model, tmp_path / f"{model.name}.keras") == model.count_params()
    config = settings(image_size=32, channels=1, z_dim=10, gf_dim=8, df_dim=8)
    g, d = generator(32, 1, 10, 8), discriminator(32, 1, 8)
    norms = sum(v.shape[0] for m in (g, d) for layer in m.layers if "batch_norm" in layer.name for v in layer.weights)
    built = g.count_params() + d.count_params()
    assert _declared(g, tmp_path / "g.keras") + _declared(d, tmp_path / "d.keras") == built - norms
    biases = sum(int(layer.bias.shape[0]) for m in (g, d) for layer in m.layers if getattr(layer, "bias", None) is not None)
    assert parameters(config) == built - norms - biases  # gan.config's count: the kernels alone


def test_keras_leaves_the_users_home_alone(tmp_path):
    code = ("from mlkit.deep.runtime import import_tf; import_tf()\n"
            "from mlkit.style.weights import cache_dir; print(cache_dir())")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_HOME"}
    env.update(HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path / "tmp"))
    os.makedirs(env["HOME"])
    os.makedirs(env["TMPDIR"])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == os.path.join(env["HOME"], ".keras", "models")  # VGG19's cache is still the user's
    assert not os.path.exists(os.path.join(env["HOME"], ".keras"))  # no keras.json written there
    assert os.listdir(env["TMPDIR"]) == []  # Keras's private home went at exit


HOLD_KERAS_HOME = """
import sys, time
from mlkit.deep.runtime import import_tf
import os
import_tf()
print(os.environ["KERAS_HOME"], flush=True)
time.sleep(300)
"""


def test_a_killed_commands_keras_home_is_swept_by_the_next(tmp_path):
    """SIGKILL leaves the private Keras home behind (no atexit runs); the next command removes
    it, and leaves alone a live process's home, a link and (as root) another user's folder."""
    import signal

    from mlkit.deep import runtime as runtime_module

    env = {k: v for k, v in os.environ.items() if k != "KERAS_HOME"}
    env["TMPDIR"] = tmp = str(tmp_path / "tmp")
    os.makedirs(tmp)
    held = subprocess.Popen([sys.executable, "-c", HOLD_KERAS_HOME], stdout=subprocess.PIPE, text=True, env=env)
    try:
        home = held.stdout.readline().strip()
    finally:
        held.send_signal(signal.SIGKILL)
        held.wait(timeout=60)
    space = runtime_module._pid_space()
    assert os.path.dirname(home) == tmp and os.path.basename(home).startswith(f"mlkit-keras-{held.pid}-{space}-")
    assert os.path.isfile(os.path.join(home, "keras.json"))  # Keras wrote there; nothing removed it
    target = tmp_path / "target"
    target.mkdir()
    (target / "kept.txt").write_text("a link's target is never entered\n")
    os.symlink(target, os.path.join(tmp, f"mlkit-keras-{held.pid}-{space}-link"))
    os.mkdir(os.path.join(tmp, f"mlkit-keras-{os.getpid()}-{space}-live"))  # this pytest process: alive
    kept = {f"mlkit-keras-{held.pid}-{space}-link", f"mlkit-keras-{os.getpid()}-{space}-live"}
    if os.getuid() == 0:  # only root can make a folder of another user's
        other = os.path.join(tmp, f"mlkit-keras-{held.pid}-{space}-other")
        os.mkdir(other)
        os.chown(other, 65534, 65534)
        kept.add(os.path.basename(other))
    proc = subprocess.run([sys.executable, "-c", "from mlkit.deep.runtime import import_tf; import_tf()"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert set(os.listdir(tmp)) == kept  # the killed home went, and the second run's own at its exit
    assert (target / "kept.txt").exists()


def test_the_sweep_leaves_homes_made_on_another_host_or_container(tmp_path):
    """A TMPDIR shared by cluster nodes or containers holds homes whose pid this process cannot
    see although it lives: only homes made in this pid space (host and pid namespace) are swept.
    A link inside a swept home is removed, its target left alone."""
    from mlkit.deep import runtime

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid, space = int(gone.stdout), runtime._pid_space()
    assert len(space) == 8 and space == runtime._pid_space()
    elsewhere = "0" * 8 if space != "0" * 8 else "1" * 8
    here, there = tmp_path / f"mlkit-keras-{pid}-{space}-abcd1234", tmp_path / f"mlkit-keras-{pid}-{elsewhere}-abcd1234"
    old = tmp_path / f"mlkit-keras-{pid}-abcd1234"  # no pid space: whose pid it is cannot be told
    target = tmp_path / "target"
    for folder in (here, there, old, target):
        folder.mkdir()
    (target / "kept.txt").write_text("a link's target is never entered\n")
    os.symlink(target, here / "link")
    runtime._sweep_private_homes(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted([there.name, old.name, "target"])
    assert (target / "kept.txt").exists()
