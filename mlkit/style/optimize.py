"""Optimising the image: L-BFGS (scipy's L-BFGS-B, one call per scale, so its curvature
memory is never restarted; its bounds keep pixels inside 0-255) or Adam (one compiled step),
and what happens after each iteration: the log line, the bar, checkpoints, the best image, the
stop rule."""

import json
import math
import time

import numpy as np

from mlkit.errors import MlkitError

WINDOW = 10  # iterations the stop rule averages over


class Recorder:
    """The per-iteration bookkeeping shared by all scales: --log lines, the progress bar,
    checkpoint images. `checkpoint(iteration, image)` is set per scale."""

    def __init__(self, log=None, show=None, every=0):
        self.log, self.show, self.every = log, show or (lambda *a: None), every
        self.checkpoint = None
        self.iteration, self.started = 0, time.monotonic()

    def seconds(self):
        return time.monotonic() - self.started

    def record(self, terms, image):
        bad = [k for k, v in terms.items() if not math.isfinite(v)]
        if bad:
            raise MlkitError(f"the optimisation diverged at iteration {self.iteration + 1}: {bad[0]} is {terms[bad[0]]}",
                             "lower --lr or the loss weights, or use --optimizer lbfgs")
        self.iteration += 1
        seconds = self.seconds()
        if self.log is not None:
            self.log.write(json.dumps({"iteration": self.iteration, **terms, "seconds": round(seconds, 4)}) + "\n")
            self.log.flush()
        self.show(self.iteration, terms, self.iteration / max(seconds, 1e-9), None)
        if self.every and self.iteration % self.every == 0 and self.checkpoint is not None:
            self.checkpoint(self.iteration, image)


class Scale:
    """One scale's run: keeps the best image seen and says when the loss has stopped falling
    (improving by less than `stop_delta` of itself per iteration, over the last WINDOW)."""

    def __init__(self, recorder, stop_delta=0.0):
        self.recorder, self.stop_delta = recorder, stop_delta
        self.best, self.best_terms, self.bests = None, None, []

    def __call__(self, terms, image):
        self.recorder.record(terms, image)
        if self.best is None or terms["loss"] < self.best_terms["loss"]:
            self.best, self.best_terms = np.array(image, np.float32), terms
        self.bests.append(self.best_terms["loss"])
        return self.converged()

    def converged(self):
        if not self.stop_delta or len(self.bests) <= WINDOW:
            return False
        old, new = self.bests[-WINDOW - 1], self.bests[-1]
        return old - new <= self.stop_delta * WINDOW * abs(new)


def lbfgs(objective, x0, low, high, iterations, report):
    """Up to `iterations` L-BFGS-B iterations from x0; report(terms, image) after each, True
    stops. Several evaluations may happen per iteration (the line search)."""
    from scipy.optimize import Bounds, minimize

    shape, seen = x0.shape, {}

    def fun(flat):
        terms, grad = objective.evaluate(flat.reshape(shape))
        seen.clear()
        seen[terms["loss"]] = terms
        return terms["loss"], grad.ravel()

    def callback(intermediate_result):
        x = intermediate_result.x
        terms = seen.get(float(intermediate_result.fun)) or objective.evaluate(x.reshape(shape))[0]
        if report(terms, x.reshape(shape)):
            raise StopIteration

    minimize(fun, x0.ravel().astype(np.float64), jac=True, method="L-BFGS-B", callback=callback,
             bounds=Bounds(np.ravel(low), np.ravel(high)),
             options={"maxiter": iterations, "maxfun": 20 * iterations, "ftol": 0.0, "gtol": 0.0})


def adam(objective, x0, low, high, iterations, report, **hyper):
    """`iterations` Adam steps from x0 (hyper: lr, beta1, beta2, epsilon)."""
    from mlkit.style.model import Adam

    optimizer = Adam(objective, x0, low, high, **hyper)
    for _ in range(iterations):
        if report(*optimizer.step()):
            return
