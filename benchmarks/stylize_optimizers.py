"""The loss reached against wall time: mlkit's default (L-BFGS from noise), mlkit's Adam
(lr 10 in 0-255 pixel units, from noise), and the TensorFlow tutorial's recipe (Adam lr 0.02
on a 0-1 image, beta1 0.99, epsilon 0.1, from the content, 1000 steps), all on mlkit's loss,
the same pictures, weights and size, one after another on this machine.

    python benchmarks/stylize_optimizers.py [--size 128] [--tutorial-steps 1000] [--weights FILE.h5]

The tutorial's optimiser on a 0-1 image is run as mlkit's Adam on its 0-255 image with lr
0.02 x 255 and epsilon 0.1 / 255: the same updates exactly (the gradient is 255 times smaller
there). Without --weights, VGG19 with seeded random weights. Prints, for each method, the loss
at checkpoints of wall time and when (if) it first reaches the tutorial's final loss.
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from stylize_speed import pictures, weights_file  # noqa: E402


def run(paths, weights, log, **knobs):
    from mlkit.style import Settings, stylize

    stylize(paths["astronaut"], [paths["coffee"]], Settings(**knobs), weights=weights, seed=1, device="cpu", log=log)
    return [json.loads(line) for line in open(log)]


def reached(lines, target):
    """(iteration, seconds) of the first line at or below `target`, else None."""
    return next(((r["iteration"], r["seconds"]) for r in lines if r["loss"] <= target), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--tutorial-steps", type=int, default=1000)
    parser.add_argument("--lbfgs-iterations", type=int, default=300)
    parser.add_argument("--adam-iterations", type=int, default=500)
    parser.add_argument("--weights")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths, weights = pictures(folder), weights_file(folder, args.weights)
        common = {"size": args.size, "stop_delta": 0.0}
        methods = {
            "mlkit default (L-BFGS, noise)": dict(iterations=args.lbfgs_iterations, **common),
            "tutorial (Adam 0.02/0.99/0.1, content)": dict(
                optimizer="adam", init="content", lr=0.02 * 255, beta1=0.99, epsilon=0.1 / 255,
                iterations=args.tutorial_steps, **common),
            "mlkit Adam (lr 10, noise)": dict(optimizer="adam", iterations=args.adam_iterations, **common),
        }
        logs = {}
        for name, knobs in methods.items():
            logs[name] = run(paths, weights, os.path.join(folder, "log.jsonl"), **knobs)
            last = logs[name][-1]
            print(f"{name}: {last['iteration']} iterations, {last['seconds']:.1f} s, "
                  f"best loss {min(r['loss'] for r in logs[name]):.4g}", flush=True)
    tutorial = logs["tutorial (Adam 0.02/0.99/0.1, content)"]
    target, tutorial_seconds = min(r["loss"] for r in tutorial), tutorial[-1]["seconds"]
    print(f"\n{args.size} px, CPU {os.cpu_count()} cores, {'given' if args.weights else 'random'} weights; "
          f"target: the tutorial's {len(tutorial)}-step loss {target:.4g} after {tutorial_seconds:.1f} s")
    marks = [t for t in (5, 10, 20, 40, 80, 160, 320, 640) if t < tutorial_seconds] + [tutorial_seconds]
    print("| method | " + " | ".join(f"loss at {t:.0f} s" for t in marks) + " | reaches the target at | share of tutorial's time |")
    print("|---|" + "---|" * (len(marks) + 2))
    for name, lines in logs.items():
        at = [min((r["loss"] for r in lines if r["seconds"] <= t), default=float("nan")) for t in marks]
        hit = reached(lines, target)
        when = f"iteration {hit[0]}, {hit[1]:.1f} s" if hit else "not reached"
        share = f"{hit[1] / tutorial_seconds:.2f}" if hit else "-"
        print(f"| {name} | " + " | ".join(f"{v:.4g}" for v in at) + f" | {when} | {share} |")


if __name__ == "__main__":
    main()
