"""Per-epoch extras: what `aekit train` adds to each epoch at its defaults (checkpoint, best model, TensorBoard
scalars, images and histograms, progress lines), as a share of the epoch's own time, measured in one run.

An epoch's own time is fit's ``epoch_time`` (its steps and its validation); its extras are the rest of the cycle
from one epoch's start to the next one's (the callbacks' work between them). The end of the run (final metrics,
model file, figures, report, TensorBoard's projector) is timed apart. The reference is the epoch itself: the
figure is extras / epoch time (target: at most 0.05).

    python benchmarks/extras.py [--epochs 12] [--limit N] [--no-tensorboard]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from startup import cpu_name

import aekit


class Cycle(aekit.Callback):
    """The wall time from each epoch's start to the next one's (the last: to the end of training)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.end = None

    def on_epoch_begin(self, state) -> None:
        self.starts.append(time.perf_counter())

    def on_train_end(self, state) -> None:
        self.end = time.perf_counter()

    def cycles(self) -> list[float]:
        marks = [*self.starts, self.end]
        return [b - a for a, b in itertools.pairwise(marks)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--limit", type=int, default=None, help="train on the first N MNIST images (default: all 60,000)")
    ap.add_argument("--no-tensorboard", action="store_true")
    args = ap.parse_args()
    cycle = Cycle()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):  # the progress lines are written (to a pipe), not shown
            run = aekit.train(
                None,
                aekit.TrainConfig(epochs=args.epochs),
                limit=args.limit,
                out=Path(tmp) / "run",
                tensorboard=not args.no_tensorboard,
                verbose=1,
                callbacks=[cycle],
            )
        whole = time.perf_counter() - t0
        files = sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file())
    epochs = run.history.history["epoch_time"]
    extras = [c - e for c, e in zip(cycle.cycles(), epochs)]
    share = sum(extras) / sum(epochs)
    end_of_run = whole - (cycle.end - cycle.starts[0])
    print(f"CPU: {cpu_name()}; load average {os.getloadavg()[0]:.2f}")
    print(
        f"{args.epochs} epochs, "
        f"median epoch {statistics.median(epochs):.3f} s, median extras {statistics.median(extras) * 1e3:.1f} ms"
    )
    print("extras per epoch (ms): " + ", ".join(f"{v * 1e3:.0f}" for v in extras))
    print(
        f"extras / epoch time: {share:.4f} (target 0.05); end of run (metrics, files, report, projector): "
        f"{end_of_run:.2f} s; whole train(): {whole:.2f} s"
    )
    print(
        json.dumps(
            {
                "benchmark": "extras",
                "cpu": cpu_name(),
                "epochs": args.epochs,
                "limit": args.limit,
                "tensorboard": not args.no_tensorboard,
                "median_epoch_s": round(statistics.median(epochs), 4),
                "median_extras_s": round(statistics.median(extras), 4),
                "max_extras_s": round(max(extras), 4),
                "extras_over_epoch": round(share, 4),
                "target": 0.05,
                "end_of_run_s": round(end_of_run, 2),
                "whole_s": round(whole, 2),
                "run_files": len(files),
            }
        )
    )


if __name__ == "__main__":
    main()
