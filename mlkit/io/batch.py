"""Batch runs: many inputs, one output spec, --jobs and --shard, no stop on one bad input.

A command hands `run` a `work(img, seedseq) -> [Image, ...]` function (picklable:
a module-level function or a functools.partial of one). Each input image gets
its own random stream, derived from the run's seed and the image's position in
the unsharded input list, so outputs do not depend on --jobs or --shard.
"""

import collections
import concurrent.futures
import dataclasses
import multiprocessing
import os
import secrets
import signal
import sys
from collections import deque
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from mlkit import ui
from mlkit.errors import ImageFormatError, MlkitError, UsageError, bug_message
from mlkit.io.inputs import expand_inputs, input_label
from mlkit.io.names import safe_stem
from mlkit.io.read import read_images, stem
from mlkit.io.write import StreamWriter, cast, output_suffix, refuse_terminal, signals_held, write_image


def parse_shard(text):
    """'I/N' -> (I, N), with 0 <= I < N."""
    if text is None:
        return None
    try:
        index, count = (int(p) for p in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard takes I/N (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"--shard {text}: need 0 <= I < N")
    return index, count


def select_shard(paths, shard):
    items = list(enumerate(paths))
    if shard is None:
        return items
    index, count = shard
    return [(i, p) for i, p in items if i % count == index]


@dataclasses.dataclass
class Sink:
    """Where outputs go: a folder, one file, or the stream on stdout."""

    kind: str  # "folder", "file" or "stream"
    path: str = ""
    ext: str = ""
    dtype: str = ""

    def prepare(self, img):
        if self.dtype:
            img = img.replace(data=cast(img.data, self.dtype))
        return img

    def folder_path(self, img):
        """The output path for `img`: always a file directly inside the -o folder."""
        ext = self.ext or img.suffix or ".nii.gz"
        return os.path.join(self.path, safe_stem(img.name) + ext)


def make_sink(output, n_inputs, ext=None, dtype=None, stdout=None):
    stdout = stdout if stdout is not None else sys.stdout
    ext = _normalise_ext(ext)
    if output in (None, "-"):
        refuse_terminal(stdout)
        return Sink("stream", dtype=dtype or "")
    if output.endswith(("/", os.sep)) or os.path.isdir(output):
        return Sink("folder", output, ext, dtype or "")
    if not _has_image_suffix(output):
        raise UsageError(
            f"-o {output}: not a folder, and not a file type mlkit writes",
            "end a folder with / (-o out/), or name a .nii.gz, .nii, .png, .jpg, .tif, .bmp or .npy file",
        )
    if ext:
        raise UsageError(f"--ext {ext} applies to a folder -o, but -o names the file {output}", "drop --ext")
    if n_inputs > 1:
        raise UsageError(f"{n_inputs} inputs but -o names one file", "give a folder: -o out/")
    return Sink("file", output, dtype=dtype or "")


def _normalise_ext(ext):
    if not ext:
        return ""
    ext = ext if ext.startswith(".") else "." + ext
    output_suffix("x" + ext)  # raises for an unknown format
    return ext.lower()


def _has_image_suffix(path):
    try:
        output_suffix(path)
        return True
    except MlkitError:
        return False


@dataclasses.dataclass
class Written:
    """What a worker reports for an output it wrote itself."""

    path: str
    name: str
    entry: dict


@dataclasses.dataclass
class Failure:
    label: str
    message: str


def _count(n, noun):
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def run(inputs, work, output=None, *, jobs=1, shard=None, ext=None, dtype=None, seed=None, label="inputs",
        extras=None, on_output=None):
    """Run `work` over every input image and send the results to `output`.

    extras: one value per expanded input (a segmentation path, say), passed to
    `work` as `extra=`. on_output(name, last history entry) is called in this
    process for every output, in order.
    Returns the exit code: 0, or 1 when any input failed (each failure is
    reported on stderr as it happens, then a summary).
    """
    paths = expand_inputs(inputs)
    if extras is not None and len(extras) != len(paths):
        raise UsageError(f"{_count(len(paths), 'input')} but {_count(len(extras), 'segmentation')} (--seg)",
                         "give one --seg per input, in the same order")
    items = select_shard(paths, shard)
    sink = make_sink(output, len(paths), ext, dtype)
    _check_names(items, sink)
    seed = secrets.randbits(32) if seed is None else seed
    worker = _Worker(sink, work, seed, extras, jobs)
    collector = _Collector(sink, on_output)
    with ui.progress(len(items), label) as advance:
        for result in _execute(items, worker, jobs):
            collector.collect(result)
            advance()
    collector.finish()
    if collector.failures and collector.count > 1:
        ui.error(f"{len(collector.failures)} of {collector.count} {label} failed")
    return 1 if collector.failures else 0


def _check_names(items, sink):
    if sink.kind != "folder":
        return
    counts = collections.Counter(stem(p) for _, p in items if p != "-")
    dupes = sorted(s for s, c in counts.items() if c > 1)
    if dupes:
        raise UsageError(f"several inputs are named {dupes[0]!r}; their outputs would overwrite each other")


@dataclasses.dataclass
class _Worker:
    """Does the work for one input, in this process or a worker process."""

    sink: Sink
    work: object
    seed: int
    extras: list = None
    jobs: int = 1

    def task(self, index, path, subindex=0, img=None):
        """Worker side: read, work, and (for folders) write. Returns results or a Failure."""
        label = input_label(path, subindex, img.name if img is not None else None)
        try:
            images = [img] if img is not None else read_images(path)
            extra = {} if self.extras is None else {"extra": self.extras[index]}
            out = []
            for k, image in enumerate(images, start=subindex):
                seedseq = np.random.SeedSequence(self.seed, spawn_key=(index, k))
                for result in self.work(image, seedseq, **extra):
                    out.append(self._deliver(result))
            return out
        except MlkitError as exc:
            ui.traceback_if_debug()
            return Failure(label, str(exc))
        except MemoryError:
            return Failure(label, "out of memory (try fewer --jobs)" if self.jobs > 1 else "out of memory (try smaller sizes)")
        except Exception as exc:  # a bug: keep the batch going, say how to see it
            if ui.state["debug"]:
                raise
            return Failure(label, bug_message(exc))

    def _deliver(self, img):
        img = self.sink.prepare(img)
        if self.sink.kind == "folder":
            path = self.sink.folder_path(img)
            write_image(img, path)
            return Written(path, img.name, img.history[-1] if img.history else None)
        return img


class _Collector:
    """In the main process: takes results in input order, reports failures."""

    def __init__(self, sink, on_output=None):
        self.sink = sink
        self.on_output = on_output
        self.failures, self.count = [], 0
        self.written = set()
        self.held = None
        self.stream = StreamWriter() if sink.kind == "stream" else None

    def collect(self, result):
        self.count += 1
        if isinstance(result, Failure):
            self.failures.append(result)
            ui.error(f"{result.label}: {result.message}")
            return
        for item in result:
            self._take(item)

    def _take(self, item):
        if self.on_output is not None:
            self.on_output(item.name, item.entry if isinstance(item, Written) else (item.history or [None])[-1])
        if self.sink.kind == "folder":
            if item.path in self.written:
                self.failures.append(Failure(item.path, "written twice"))
                ui.error(f"two outputs are named {item.path}; the later one replaced the earlier")
            self.written.add(item.path)
        elif self.sink.kind == "stream":
            self.stream.write(item)
        elif self.held is not None:
            raise UsageError("the input holds several images but -o names one file", "give a folder: -o out/")
        else:
            self.held = item

    def finish(self):
        if self.sink.kind == "file" and self.held is not None:
            try:
                write_image(self.held, self.sink.path)
            except ImageFormatError as exc:  # what the format cannot hold: name the file it was for
                raise ImageFormatError(f"{self.sink.path}: {exc.message}", exc.hint) from None


def _tasks(items):
    """(index, path, subindex, img): stdin is split into its images here, in this process."""
    for index, path in items:
        if path == "-":
            count = 0
            try:
                for img in read_images("-"):
                    yield index, path, count, img
                    count += 1
            except MlkitError as exc:
                yield index, path, -1, Failure(input_label("-", count), str(exc))
        else:
            yield index, path, 0, None


def _run_task(worker, task):
    index, path, subindex, img = task
    if isinstance(img, Failure):
        return img
    return worker.task(index, path, subindex, img)


def _execute(items, worker, jobs):
    if jobs <= 1:
        for task in _tasks(items):
            yield _run_task(worker, task)
        return
    folder = worker.sink.path if worker.sink.kind == "folder" else None
    with process_pool(jobs, init_worker, (dict(ui.state),)) as pool:
        pending = deque()
        try:
            for task in _tasks(items):
                with signals_held():  # Ctrl-C waits until a worker being started is in the pool
                    pending.append(pool.submit(_run_task, worker, task))
                if len(pending) >= 2 * jobs:  # bounded memory: at most 2 results per worker waiting
                    yield _result(pending.popleft())
            while pending:
                yield _result(pending.popleft())
        except BaseException:
            stop_workers(pool, folder)
            raise


def _result(future):
    try:
        return future.result()
    except BrokenProcessPool:
        # Ctrl-C or kill -TERM to the whole process group: the workers' exit breaks the pool,
        # and this process's own handler raises KeyboardInterrupt at the next call, just below.
        # Otherwise a worker died on its own (the kernel's out-of-memory killer, say).
        raise MlkitError("a worker process stopped unexpectedly",
                         "it may have run out of memory: try fewer --jobs") from None


QUIET_TRACKER = "ignore:resource_tracker:UserWarning"


def process_pool(jobs, initializer, initargs):
    """A pool of `jobs` worker processes that stay silent when a terminal's Ctrl-C reaches them.

    The forkserver (the parent of every worker) starts with SIGINT and SIGTERM blocked, so a
    worker is born with them blocked and cannot die with a traceback before `init_worker`
    says what they do; a signal held here meanwhile is delivered when the block ends."""
    from multiprocessing import forkserver, resource_tracker

    # The resource tracker (started with the forkserver, with our -W flags) warns about the
    # semaphores of a pool stopped by Ctrl-C as it removes them: noise after "interrupted".
    if QUIET_TRACKER not in sys.warnoptions:
        sys.warnoptions.append(QUIET_TRACKER)
    resource_tracker.ensure_running()  # first: starting it unblocks SIGINT and SIGTERM here
    held = (signal.SIGINT, signal.SIGTERM)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)  # a mask, unlike a handler, outlives exec
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    context = multiprocessing.get_context("forkserver")
    return concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=initializer, initargs=initargs)


# How long a worker may take to remove its temporary file before it is killed.
STOP_GRACE_S = 0.5


def stop_workers(pool, folder=None):
    """Ctrl-C, SIGTERM or an error in the main process: stop every worker now, not after its task.

    Each worker gets SIGTERM, on which it removes its unfinished output's temporary file and
    exits at once; one that has not exited within the grace period (busy in a long C call)
    is killed, and the temporary files it left in `folder` are removed here.
    """
    from mlkit.io.write import remove_orphans

    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    killed = []
    for proc in processes:
        proc.join(STOP_GRACE_S)
        if proc.is_alive():
            proc.kill()
            proc.join(STOP_GRACE_S)
            killed.append(proc.pid)
    if killed and folder:
        remove_orphans(folder, killed)


def init_worker(state):
    """A worker ignores SIGINT (the main process decides what Ctrl-C means) and, on SIGTERM,
    removes its temporary files and exits at once: no traceback, nothing half written."""
    ui.state.update(state)
    ui.quiet_libraries()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))


def _worker_stop(signum, frame):
    from mlkit.io.write import remove_pending

    remove_pending()
    os._exit(130)


def write_images(images, output):
    """Write `images` to a file, a folder (one file each) or the mlkit stream; the paths."""
    sink = make_sink(output, len(images))
    if sink.kind == "stream":
        writer = StreamWriter()
        for img in images:
            writer.write(img)
        return ["-"] * len(images)
    if sink.kind == "file":
        write_image(images[0], sink.path)
        return [sink.path]
    os.makedirs(sink.path, exist_ok=True)
    paths = [sink.folder_path(img) for img in images]
    for img, path in zip(images, paths):
        write_image(img, path)
    return paths
