"""Fuzz: every corrupted input of tests/fuzz_corpus.py gets mlkit's one line, or a clean result.

For each case: exit 0 or 1 (never 2: the command lines are well formed); on failure exactly one
`mlkit <cmd>: error: <file>: ...` line and nothing else on stderr; no traceback, exception class
name or numpy repr; nothing written outside the -o folder; no output (and no hidden temporary
file) after a failure; peak memory under MEMORY_MB; no pickle ever runs; `info --json` prints
strict JSON. Inputs that break a rule the issue states (a pickle, a model with a NaN or a
missing field) must fail. Bombs must be refused in little memory and time, naming the limit.

Speed: ~700 cases would take minutes as separate processes, so two long-lived worker
processes run most of them in-process (mlkit's own main(), with fds 0-2 swapped for files,
the peak RSS reset before each case through /proc/self/clear_refs). The first case of every
class, and every bomb, runs as its own `python -m mlkit` with real pipes, its peak memory
taken from os.wait4. A watchdog kills any process that passes KILL_MB or runs too long.

A failure prints the command that reproduces it. MLKIT_FUZZ_REPORT=report.json writes every
case's command, exit status and problems, for routing them.
"""

import collections
import io
import json
import os
import re
import select
import signal
import stat
import subprocess
import sys
import threading
import time
import traceback
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzz_corpus as corpus  # noqa: E402  (a plain module beside this file)
import pytest  # noqa: E402

LANES = 2
MEMORY_MB = 400
BOMB_MEMORY_MB = 300  # the goal for bombs: refused in under 2 s, under 300 MB
BOMB_CPU_S = 2.0
BOMB_WALL_S = 10.0  # generous: the machine is shared
KILL_MB = 640  # well past the bounds above: enough to prove a case over them, quickly
CASE_LIMIT_S = 20.0
OUT_DIR = os.path.join("work", corpus.OUT.rstrip("/"))

TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
CLASS_NAME = re.compile(
    r"\b[A-Z][A-Za-z0-9]*(?:Error|Exception|Warning|Interrupt)\b|\bBad(?:Gzip|Zip)File\b|\bStopIteration\b"
)
SUMMARY = re.compile(r"error: \d+ of \d+ \w+ failed")
NUMPY_REPR = re.compile(r"\bnp\.[a-z]+[0-9]*\(|\barray\(\[|\bdtype\('")


# ---------------------------------------------------------------- the worker process


def _serve():
    """Run one case per request line, in this process; reply with a JSON line."""
    requests = os.fdopen(os.dup(0), "r")
    replies = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    _preload()
    env = dict(os.environ)
    for line in requests:
        reply = _run_here(json.loads(line), env)
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def _preload():
    """Import what the commands import, so a case's peak memory is its own."""
    import importlib

    for name in ("cli", "io.read", "io.batch", "faces", "regression.report", "regression.formats", "commands.info", "commands.transform",
                 "commands.eigenfaces", "commands.regress"):
        importlib.import_module("mlkit." + name)


def _run_here(req, env):
    from mlkit.cli import cli

    os.environ.clear()
    os.environ.update(env, **req["env"])
    os.chdir(req["cwd"])
    sys.argv = ["mlkit", *req["args"]]
    code, escaped = None, False
    with warnings.catch_warnings(), _redirected(req["stdin"], req["stdout"], req["stderr"]):
        _reset_peak()  # catch_warnings also resets "shown once" bookkeeping: chatter is seen per case
        try:
            cli.main(req["args"], prog_name="mlkit")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) or exc.code is None else str(exc.code)
        except BaseException:  # noqa: BLE001  (anything that gets past main() is a finding)
            traceback.print_exc()
            escaped = True
    return {"code": 0 if code is None and not escaped else code, "escaped": escaped, "peak_kb": _peak_kb()}


class _redirected:
    """fds 0, 1, 2 (C libraries write there) and sys.std* on the case's files, restored after."""

    def __init__(self, stdin, stdout, stderr):
        self.paths = (stdin or os.devnull, stdout, stderr)

    def __enter__(self):
        self.saved = [os.dup(fd) for fd in (0, 1, 2)], (sys.stdin, sys.stdout, sys.stderr)
        _flush_all()
        flags = (os.O_RDONLY, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        for fd, path, flag in zip((0, 1, 2), self.paths, flags):
            new = os.open(path, flag, 0o644)
            os.dup2(new, fd)
            os.close(new)
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
        sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
                                      errors="backslashreplace", line_buffering=True)

    def __exit__(self, *exc):
        _flush_all()
        fds, streams = self.saved
        for fd, old in zip((0, 1, 2), fds):
            os.dup2(old, fd)
            os.close(old)
        sys.stdin, sys.stdout, sys.stderr = streams


def _flush_all():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS


def _peak_kb():
    return _status_kb("self", "VmHWM")


def _status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------- the test side: lanes


def _child_env(case=None):
    env = {k: v for k, v in os.environ.items() if k not in ("MLKIT_DEBUG", corpus.LIMIT_ENV, "PYTHONWARNINGS")}
    env.update(dict(case.env) if case else {})
    return env


def _watch(pid, finished, limit_s):
    """Poll finished(wait_s) until it returns a value; kill the process if it runs past
    limit_s or KILL_MB of resident memory. Returns (value, why it was killed)."""
    start = time.monotonic()
    while True:
        value = finished(0.02)
        if value is not None:
            return value, None
        if time.monotonic() - start > limit_s:
            why = f"still running after {limit_s:.0f} s (killed)"
        elif _status_kb(pid, "VmRSS") > KILL_MB * 1024:
            why = f"resident memory passed {KILL_MB} MB (killed)"
        else:
            continue
        os.kill(pid, signal.SIGKILL)
        return None, why


class Lane:
    """Runs cases one at a time: in its worker process, or as a process of their own."""

    def __init__(self, root, number):
        self.root = root
        self.worker = None
        self.log = open(os.path.join(root, "_harness", f"worker{number}.log"), "ab")  # a worker's own crashes

    def run(self, case, case_dir):
        paths = {
            "cwd": os.path.join(case_dir, "work"),
            "stdin": os.path.join(case_dir, "in", case.stdin) if case.stdin else "",
            "stdout": os.path.join(self.root, "_harness", case.id + ".out"),
            "stderr": os.path.join(self.root, "_harness", case.id + ".err"),
        }
        for key in ("stdout", "stderr"):
            open(paths[key], "wb").close()  # there even when a worker dies before it opens them
        start = time.monotonic()
        run = self._process(case, paths) if case.real else self._in_worker(case, paths)
        run.setdefault("wall_s", time.monotonic() - start)
        with open(paths["stdout"], "rb") as out, open(paths["stderr"], "rb") as err:
            run.update(stdout=out.read(), stderr=err.read().decode("utf-8", "replace"))
        return run

    def _in_worker(self, case, paths):
        if self.worker is None:
            self.worker = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self.log, env=_child_env(), cwd=self.root,
            )
        request = {"args": list(case.args), "env": dict(case.env), **paths}
        self.worker.stdin.write((json.dumps(request) + "\n").encode())
        self.worker.stdin.flush()

        def replied(wait_s):
            if not select.select([self.worker.stdout], [], [], wait_s)[0]:
                return None
            return self.worker.stdout.readline() or b"died"

        line, killed = _watch(self.worker.pid, replied, CASE_LIMIT_S)
        if line is not None and line != b"died":
            return {"killed": None, **json.loads(line)}
        code = self.worker.wait()
        self.worker = None  # the next case starts a fresh worker
        why = killed or f"the process died (exit status {code})"
        return {"killed": why, "code": code, "peak_kb": 0, "escaped": False}

    def _process(self, case, paths):
        usage = paths["stdout"] + ".usage"
        with open(paths["stdout"], "wb") as out, open(paths["stderr"], "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", _TRAMPOLINE, usage, sys.executable, "-m", "mlkit", *case.args], cwd=paths["cwd"],
                env=_child_env(case), stdin=subprocess.PIPE if case.stdin else subprocess.DEVNULL, stdout=out, stderr=err,
            )
        child = _child_pid(usage + ".pid", proc)
        start = time.monotonic()
        if case.stdin:  # a real pipe, fed as another process would
            threading.Thread(target=_feed, args=(proc.stdin, paths["stdin"]), daemon=True).start()

        def reaped(wait_s):
            try:
                return proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                return None

        _, killed = _watch(child, reaped, BOMB_WALL_S if case.bomb else CASE_LIMIT_S)
        proc.wait()
        with open(usage) as f:
            code, peak_kb, cpu_s = json.load(f)
        return {"killed": killed, "code": code, "escaped": False, "peak_kb": peak_kb, "cpu_s": cpu_s,
                "wall_s": time.monotonic() - start}

    def close(self):
        if self.worker is not None:
            self.worker.stdin.close()
            self.worker.wait()
        self.log.close()


# A child's ru_maxrss includes its parent's size at fork (pytest may hold TensorFlow by then),
# so a small fresh interpreter starts the command and reports what wait4 says of it.
_TRAMPOLINE = """import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
with open(sys.argv[1] + ".pid", "w") as f:
    f.write(str(proc.pid))
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss, usage.ru_utime + usage.ru_stime], f)
"""


def _child_pid(pid_file, trampoline):
    """The pid of the command the trampoline started (the one to watch and kill)."""
    while not os.path.exists(pid_file) or not open(pid_file).read():
        if trampoline.poll() is not None:
            raise RuntimeError(f"the measuring trampoline died (exit {trampoline.returncode})")
        time.sleep(0.005)
    return int(open(pid_file).read())


def _feed(pipe, path):
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 16):
                pipe.write(chunk)
    except (BrokenPipeError, OSError):
        pass  # the reader refused early: that is allowed
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def run_all(cases, root, bases):
    """Write, run and judge every case on LANES lanes; returns {case id: (run, [problems])}."""
    os.makedirs(os.path.join(root, "_harness"), exist_ok=True)
    queue = collections.deque(sorted(cases, key=lambda case: not case.real))  # processes first: bombs are slowest
    results, lock = {}, threading.Lock()

    def drain(number):
        lane = Lane(root, number)
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    case = queue.popleft()
                case_dir = os.path.join(root, case.id)
                corpus.materialize(case, case_dir, bases)
                before = snapshot(case_dir)
                run = lane.run(case, case_dir)
                results[case.id] = run, problems(case, case_dir, before, run)
        finally:
            lane.close()

    threads = [threading.Thread(target=drain, args=(n,)) for n in range(LANES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# ---------------------------------------------------------------- what each run must show


def snapshot(folder):
    """{relative path: (size, mtime) for files, 'dir' for folders} of everything under folder."""
    found = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(top, name)
            info = os.lstat(path)
            key = os.path.relpath(path, folder)
            found[key] = "dir" if stat.S_ISDIR(info.st_mode) else (info.st_size, info.st_mtime_ns)
    return found


def problems(case, case_dir, before, run):
    """Everything this run did wrong, one short sentence each."""
    if run["killed"]:
        found = [run["killed"]]
    elif run["code"] not in (0, 1):
        found = [f"exit status {run['code']} (expected 0, or 1 for a bad input)"]
    else:
        found = []
    if run["escaped"]:
        found.append("an exception escaped mlkit's main()")
    found += _stderr_problems(case, run)
    found += _file_problems(case, case_dir, before, run)
    found += _resource_problems(case, run)
    if case.marker and os.path.exists(os.path.join(case_dir, "marker")):
        found.append("a pickle ran: its marker file was created")
    if case.must_fail and run["code"] == 0:
        found.append("a malformed input was accepted (exit 0)")
    if case.group == "control" and (run["code"] != 0 or run["stderr"]):
        found.append("a clean input did not pass quietly")
    return found


def _stderr_problems(case, run):
    """Each kind of wrong stderr on its own, so that one fix does not hide the next."""
    err, code = run["stderr"], run["code"]
    lines = err.splitlines()
    prefix = f"mlkit {case.command}: "
    ours = [line for line in lines if line.startswith("mlkit ")]
    found = []
    if TRACEBACK.search(err):
        found.append("a traceback on stderr")
    names = sorted(set(CLASS_NAME.findall(err)))
    if names:
        found.append(f"Python exception names on stderr: {', '.join(names)}")
    if "rerun with --debug" in err:
        found.append("an unexpected exception reached the catch-all ('rerun with --debug')")
    if NUMPY_REPR.search(err):
        found.append("a numpy repr on stderr")
    if len(ours) < len(lines):
        found.append(f"library chatter on stderr: {_short([line for line in lines if line not in ours][:3])}")
    wrong = sorted({line.split(":")[0] for line in ours if not line.startswith(prefix)})
    if wrong:
        found.append(f"the prefix is {wrong[0]!r}, expected {prefix.rstrip(': ')!r}")
    errors = [line for line in ours if ": error: " in line]
    if any(SUMMARY.search(line) for line in errors):
        found.append("a batch summary line ('1 of 1 inputs failed') for a single input")
    if code == 1 and len(lines) != 1:
        found.append(f"{len(lines)} lines on stderr, expected one error line")
    if code == 1 and errors and not any(name in errors[0] for name in case.names):
        found.append(f"the error line does not name {case.names[0]}: {_short(errors[:1])}")
    if code == 1 and not errors:
        found.append("exit 1 without an error line")
    if code == 0 and errors:
        found.append(f"exit 0 with an error line: {_short(errors[:1])}")
    return found


def _file_problems(case, case_dir, before, run):
    after = snapshot(case_dir)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    outputs = [p for p in changed if p.startswith(OUT_DIR + os.sep) and p not in before]
    outside = [p for p in changed if p not in outputs]
    found = []
    if outside:
        found.append(f"wrote outside the -o folder: {_short(outside[:3])}")
    if run["killed"]:
        return found  # a process killed mid-write cannot clean up: the kill is the finding
    if any(os.path.basename(p).startswith(".") for p in outputs):
        found.append(f"a hidden (temporary?) file in the -o folder: {_short(outputs[:3])}")
    if any(os.path.dirname(p) != OUT_DIR or after[p] == "dir" for p in outputs):
        found.append(f"an output below the -o folder, not in it (a name with a separator?): {_short(outputs[:3])}")
    if run["code"] != 0 and outputs:
        found.append(f"an output was left although the command failed: {_short(outputs[:3])}")
    if run["code"] == 0 and case.args[0] == "transform" and not outputs:
        found.append("exit 0 but no output written")
    stems = [os.path.basename(p) for p in outputs]
    if case.stem and any(not re.match(re.escape(case.stem) + r"[._]", s) for s in stems):
        found.append(f"a file input's output is not named after the file ({case.stem}): {_short(stems[:3])}")
    if any(re.search(r"[\x00-\x1f\x7f]", s) for s in stems):
        found.append("an output name holds control characters")
    if case.args[:2] == ("info", "--json") and run["code"] == 0 and not _strict_json(run["stdout"]):
        found.append("info --json printed invalid JSON (NaN or inf must be null)")
    if case.args[0] == "transform" and run["stdout"]:
        found.append("wrote to stdout although -o names a folder")
    elif run["code"] == 1 and run["stdout"]:
        found.append("printed results on stdout although the command failed")
    return found


def _resource_problems(case, run):
    found = []
    limit = BOMB_MEMORY_MB if case.bomb else MEMORY_MB
    if run["peak_kb"] > limit * 1024:
        found.append(f"peak memory {run['peak_kb'] / 1024:.0f} MB, over {limit} MB")
    if not case.bomb or run["killed"]:
        return found
    if run["code"] != 1:
        found.append(f"the bomb was not refused (exit {run['code']})")
    if case.limit_message and corpus.LIMIT_ENV not in run["stderr"]:
        found.append(f"the refusal does not say the limit ({corpus.LIMIT_ENV})")
    if run["cpu_s"] > BOMB_CPU_S or run["wall_s"] > BOMB_WALL_S:
        spent = f"{run['cpu_s']:.1f} s of CPU, {run['wall_s']:.1f} s"
        found.append(f"refused after {spent} (goal: under {BOMB_CPU_S:.0f} s)")
    return found


def _strict_json(raw):
    def refuse(name):
        raise ValueError(name)

    try:
        json.loads(raw, parse_constant=refuse)
        return True
    except ValueError:
        return False


def _short(items):
    return "; ".join(repr(str(item)[:160]) for item in items)


# ---------------------------------------------------------------- the tests


DEEP_COMMANDS = {"train-gan", "generate", "stylize", "compress"}


def needs_deep(case):
    """Whether the case's command needs TensorFlow: without it the command says so first."""
    args = [str(a) for a in case.args]
    return args[0] in DEEP_COMMANDS or "mlp" in args or any(a.endswith(".keras") for a in args)


def pytest_generate_tests(metafunc):
    """One test per case, named by its id (a hook, so the worker processes never build the list)."""
    if "case" in metafunc.fixturenames:
        cases = [pytest.param(c, marks=pytest.mark.deep) if needs_deep(c) else c for c in corpus.cases()]
        metafunc.parametrize("case", cases, ids=[c.id for c in corpus.cases()])


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """{case id: [problems]}, after running the whole corpus once; and the root folder."""
    root = str(tmp_path_factory.mktemp("fuzz"))
    bases = corpus.build_bases(os.path.join(root, "_bases"))
    from conftest import tensorflow_installed

    cases = [c for c in corpus.cases() if tensorflow_installed() or not needs_deep(c)]
    results = run_all(cases, root, bases)
    if os.environ.get("MLKIT_FUZZ_REPORT"):  # the whole picture as JSON, for whoever routes the failures
        report = {}
        for c in cases:
            run, found = results[c.id]
            facts = {"exit": run["code"], "problems": found, "seconds": round(run["wall_s"], 2)}
            report[c.id] = {"group": c.group, "command": c.shell(), **facts}
        with open(os.environ["MLKIT_FUZZ_REPORT"], "w") as f:
            json.dump(report, f, indent=1)
    return root, {case_id: found for case_id, (run, found) in results.items()}


def test_fuzz_case(case, outcomes):
    found = outcomes[1][case.id]
    repro = f"reproduce: PYTHONPATH=. python tests/fuzz_corpus.py {case.id} /tmp/repro  (then: {case.shell()})"
    assert not found, "\n".join([*found, repro])


def test_corpus_covers_every_class():
    cases = corpus.cases()
    groups = collections.Counter(c.group for c in cases if c.group != "control")
    assert sum(groups.values()) >= 300
    expected = {
        "truncation", "bitflip-header", "bitflip-data", "nifti1-fields", "nifti2-fields", "nifti1-extension",
        "mlkit-json", "traversal", "gzip", "bomb", "pickle", "npy-header", "raster-fields", "eigenfaces-model",
        "regress-model",
    }
    assert expected <= set(groups)
    assert all(any(c.real and c.group == g for c in cases) for g in groups), "each class runs once as a real process"


def test_corpus_is_deterministic():
    """The same ids, commands and bytes on every run (models and bombs aside: they take seconds)."""
    cases = corpus.cases()
    sample = [c for c in cases[::7] if c.args[0] in ("info", "transform") and not c.bomb]
    first = [c.make("/case", {}) for c in sample]
    corpus.cases.cache_clear()
    corpus.source.cache_clear()
    again = {c.id: c for c in corpus.cases()}
    assert list(again) == [c.id for c in cases]
    assert [again[c.id].make("/case", {}) for c in sample] == first


def test_nothing_written_beside_the_cases(outcomes):
    root, _ = outcomes
    expected = {c.id for c in corpus.cases()} | {"_bases", "_harness"}
    assert sorted(set(os.listdir(root)) - expected) == []


# ---------------------------------------------------------------- .mlz containers (issue 25, defects 5-6)
#
# `compress decode` loads TensorFlow before it reads a container, so these run the container
# reader itself, in this process: each hostile container must be refused with mlkit's error,
# having allocated little (tracemalloc sees numpy's and zlib's buffers) and read no body.

MLZ_PEAK_MB = 20


def _mlz_header(shape, dtype="uint8", volume=False, lo=0.0, hi=255.0, suffix=".png", latent=4, count=1):
    image = {"name": "x", "shape": list(shape), "dtype": dtype, "affine": None, "lo": lo, "hi": hi, "volume": volume,
             "slice_axis": 2, "suffix": suffix, "format": ""}
    return {"bits": 8, "latent": latent, "size": [16, 16, 1], "images": [image] * count}


def _mlz(header, text=None, extra=0):
    """A container whose body is `header` (or raw `text`) and zero codes, deflated by hand
    (zeros as repeated blocks: a body of a gigabyte costs a few MB to build); `extra` zero
    bytes more than its head states."""
    import struct
    import zlib

    import numpy as np

    from mlkit.compress import formats
    from mlkit.compress.planes import Meta

    latent, planes = 1, 0
    if header is not None:
        text = json.dumps(header).encode()
        latent = header["latent"]
        planes = sum(Meta(**{**img, "shape": tuple(img["shape"])}).count for img in header["images"])
    head = struct.pack("<I", len(text)) + text + np.ones(latent, "<f4").tobytes() + np.zeros(latent, "<f4").tobytes()
    zeros = planes * latent
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    coded = comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH) + corpus._deflate_zeros(zeros + extra, -15)
    return formats.HEAD.pack(formats.MAGIC, 1, bytes(8), 1, len(head) + zeros, len(coded), zlib.crc32(coded)) + coded


def _mlz2(header, words):
    """A version-2 container (range-coded) whose header declares `words` zero words."""
    import struct
    import zlib

    from mlkit.compress import formats

    text = json.dumps({**header, "numbers": 0, "words": words}).encode()
    head = struct.pack("<I", len(text)) + text
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    coded = comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH) + corpus._deflate_zeros(4 * words, -15)
    return formats.HEAD.pack(formats.MAGIC, 2, bytes(8), 1, len(head) + 4 * words, len(coded), zlib.crc32(coded)) + coded


def _rd_header(grid, shape=(16, 16), volume=False):
    header = _mlz_header(shape, volume=volume, suffix=".nii.gz" if volume else ".png", latent=8)
    del header["bits"]
    return {**header, "model": "rd", "grid": list(grid)}


MLZ_CASES = {
    "shape-100000000x1": (lambda: _mlz(_mlz_header((100_000_000, 1))), "over the"),
    "190MB-image-under-200M": (lambda: _mlz(_mlz_header((19000, 10000), suffix=".nii.gz")), "over the 200.0 MiB limit"),
    "100000000-planes": (lambda: _mlz(_mlz_header((2, 2, 100_000_000), volume=True, suffix=".nii.gz", latent=1)),
                         "over the"),
    "body-of-1000MB": (lambda: _mlz(_mlz_header((16, 16, 120_000), volume=True, suffix=".nii.gz", latent=8192)),
                       "over the"),
    "header-of-30MB": (lambda: _mlz(None, text=b" " * (30 << 20)), "the .mlz header, parsed"),
    "body-longer-than-stated": (lambda: _mlz(_mlz_header((8, 8)), extra=1 << 20), "decodes to more than"),
    "header-deep-list": (lambda: _mlz(None, text=b'{"bits":' + corpus.DEEP_LIST.encode() + b"}"), "nested"),
    "header-deep-dict": (lambda: _mlz(None, text=corpus.DEEP_DICT.encode()), "nested"),
    "header-nan": (lambda: _mlz(None, text=b'{"bits":NaN}'), "not a finite number"),
    "header-binary": (lambda: _mlz(None, text=bytes(range(256))), "not UTF-8"),
    "header-empty-then-1GB": (lambda: _mlz(None, text=b"", extra=1 << 30), "header"),
    "lo-hi-overflow": (lambda: _mlz(_mlz_header((8, 8), lo=-1e308, hi=1e308)), "span more than"),
    "float16-hi-1e6": (lambda: _mlz(_mlz_header((8, 8), "float16", hi=1e6, suffix=".nii.gz")), "span more than"),
    "png-suffix-float64": (lambda: _mlz(_mlz_header((8, 8), "float64")), "cannot hold"),
    "jpg-suffix-volume": (lambda: _mlz(_mlz_header((8, 8, 3), volume=True, suffix=".jpg")), "cannot hold"),
    "v2-rd-grid-60000x60000": (lambda: _mlz2(_rd_header((60000, 60000)), 16), "decoding the .mlz container"),
    "v2-rd-400000-planes": (lambda: _mlz2(_rd_header((4, 4), (16, 16, 400_000), True), 16), "decoding the .mlz container"),
    "v2-words-more-than-stored": (lambda: _mlz2(_rd_header((4, 4)), 1 << 28)[:-64], "truncated or padded"),
    "v2-model-gan": (lambda: _mlz2({**_mlz_header((8, 8)), "model": "gan"}, 4), "is not rd, hyper or ae"),
}


@pytest.mark.parametrize("label", MLZ_CASES)
def test_hostile_containers_are_refused_in_little_memory(label, monkeypatch):
    import tracemalloc

    from mlkit.compress import formats
    from mlkit.errors import ImageFormatError

    make, expected = MLZ_CASES[label]
    raw = make()
    monkeypatch.setenv(corpus.LIMIT_ENV, "200M")
    tracemalloc.start()
    try:
        with pytest.raises(ImageFormatError) as refused:
            formats.unpack(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert expected in str(refused.value)
    assert peak < MLZ_PEAK_MB << 20, f"{peak >> 20} MiB"


def test_a_container_still_reads_back_what_was_packed():
    import numpy as np

    from mlkit.compress import formats

    header = _mlz_header((8, 8, 3), volume=True, suffix=".nii.gz", latent=4)
    levels = np.random.default_rng(0).integers(0, 256, (3, 4))
    box = formats.unpack(formats.pack("00" * 8, header, np.full(4, 0.5), np.arange(4), levels))
    got_header, scale, offset, got = box["header"], box["scale"], box["offset"], box["levels"]
    assert box["version"] == 1 and got_header == header and (got == levels).all() and scale.tolist() == [0.5] * 4 and offset.tolist() == [0, 1, 2, 3]


# ---------------------------------------------------------------- hints name what the command has (issue 25, 8)


def test_corpus_covers_the_side_file_classes():
    """Issue 25's classes (5-9) are in the corpus, each with several variants."""
    groups = collections.Counter(c.group for c in corpus.cases())
    for group in ("limits", "side-files", "regress-csv", "view-geometry"):
        assert groups[group] >= 8, (group, groups[group])
    commands = {c.args[0] for c in corpus.cases() if c.group == "side-files"}
    assert {"regress", "generate", "train-gan", "homography"} <= commands


def _out_of_memory(img, seedseq):
    raise MemoryError


@pytest.mark.parametrize("jobs,hint", [(1, "try smaller sizes"), (4, "try fewer --jobs")])
def test_out_of_memory_suggests_fewer_jobs_only_with_several(jobs, hint):
    import numpy as np

    from mlkit.io import Image
    from mlkit.io.batch import _Worker

    failure = _Worker(None, _out_of_memory, 0, jobs=jobs).task(0, "scan.nii", img=Image(data=np.zeros((2, 2))))
    assert failure.message == f"out of memory ({hint})"


def test_stems_are_cut_by_bytes_on_a_character_boundary():
    from mlkit.io.names import safe_stem

    for text in ("漢" * 90, "é" * 200, "a" * 300, "😀" * 70, "x" + "漢" * 99):
        stem = safe_stem(text)
        assert len(stem.encode()) <= 200 and len(stem) <= 100 and text.startswith(stem)


# ---------------------------------------------------------------- hostile output targets and signals (issue 25, 1-4)

if __name__ != "__main__":  # a worker process (below) needs none of it
    from fuzz_outputs import *  # noqa: E402,F401,F403  (its tests are collected here)


if __name__ == "__main__":
    _serve()
