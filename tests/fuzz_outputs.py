"""Fuzz, part two: hostile output targets and signals (issue 25, defects 1-4). Imported by
tests/test_fuzz.py, which collects these tests.

- Run folders with links leading out of them: refused in one line, nothing written through.
- Side files (--log, --landmarks-out, --save, --plot, stylize's --log): byte-identical after
  a run that produced nothing.
- Full (a tiny tmpfs) and read-only (a read-only bind mount) targets: one line naming the
  path, exit 1, no temporary file. The mounts need root or a user namespace; where neither
  works, a file-size limit (RLIMIT_FSIZE = 0) makes every write fail for real instead.
- SIGINT/SIGTERM to the process group during --jobs: exit 130, one line, no temporary file;
  a compress run stopped before its first epoch resumes; the training loop lets the step in
  flight finish rather than have TensorFlow cancel it.
"""

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import run_mlkit

SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mlkit", "data")
GAN = ["--image-size", "16", "--gf-dim", "8", "--df-dim", "8", "--z-dim", "16", "--batch-size", "8",
       "--device", "cpu", "--seed", "4"]


def _one_error(stderr, *words):
    lines = [line for line in (stderr.decode() if isinstance(stderr, bytes) else stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mlkit ") and ": error: " in lines[0], lines
    assert "internal error" not in lines[0] and "Traceback" not in lines[0], lines
    for word in words:
        assert word in lines[0], lines
    return lines[0]


def _temporaries(folder):
    found = []
    for root, dirs, files in os.walk(folder):
        found += [os.path.join(root, n) for n in dirs + files if n.endswith(".part") or n.startswith(".")]
    return found


def _tree(folder):
    """{relative path: bytes or link target}: to prove a failed run changed nothing."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                found[rel] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                found[rel] = open(path, "rb").read()
    return found


@pytest.fixture(scope="module")
def face_set(tmp_path_factory):
    import cv2
    import skimage.data

    folder = tmp_path_factory.mktemp("faces")
    for i, face in enumerate(skimage.data.lfw_subset()[:16]):
        cv2.imwrite(str(folder / f"f{i:02d}.png"), np.rint(face * 255).astype(np.uint8))
    return str(folder)


# ---------------------------------------------------------------- 1. links out of a run folder


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    """A train-gan run folder as a finished run leaves it (the files' contents do not matter:
    a link is refused before anything is read)."""
    from mlkit.deep.checkpoint import RunDir

    run = tmp_path_factory.mktemp("gan") / "run"
    RunDir(str(run), "gan", {"seed": 4})
    (run / "metrics.jsonl").write_text('{"step": 1, "d_loss": 1.0, "g_loss": 1.0}\n')
    (run / "losses.png").write_bytes(b"png")
    (run / "samples").mkdir()
    (run / "samples" / "step-00000002.png").write_bytes(b"png")
    for step in (2, 3):
        (run / f"ckpt-{step:08d}").mkdir()
        (run / f"ckpt-{step:08d}" / "state.json").write_text(json.dumps({"step": step}))
    return str(run)


LINKS = {  # name in the run folder -> what the link points at (outside the folder)
    "metrics.jsonl": "file",  # a dangling link: resuming would create the target
    "losses.png": "file",
    "run.json": "existing",
    "samples": "folder",
    "ckpt-00000002": "folder",  # pruned when the run goes on
    ".ckpt-00000004.part": "folder",  # the next checkpoint's temporary folder
}


@pytest.mark.deep  # TensorFlow: without it the command says so first
@pytest.mark.parametrize("name", list(LINKS))
def test_a_link_in_a_run_folder_is_refused_and_never_written_through(gan_run, face_set, tmp_path, invoke, name):
    run = str(tmp_path / "run")
    shutil.copytree(gan_run, run)
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "target"
    if LINKS[name] == "folder":
        target.mkdir()
        (target / "keep").write_bytes(b"keep")
    elif LINKS[name] == "existing":
        shutil.copy(os.path.join(run, name), target)
    path = os.path.join(run, name)
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.unlink(path)
    os.symlink(target, path)
    before = _tree(str(outside))
    result = invoke("train-gan", face_set, "-c", run, *GAN, "--steps", "6", "--checkpoint-every", "1", "--sample-every", "1")
    assert result.exit_code == 1, result.output
    _one_error(result.stderr, f"{path}: a link inside the run folder")
    assert _tree(str(outside)) == before


def test_a_hard_link_in_a_run_folder_is_not_written_through(tmp_path):
    """metrics.jsonl hard-linked to a file outside: a resumed run writes a new file of its own."""
    from mlkit.deep.checkpoint import RunDir

    run = tmp_path / "run"
    RunDir(str(run), "gan", {"seed": 1})
    outside = tmp_path / "precious.jsonl"
    outside.write_text('{"step": 1, "loss": 0.5}\n{"step": 2, "loss": 0.4}\n')
    os.link(outside, run / "metrics.jsonl")
    metrics = RunDir(str(run), "gan", {"seed": 1}).metrics(1)
    metrics.write({"step": 2, "loss": 9.0})
    metrics.close()
    assert outside.read_text() == '{"step": 1, "loss": 0.5}\n{"step": 2, "loss": 0.4}\n'
    assert (run / "metrics.jsonl").read_text() == '{"step": 1, "loss": 0.5}\n{"step": 2, "loss": 9.0}\n'


@pytest.mark.parametrize("kind", ["fifo", "link-to-inside"])
def test_a_run_folder_holding_anything_but_files_and_folders_is_refused(tmp_path, kind):
    from mlkit.deep.checkpoint import RunDir
    from mlkit.errors import MlkitError

    run = tmp_path / "run"
    RunDir(str(run), "compress", {"seed": 1})
    if kind == "fifo":
        os.mkfifo(run / "metrics.jsonl")  # opening it to read would wait forever
    else:
        os.symlink(run / "run.json", run / "metrics.jsonl")
    with pytest.raises(MlkitError, match="metrics.jsonl: (not a plain file|a link)"):
        RunDir(str(run), "compress", {"seed": 1})


@pytest.mark.deep  # TensorFlow: without it the command says so first
def test_regress_mlp_refuses_a_run_json_link(tmp_path, invoke):
    rows = "\n".join(f"{x},{2 * x + 1}" for x in range(20))
    (tmp_path / "d.csv").write_text("x,y\n" + rows + "\n")
    run = tmp_path / "run"
    run.mkdir()
    os.symlink("/dev/zero", run / "run.json")  # read without bound before the fix
    result = invoke("regress", tmp_path / "d.csv", "--method", "mlp", "--checkpoint-dir", run, "--epochs", "2")
    assert result.exit_code == 1
    _one_error(result.stderr, "run.json: a link inside the run folder")


# ---------------------------------------------------------------- 2. side files of a run that produced nothing


def test_augment_log_survives_a_run_that_wrote_nothing(tmp_path):
    (tmp_path / "bad.nii").write_bytes(b"junk" * 100)
    keep = tmp_path / "keep.jsonl"
    keep.write_bytes(b'{"precious": 1}\n')
    proc = run_mlkit("augment", tmp_path / "bad.nii", "-n", "1", "-o", f"{tmp_path / 'aug'}/", "--log", keep)
    assert proc.returncode == 1
    _one_error(proc.stderr, "bad.nii")
    assert keep.read_bytes() == b'{"precious": 1}\n'
    assert not (tmp_path / "aug").exists() or os.listdir(tmp_path / "aug") == []


@pytest.mark.parametrize("option", ["--save", "--plot"])
def test_regress_side_files_survive_a_bad_table(tmp_path, invoke, option):
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")  # one row: fewer rows than unknowns
    keep = tmp_path / ("keep.json" if option == "--save" else "keep.png")
    keep.write_bytes(b"precious")
    result = invoke("regress", tmp_path / "bad.csv", option, keep)
    assert result.exit_code == 1
    assert keep.read_bytes() == b"precious" and sorted(os.listdir(tmp_path)) == ["bad.csv", keep.name]


def test_side_file_writers_write_nothing_from_nothing(tmp_path):
    from mlkit.crop.formats import write_landmarks
    from mlkit.io.write import write_side_file

    keep = tmp_path / "keep.csv"
    keep.write_bytes(b"precious")
    write_landmarks(str(keep), [])
    assert write_side_file(str(keep), b"") is False
    assert keep.read_bytes() == b"precious" and os.listdir(tmp_path) == ["keep.csv"]


def test_stylize_log_survives_a_failed_run(tmp_path):
    from mlkit.style.transfer import _log

    keep = tmp_path / "keep.jsonl"
    keep.write_bytes(b"precious\n")
    with pytest.raises(RuntimeError):
        with _log(str(keep)) as out:
            out.write('{"iteration": 1}\n')
            raise RuntimeError("the network failed")
    assert keep.read_bytes() == b"precious\n" and os.listdir(tmp_path) == ["keep.jsonl"]
    with _log(str(keep)) as out:
        out.write('{"iteration": 1}\n')
    assert keep.read_bytes() == b'{"iteration": 1}\n' and os.listdir(tmp_path) == ["keep.jsonl"]


# ---------------------------------------------------------------- 3. full disks, read-only folders


class Target:
    """A folder on a full or read-only file system, and how to run a command against it.

    Root mounts a tmpfs (or a read-only bind) here; otherwise a user namespace (`unshare -rm`)
    mounts it around the command; failing both, a read-only folder is chmod 555 (not for root)
    and RLIMIT_FSIZE makes every write of a real output fail.
    MLKIT_FUZZ_TARGETS=unshare or =rlimit picks a fallback, to test it where root could mount."""

    def __init__(self, folder, how, kind):
        self.folder, self.how, self.kind = str(folder), how, kind

    def run(self, *args, cwd=None):
        cmd = [sys.executable, "-m", "mlkit", *map(str, args)]
        if self.how == "unshare":
            cmd = ["unshare", "-rm", "sh", "-c", f'{self._mount()} && exec "$@"', "sh", *cmd]
        limit = RLIMIT_BYTES[self.kind] if self.how == "rlimit" else None
        return subprocess.run(cmd, capture_output=True, cwd=cwd, timeout=120,
                              preexec_fn=None if limit is None else lambda: _file_size_limit(limit))

    def _mount(self):
        if self.kind == "full":
            return f"mount -t tmpfs -o size=200k tmpfs {self.folder}"
        return f"mount --bind {self.folder} {self.folder} && mount -o remount,bind,ro {self.folder}"

    @property
    def words(self):
        if self.how in ("rlimit", "chmod"):
            return {"rlimit": "too large", "chmod": "permission denied"}[self.how]
        return {"full": "no space left", "readonly": "read-only"}[self.kind]


# Files up to this size can still be written (Python and TensorFlow probe the temporary folder).
RLIMIT_BYTES = {"full": 64 << 10, "readonly": 1 << 10}


def _file_size_limit(size):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def _try(cmd):
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


@contextlib.contextmanager
def _target(tmp_path, kind):
    folder = tmp_path / kind
    folder.mkdir()
    forced = os.environ.get("MLKIT_FUZZ_TARGETS")  # "unshare" or "rlimit": test a fallback here
    if forced == "rlimit":
        yield Target(folder, "rlimit", kind)
        return
    if os.geteuid() == 0 and forced != "unshare":
        mounted = _try(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(folder)]) if kind == "full" else (
            _try(["mount", "--bind", str(folder), str(folder)])
            and (_try(["mount", "-o", "remount,bind,ro", str(folder)]) or not _try(["umount", str(folder)])))
        if mounted:
            try:
                yield Target(folder, "mounted", kind)
            finally:
                subprocess.run(["umount", "-l", str(folder)], capture_output=True)
            return
    probe = Target(folder, "unshare", kind)
    if shutil.which("unshare") and _try(["unshare", "-rm", "sh", "-c", probe._mount()]):
        yield probe
        return
    if kind == "readonly" and os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield Target(folder, "chmod", kind)
        finally:
            folder.chmod(0o755)
        return
    yield Target(folder, "rlimit", kind)


@pytest.fixture
def full(tmp_path):
    with _target(tmp_path, "full") as target:
        yield target


@pytest.fixture
def readonly(tmp_path):
    with _target(tmp_path, "readonly") as target:
        yield target


def _failed_cleanly(proc, target, where):
    assert proc.returncode == 1, (proc.returncode, proc.stderr.decode()[-2000:])
    line = _one_error(proc.stderr, target.words)
    assert f"cannot write {where}" in line or f"{where}: " in line, line
    assert _temporaries(target.folder) == []
    return line


def test_an_image_onto_a_full_disk(full, example4d):
    path = os.path.join(full.folder, "big.nii")  # 1.1 MiB of voxels onto 200 KiB
    _failed_cleanly(full.run("transform", "negative", example4d, "-o", path), full, path)


def test_a_batch_onto_a_read_only_folder(readonly):
    out = os.path.join(readonly.folder, "aug")
    proc = readonly.run("augment", os.path.join(SAMPLES, "t1_seg.nii.gz"), "-n", "2", "--seed", "1", "-o", f"{out}/")
    assert proc.returncode == 1 and readonly.words in proc.stderr.decode()
    assert "internal error" not in proc.stderr.decode() and "Traceback" not in proc.stderr.decode()


@pytest.mark.deep  # TensorFlow: without it the command says so first
def test_train_gan_onto_a_full_disk(full, face_set):
    """h5py used to meet the full disk halfway through a checkpoint: a traceback, then signal 11."""
    run = os.path.join(full.folder, "run")
    proc = full.run("train-gan", face_set, "-c", run, *GAN, "--steps", "12", "--checkpoint-every", "5",
                    "--sample-every", "6")
    _failed_cleanly(proc, full, run)


@pytest.mark.deep  # TensorFlow: without it the command says so first
@pytest.mark.parametrize("option, name", [("--save", "m.keras"), ("--checkpoint-dir", "run")])
def test_a_keras_model_or_run_folder_onto_a_read_only_folder(readonly, tmp_path, option, name):
    rows = "\n".join(f"{x},{2 * x + 1}" for x in range(20))
    (tmp_path / "d.csv").write_text("x,y\n" + rows + "\n")
    target = os.path.join(readonly.folder, name)
    proc = readonly.run("regress", tmp_path / "d.csv", "--method", "mlp", "--epochs", "2", option, target)
    _failed_cleanly(proc, readonly, target)


# ---------------------------------------------------------------- 4. signals


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scans")
    for i in range(4):
        shutil.copy(os.path.join(SAMPLES, "fmri.nii.gz"), folder / f"s{i}.nii.gz")
    return str(folder)


@pytest.mark.parametrize("sig, when", [("SIGINT", "starting"), ("SIGINT", "writing"), ("SIGINT", "writing"),
                                       ("SIGTERM", "writing")])
def test_a_signal_to_the_process_group_during_jobs(scans, tmp_path, sig, when):
    """As a terminal's Ctrl-C: exit 130, one line (workers silent), no temporary file."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "mlkit", "augment", scans, "-n", "30", "--seed", "1", "--jobs", "2",
                             "-o", f"{out}/"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    if when == "starting":
        time.sleep(0.3)
    while when == "writing" and not (out.exists() and os.listdir(out)) and time.monotonic() < deadline:
        time.sleep(0.01)  # the workers are writing outputs now
    os.killpg(proc.pid, getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.decode().splitlines() == ["mlkit augment: error: interrupted"], err.decode()
    assert not out.exists() or _temporaries(out) == []


def test_a_compress_run_stopped_before_its_first_epoch_resumes():
    """state.json of a run stopped in epoch 1 says "best": null; every resume died with TypeError."""
    import math

    from mlkit.compress.train import _Watch

    stored = {"step": 3, "best": None, "bad": 0, "best_epoch": 0, "last": None, "epoch": 0}
    model, best_model = SimpleNamespace(get_weights=lambda: []), SimpleNamespace(set_weights=lambda weights: None)
    watch = _Watch(model, best_model, [], None, patience=2, state=stored)
    assert watch.best == math.inf and watch.last is None
    watch.after_epoch(4, {"loss": 0.25})
    assert watch.best == 0.25 and watch.best_epoch == 1
    assert json.loads(json.dumps(_Watch(None, None, [], None, 2).state()))["best"] is None  # valid JSON
    damaged = _Watch(None, None, [], None, 2, {"best": "abc", "bad": -3, "epoch": True, "last": float("nan")})
    assert (damaged.best, damaged.bad, damaged.epoch, damaged.last) == (math.inf, 0, 0, None)


def test_the_training_loop_lets_the_step_in_flight_finish():
    """Ctrl-C during a step: the step completes (TensorFlow is not asked to cancel it), is
    checkpointed, and then KeyboardInterrupt goes on up."""
    from mlkit.deep.loop import Loop

    saved, written = [], []

    class Metrics:
        write = written.append

    def step(batch):
        if batch == 3:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler would run here, mid-step, without the hold
        return {"loss": float(batch)}

    loop = Loop(total=10, save=saved.append, metrics=Metrics(), checkpoint_every=100, hold_signals=True)
    with pytest.raises(KeyboardInterrupt):
        loop.run(step, iter(range(1, 11)))
    assert saved == [3] and [r["step"] for r in written] == [1, 2, 3]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_temporary_files_of_a_killed_worker_are_removed(tmp_path):
    """A worker busy in a long C call is killed after the grace period: its parent removes the
    temporary files that carry its process id, and no one else's."""
    from mlkit.errors import MlkitError
    from mlkit.io.write import atomic_write, remove_orphans

    names = [".a.nii.gz.4242.k2j_x9ab.part", ".b.png.4243.zz11yy22.part", ".c.nii.4242.tag.nii.gz", "4242.part"]
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    remove_orphans(str(tmp_path), [4242])
    assert sorted(os.listdir(tmp_path)) == sorted(names[1:])
    with pytest.raises(MlkitError, match="cannot write"):  # the names atomic_write gives match the pattern
        with atomic_write(str(tmp_path / "d.nii")) as out:
            out.write(b"x")
            remove_orphans(str(tmp_path), [os.getpid()])
            assert [n for n in os.listdir(tmp_path) if n.startswith(".d.nii.")] == []
    assert sorted(os.listdir(tmp_path)) == sorted(names[1:])
