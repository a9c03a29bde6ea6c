"""TensorFlow without its start-up chatter, on the devices the user asked for.

TensorFlow's native code logs (oneDNN notices, "could not find cuda drivers") go to fd 2 before
any Python log level applies, so the import runs with fd 2 silenced unless --debug.
"""

import contextlib
import dataclasses
import importlib.util
import json
import os
import sys

from mlkit.errors import MlkitError
from mlkit.io.quiet import silenced

DEVICES = ("auto", "cpu", "gpu")
_QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


PRIVATE_HOME_ENV = "MLKIT_PRIVATE_KERAS_HOME"  # the KERAS_HOME mlkit set, as opposed to the user's
PRIVATE_HOME_PREFIX = "mlkit-keras-"  # then the pid and who sees it: /tmp/mlkit-keras-<pid>-<_pid_space>-XXXXXXXX

INSTALL_HINT = 'pip install "mlkit[deep]"'
DEEP_MODULES = ("tensorflow",)  # Keras comes with it


def require_deep(what, extra=(), hint=INSTALL_HINT):
    """Fail in one line, before any work, when the deep extra is missing: `what` (e.g.
    "train-gan", "face mode") needs TensorFlow (and the `extra` modules, e.g. mtcnn).
    Looks modules up without importing them, so it costs milliseconds."""
    missing = [name for name in (*DEEP_MODULES, *extra) if not _installed(name)]
    if missing:
        raise MlkitError(f"{what} needs {_names(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed",
                         hint)


def _installed(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _names(modules):
    shown = {"tensorflow": "TensorFlow", "mtcnn": "MTCNN"}
    names = [shown.get(m, m) for m in modules]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def import_tf():
    """(tensorflow, keras), imported quietly once."""
    if "tensorflow" not in sys.modules:
        require_deep("this command")
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    _private_keras_home()
    with silenced():
        try:
            import keras
            import tensorflow as tf
        except ImportError as exc:  # installed but broken, or blocked
            raise MlkitError(f"this command needs TensorFlow, which does not import here: {exc}",
                             INSTALL_HINT) from None

        tf.get_logger().setLevel("ERROR")
        _quiet_absl()
    return tf, keras


def _private_keras_home():
    """Keras writes $KERAS_HOME/keras.json (~/.keras unless set) when it is imported: unless
    the user chose a home, give it a temporary one, removed at exit, so mlkit leaves the
    user's home alone. Keras's cache of downloaded weights is looked up in the user's home
    (user_keras_home), not here. The name holds the pid, so the home of a killed command
    (which no atexit removes) is swept by the next one on the same host."""
    if "KERAS_HOME" in os.environ:
        return
    import atexit
    import shutil
    import tempfile

    _sweep_private_homes(tempfile.gettempdir())
    home = tempfile.mkdtemp(prefix=f"{PRIVATE_HOME_PREFIX}{os.getpid()}-{_pid_space()}-")
    os.environ["KERAS_HOME"] = os.environ[PRIVATE_HOME_ENV] = home
    atexit.register(shutil.rmtree, home, True)


def _sweep_private_homes(folder):
    """Remove this user's private Keras homes in `folder` whose process is gone: only real
    folders (never a link) owned by this uid; another user's, a live process's, or one whose pid
    this process cannot see (another host or container sharing the folder), stay."""
    import shutil
    import stat

    if not hasattr(os, "getuid"):
        return
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        space = _pid_space()
        for entry in entries:
            pid = _home_pid(entry.name, space)
            if pid is None or _alive(pid):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
                    shutil.rmtree(entry.path, ignore_errors=True)  # removes links inside, never follows them


def _home_pid(name, space):
    """The pid in a private home's name (mlkit-keras-<pid>-<space>-XXXXXXXX) when it was made
    in the pid space `space`, or None."""
    if not name.startswith(PRIVATE_HOME_PREFIX):
        return None
    pid, dash, rest = name[len(PRIVATE_HOME_PREFIX) :].partition("-")
    if not (dash and pid.isascii() and pid.isdigit() and len(pid) <= 9 and rest.startswith(space + "-")):
        return None  # an older home, one from another host or container, or someone else's name: left alone
    return int(pid) or None


def _pid_space():
    """8 hex digits naming where a pid means this process: the host name and the pid namespace.
    A TMPDIR shared by cluster nodes (Slurm array jobs) or by containers holds homes whose pid
    is not found here although their process lives."""
    import hashlib
    import socket

    try:
        info = os.stat("/proc/self/ns/pid")
        space = f"{info.st_dev}:{info.st_ino}"
    except OSError:
        space = ""
    return hashlib.sha256(f"{socket.gethostname()}/{space}".encode()).hexdigest()[:8]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process, or not ours to ask: leave its home alone
    return True


def user_keras_home():
    """The Keras home the user chose or has: $KERAS_HOME unless mlkit set it, else ~/.keras."""
    home = os.environ.get("KERAS_HOME")
    if not home or home == os.environ.get(PRIVATE_HOME_ENV):
        return os.path.join(os.path.expanduser("~"), ".keras")
    return home


def _quiet_absl():
    with contextlib.suppress(ImportError):
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)


@dataclasses.dataclass
class Runtime:
    """Where a deep command runs: its devices, distribution strategy and float policy."""

    device: str = "auto"
    seed: int = None
    deterministic: bool = None  # None: MLKIT_DETERMINISTIC=1 (what --deterministic sets)
    mixed_precision: bool = None  # None: on for GPUs, off for the CPU
    cpu_replicas: int = 1  # >1 splits the CPU into that many mirrored devices (tests the GPU code path)

    def __post_init__(self):
        if self.deterministic is None:
            self.deterministic = os.environ.get("MLKIT_DETERMINISTIC", "") not in ("", "0")
        if self.device not in DEVICES:
            raise MlkitError(f"unknown device {self.device!r}", f"choose from {', '.join(DEVICES)}")
        self.tf, self.keras = import_tf()
        self.gpus = self._select_devices()
        self._seed()
        self.strategy = self._strategy()
        if self.mixed_precision is None:
            self.mixed_precision = bool(self.gpus)
        self.keras.mixed_precision.set_global_policy("mixed_float16" if self.mixed_precision else "float32")

    def _select_devices(self):
        tf = self.tf
        with silenced():
            gpus = tf.config.list_physical_devices("GPU")
        if self.device == "gpu" and not gpus:
            raise MlkitError("--device gpu, but TensorFlow sees no GPU", "use --device cpu, or check CUDA and the driver")
        if self.device == "cpu" and gpus:
            tf.config.set_visible_devices([], "GPU")
            gpus = []
        if self.cpu_replicas > 1 and not gpus:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * self.cpu_replicas)
        if self.device == "cpu":
            return []
        for gpu in gpus:
            with contextlib.suppress(RuntimeError, ValueError):
                tf.config.experimental.set_memory_growth(gpu, True)
        return gpus

    def _seed(self):
        if self.seed is not None:
            self.keras.utils.set_random_seed(int(self.seed))
        if self.deterministic:
            self.tf.config.experimental.enable_op_determinism()

    def _strategy(self):
        """Several machines from TF_CONFIG; several GPUs mirrored; else the default strategy."""
        tf = self.tf
        if _cluster_workers() > 1:
            return tf.distribute.MultiWorkerMirroredStrategy()
        if len(self.gpus) > 1:
            return tf.distribute.MirroredStrategy()
        if self.cpu_replicas > 1 and not self.gpus:
            return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(self.cpu_replicas)])
        return tf.distribute.get_strategy()

    @property
    def replicas(self):
        return self.strategy.num_replicas_in_sync

    @property
    def gradient_scale(self):
        """What a step multiplies its (batch-mean) loss by before taking gradients: the
        optimizer sums the replicas' gradients, so each replica contributes 1/replicas."""
        return 1.0 / self.replicas

    def replicated(self, step):
        """`step(batch) -> {name: scalar}` as one compiled step over every replica: each runs it
        on its share of the batch, and the reported values are averaged. Steps scale their loss
        by `gradient_scale` before the gradient. One device: just the compiled step."""
        tf, strategy = self.tf, self.strategy
        if self.replicas == 1:
            return tf.function(step)

        @tf.function
        def run(batch):
            results = strategy.run(step, args=(batch,))
            return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in results.items()}

        return run

    def distribute(self, dataset):
        """A tf.data dataset of global batches, split over the replicas."""
        return dataset if self.replicas == 1 else self.strategy.experimental_distribute_dataset(dataset)

    def describe(self):
        """One line for the log: what the run uses."""
        where = f"{len(self.gpus)} GPU(s)" if self.gpus else "CPU"
        return f"{where}, {self.replicas} replica(s), {'mixed float16' if self.mixed_precision else 'float32'}"


def _cluster_workers():
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        return 1
    try:
        cluster = json.loads(text).get("cluster", {})
    except (ValueError, AttributeError):
        raise MlkitError("TF_CONFIG is not valid JSON", "see the README's section on several machines") from None
    return sum(len(v) for k, v in cluster.items() if k in ("worker", "chief"))
