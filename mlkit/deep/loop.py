"""The one training loop: progress on stderr, metrics.jsonl, TensorBoard, checkpoints, Ctrl-C.

The model-specific part is a `step(batch) -> {name: scalar}` function; everything a user
expects around it (a bar with the loss terms and steps/s, a line per step in metrics.jsonl,
a checkpoint every N steps and on Ctrl-C, a loud stop when a loss is not finite) is here.
"""

import contextlib
import dataclasses
import math
import sys
import time

from mlkit import ui
from mlkit.errors import MlkitError
from mlkit.io.write import signals_held


@dataclasses.dataclass
class Loop:
    """Runs `step` over `batches` from `start` until global step `total`.

    save(step): writes a checkpoint; called every `checkpoint_every` steps, at the end and on
    Ctrl-C (then KeyboardInterrupt goes on up, so the command exits 130).
    every: {n: callback(step, record)} for periodic work such as sample grids.
    """

    total: int
    save: object
    metrics: object
    checkpoint_every: int = 500
    every: dict = dataclasses.field(default_factory=dict)
    summary: object = None  # a tf.summary writer, or None
    label: str = "training"
    steps_per_epoch: float = None
    hold_signals: bool = False  # for steps of a fraction of a second: see _step

    def run(self, step, batches, start=0):
        done = start
        batches = iter(batches)
        with progress(self.total, start, self.label) as show:
            try:
                started, first = time.monotonic(), start
                while done < self.total:
                    with self._held():
                        batch = next(batches, _END)
                        if batch is _END:
                            break
                        record = _plain(step(batch))
                        done += 1
                        self._record(done, record)
                        rate = (done - first) / max(time.monotonic() - started, 1e-9)
                        show(done, record, rate, self._epoch(done))
                        self._periodic(done, record)
            except KeyboardInterrupt:
                if done > start:
                    self.save(done)
                writer = getattr(self.summary, "writer", None)
                if writer is not None:
                    writer.flush()  # the process exits without the usual teardown
                raise
        if done > start and done % self.checkpoint_every:
            self.save(done)
        return done

    def _held(self):
        """With hold_signals, Ctrl-C waits for the step in flight and its bookkeeping: cancelling
        a running TensorFlow function can take seconds, and the step is then counted."""
        return signals_held() if self.hold_signals else contextlib.nullcontext()

    def _record(self, done, record):
        bad = [k for k, v in record.items() if not math.isfinite(v)]
        if bad:
            raise MlkitError(f"training diverged at step {done}: {bad[0]} is {record[bad[0]]}",
                             "lower the learning rate, or resume from the last checkpoint")
        self.metrics.write({"step": done, **record})
        if self.summary is not None:
            self.summary(done, record)

    def _periodic(self, done, record):
        if done % self.checkpoint_every == 0:
            self.save(done)
        for every, callback in self.every.items():
            if done % every == 0:
                callback(done, record)

    def _epoch(self, done):
        return done / self.steps_per_epoch if self.steps_per_epoch else None


_END = object()


def _plain(record):
    return {k: float(v) for k, v in record.items()}


@contextlib.contextmanager
def progress(total, start, label):
    """A rich bar with the count, the time left, the loss terms and steps/s, on stderr, only
    when a person is watching; in a narrow terminal the terms give way, the bar does not."""
    if ui.state["quiet"] or not sys.stderr.isatty():
        yield lambda *a: None
        return
    with ui.progress_bar() as bar:
        task = bar.add_task(label, total=total, completed=start, terms=[])

        def show(done, record, rate, epoch):
            bar.update(task, completed=done, terms=terms(record, rate, epoch))

        yield show


def terms(record, rate, epoch):
    """What the bar shows after the time left, most important first: the loss terms, the
    epoch, the speed."""
    shown = [f"{k} {v:.3g}" for k, v in record.items()]
    if epoch is not None:
        shown.append(f"epoch {epoch:.2f}")
    return [*shown, f"{rate:.1f} steps/s"]


def tensorboard(tf, logdir):
    """A summary(step, record) callback writing every scalar to TensorBoard, or None."""
    if not logdir:
        return None
    writer = tf.summary.create_file_writer(logdir)

    def summary(step, record):
        with writer.as_default(step=step):
            for name, value in record.items():
                tf.summary.scalar(name, value)

    summary.writer = writer
    return summary
