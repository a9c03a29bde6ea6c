"""A training folder: its configuration, checkpoints with optimizer state, and resume.

    CKPT_DIR/run.json          what kind of run, and the configuration it was started with
    CKPT_DIR/ckpt-00000500/    <name>.weights.h5, <name>.optimizer.npz, state.json
    CKPT_DIR/metrics.jsonl     one JSON line per step

A checkpoint is built in memory, written into a hidden folder and renamed when complete, so a
crash, a full disk or Ctrl-C never leaves a half checkpoint that resume would pick up.

A run folder holds only plain files and folders that mlkit made: one holding a link (which
could lead a write out of the folder) or a device, FIFO or socket is refused when it is opened,
and files are opened without following links.
"""

import io
import json
import os
import shutil
import stat

import numpy as np

from mlkit.errors import MlkitError
from mlkit.io import jsonfile, limits
from mlkit.io.write import atomic_write, write_error

RUN_FILE = "run.json"
PREFIX = "ckpt-"


class RunDir:
    """A checkpoint folder for one kind of training run.

    config: the run's settings (JSON-ready); must_match: the keys a resumed run may not change;
    defaults: settings that a stored run's own values override (a seed drawn when none was given).
    """

    def __init__(self, path, kind, config, must_match=(), keep=3, defaults=None):
        self.path, self.kind, self.keep = path, kind, keep
        self.config, self._defaults = config, defaults or {}
        self._open(must_match)

    def _open(self, must_match):
        stored = check_folder(self.path, self.kind)
        if stored is not None:
            self._check_compatible(stored, must_match)
        else:
            try:
                os.makedirs(self.path, exist_ok=True)
            except OSError as exc:
                raise write_error(self.path, exc) from None
            self.config = {**self._defaults, **self.config}
            self._write_json(RUN_FILE, {"kind": self.kind, "config": self.config})

    def _check_compatible(self, stored, must_match):
        check_settings(self.path, stored, self.config, must_match)
        self.config = {**self._defaults, **stored["config"], **self.config}

    def checkpoints(self):
        """Completed checkpoints, oldest first."""
        names = [n for n in os.listdir(self.path) if n.startswith(PREFIX) and n[len(PREFIX):].isdigit()]
        return [os.path.join(self.path, n) for n in sorted(names, key=lambda n: int(n[len(PREFIX):]))]

    def latest(self):
        found = self.checkpoints()
        return found[-1] if found else None

    def save(self, step, objects, state=None):
        """objects: name -> (model, optimizer or None). The checkpoint appears whole or not at all."""
        files = _checkpoint_files(step, objects, state)
        final = os.path.join(self.path, f"{PREFIX}{step:08d}")
        tmp = os.path.join(self.path, f".{PREFIX}{step:08d}.part")
        try:
            _remove_tree(tmp)  # left by a killed run
            os.mkdir(tmp)
            for name, data in files.items():
                _write_new(os.path.join(tmp, name), data)
            _remove_tree(final)
            os.replace(tmp, final)
        except OSError as exc:
            _remove_tree(tmp)
            raise write_error(final, exc) from None
        except BaseException:
            _remove_tree(tmp)
            raise
        self._prune()
        return final

    def _prune(self):
        for old in self.checkpoints()[: -self.keep]:
            _remove_tree(old)

    def restore(self, objects, path=None):
        """Load the latest (or `path`) checkpoint into `objects`; its state dict, or None."""
        path = path or self.latest()
        if path is None:
            return None
        try:
            for name, (model, optimizer) in objects.items():
                model.load_weights(os.path.join(path, f"{name}.weights.h5"))
                if optimizer is not None:
                    _restore_optimizer(optimizer, model, os.path.join(path, f"{name}.optimizer.npz"))
            state = _read_json(os.path.join(path, "state.json"))
        except MlkitError:
            raise
        except Exception as exc:
            from mlkit.deep.models import reason_of

            raise MlkitError(f"{path}: damaged checkpoint ({reason_of(exc, 'it cannot be loaded')})",
                             "remove that checkpoint folder to resume from an earlier one") from None
        if not isinstance(state, dict) or not isinstance(state.get("step"), int) or state["step"] < 0:
            raise MlkitError(f"{path}: damaged checkpoint (no step in state.json)", "remove that checkpoint folder")
        return state

    def metrics(self, start_step):
        """The metrics file, cut back to `start_step` (a resumed run rewrites what followed)."""
        return MetricsLog(os.path.join(self.path, "metrics.jsonl"), start_step)

    def _write_json(self, name, payload):
        with atomic_write(os.path.join(self.path, name)) as out:
            out.write(json.dumps(payload, indent=2, sort_keys=True).encode())


def check_folder(path, kind):
    """What RunDir checks before it creates anything, so a command can run it before loading a
    network: None for a new or empty folder, else the stored run (kind and config)."""
    run_file = os.path.join(path, RUN_FILE)
    if os.path.isdir(path):
        check_tree(path)  # links and devices are refused before anything is read or written
    if os.path.isdir(path) and os.path.exists(run_file):
        stored = _read_json(run_file)
        if not isinstance(stored, dict) or stored.get("kind") != kind or not isinstance(stored.get("config"), dict):
            raise MlkitError(f"{path} holds a run of another kind", f"give a folder made by mlkit {kind}")
        return stored
    if os.path.isdir(path) and _visible(path):
        raise MlkitError(f"{path} holds other files, not an mlkit {kind} run", "give an empty or new folder")
    if os.path.exists(path) and not os.path.isdir(path):
        raise MlkitError(f"{path} is a file, not a checkpoint folder", "give a folder")
    return None


def check_settings(path, stored, config, must_match):
    """A resumed run may not change the `must_match` settings its weights depend on; one left
    unset (a seed not given) keeps the stored value."""
    old = stored["config"]
    changed = [k for k in must_match if k in config and old.get(k) != config[k]]
    if changed:
        key = changed[0]
        raise MlkitError(f"{path} was started with {key}={old.get(key)!r}, not {config.get(key)!r}",
                         "resume with the same settings, or give a new folder")


def _checkpoint_files(step, objects, state):
    """name -> bytes of every file of a checkpoint, built before anything is written."""
    from mlkit.deep.models import weights_bytes

    files = {}
    for name, (model, optimizer) in objects.items():
        files[f"{name}.weights.h5"] = weights_bytes(model)
        if optimizer is not None:
            buffer = io.BytesIO()
            np.savez(buffer, *[v.numpy() for v in optimizer.variables])
            files[f"{name}.optimizer.npz"] = buffer.getvalue()
    files["state.json"] = json.dumps({"step": int(step), **(state or {})}).encode()
    return files


def _write_new(path, data):
    """Write `data` to a new file at `path`, never through a link."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _remove_tree(path):
    """Remove a checkpoint folder; a link is removed itself, never followed."""
    if os.path.islink(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def check_tree(folder):
    """Refuse a run folder holding a link, or anything but plain files and folders."""
    for entry in _entries(folder):
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            raise MlkitError(f"{entry.path}: a link inside the run folder {folder}",
                             "a run folder holds only mlkit's own files: remove the link, or give a new folder")
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise MlkitError(f"{entry.path}: not a plain file, inside the run folder {folder}",
                             "remove it, or give a new folder")


def _entries(folder):
    try:
        with os.scandir(folder) as found:
            entries = list(found)
    except OSError as exc:
        raise MlkitError(f"{folder}: cannot read the run folder ({exc.strerror.lower()})",
                         "check its permissions") from None
    for entry in entries:
        yield entry
        if entry.is_dir(follow_symlinks=False):
            yield from _entries(entry.path)


def _restore_optimizer(optimizer, model, path):
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    with np.load(path, allow_pickle=False) as saved:
        arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    variables = optimizer.variables
    if len(arrays) != len(variables):
        raise MlkitError(f"{path}: the optimizer state holds {len(arrays)} arrays, the model needs {len(variables)}",
                         "resume with the same model settings")
    for variable, array in zip(variables, arrays):
        if tuple(array.shape) != tuple(variable.shape) or not np.isfinite(array).all():
            raise MlkitError(f"{path}: an optimizer array has the wrong shape or non-finite values", "remove that checkpoint")
        variable.assign(array)


class MetricsLog:
    """metrics.jsonl: one JSON object per step, written as it happens.

    The kept lines are first written to a new file that replaces the old one, so the file
    appended to is always mlkit's own (never a link's or a hard link's target)."""

    def __init__(self, path, start_step):
        self.path = path
        kept = self._kept(start_step)
        with atomic_write(path) as out:
            out.write(kept.encode())
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        except OSError as exc:
            raise write_error(path, exc) from None

    def _kept(self, start_step):
        if not os.path.exists(self.path):
            return ""
        return "".join(line for step, line in read_metrics(self.path) if step <= start_step)

    def write(self, record):
        data = (json.dumps(record, allow_nan=False) + "\n").encode()
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            raise write_error(self.path, exc) from None

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def check_resumable(path):
    """Read a stored run's run.json and metrics.jsonl and check them, before anything is built
    or written: a damaged folder is refused while the run has spent nothing."""
    run_file = os.path.join(path, RUN_FILE)
    if os.path.lexists(run_file):
        _read_json(run_file)
    metrics = os.path.join(path, "metrics.jsonl")
    if os.path.lexists(metrics):
        read_metrics(metrics)


def read_metrics(path):
    """[(step, line)] of a metrics.jsonl, each line checked: a JSON object, an integer step,
    finite numbers. A last line cut short (a crash mid-write) is left out; any other damage
    is an error naming the line, before anything is written."""
    out = []
    limit = limits.max_bytes()
    with _open_regular(path) as f:
        for number, line in enumerate(iter(lambda: f.readline(limit + 1), b""), 1):
            if not line.endswith(b"\n"):
                break  # the last line, cut short
            where = f"{path} line {number}"
            record = jsonfile.loads(line, where)
            step = record.get("step") if isinstance(record, dict) else None
            if not isinstance(step, int) or isinstance(step, bool) or step < 0:
                raise MlkitError(f"{where}: no step number", "remove the damaged lines, or the file, to resume")
            for key, value in record.items():
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise MlkitError(f"{where}: {key} is not a number", "remove the damaged lines, or the file, to resume")
            out.append((step, line.decode()))
    return out


def _open_regular(path):
    jsonfile.check_regular(path)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise MlkitError(f"{path}: cannot be read ({exc.strerror})", "check that it exists and is readable") from None


def _read_json(path):
    return jsonfile.read(path)


def _visible(folder):
    return [n for n in os.listdir(folder) if not n.startswith(".")]
