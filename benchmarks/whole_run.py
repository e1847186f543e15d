"""The whole tutorial run, as a user waits for it: `aekit train` at its defaults (MNIST, 784-32-784, adadelta,
--epochs epochs, TensorBoard, checkpoints, figures, report) against a bare PyTorch script that loads MNIST and
trains the same model the same epochs (benchmarks/_bare_tutorial.py), both timed as whole processes, one after
the other, in this one run. Target: aekit's wall time at most 0.8 of the script's.

    python benchmarks/whole_run.py [--epochs 100] [--first bare|aekit]

Both run with the environment given (set OMP_NUM_THREADS alike for both, or leave it to torch). Ends with one
JSON line: both wall times, their ratio, both final val losses, the CPU and the load average around the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

# benchmarks/ is not a package: startup is importable only once HERE is on sys.path (above)
from startup import cpu_name  # noqa: E402


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return wall, proc.stdout + proc.stderr


def last_val_loss(text: str) -> float | None:
    found = re.findall(r"val_loss[:=] ?([0-9.]+)", text)
    return float(found[-1]) if found else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--first", choices=("bare", "aekit"), default="bare", help="which process runs first")
    args = ap.parse_args()
    from aekit.data.datasets import find_dataset

    folder = find_dataset("mnist")
    path = os.pathsep.join(filter(None, [str(HERE.parent / "src"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "bare": [sys.executable, str(HERE / "_bare_tutorial.py"), str(folder), "--epochs", str(args.epochs)],
            "aekit": [
                sys.executable,
                "-m",
                "aekit",
                "train",
                "--epochs",
                str(args.epochs),
                "--out",
                str(Path(tmp) / "run"),
            ],
        }
        order = [args.first, "aekit" if args.first == "bare" else "bare"]
        results = {name: timed(runs[name], env) for name in order}
        files = sorted(str(p.relative_to(Path(tmp) / "run")) for p in (Path(tmp) / "run").iterdir())
    (aekit_s, aekit_out), (bare_s, bare_out) = results["aekit"], results["bare"]
    print(f"CPU: {cpu_name()}; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(
        f"aekit train --epochs {args.epochs} (whole process): {aekit_s:.1f} s, val_loss {last_val_loss(aekit_out)}; "
        f"run folder: {', '.join(files)}"
    )
    print(
        f"bare PyTorch script, {args.epochs} epochs (whole process): {bare_s:.1f} s, val_loss {last_val_loss(bare_out)}"
    )
    print(f"ratio aekit / bare: {aekit_s / bare_s:.3f} (target 0.8)")
    print(
        json.dumps(
            {
                "benchmark": "whole_run",
                "cpu": cpu_name(),
                "epochs": args.epochs,
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                "aekit_s": round(aekit_s, 2),
                "bare_s": round(bare_s, 2),
                "ratio": round(aekit_s / bare_s, 3),
                "target": 0.8,
                "aekit_val_loss": last_val_loss(aekit_out),
                "bare_val_loss": last_val_loss(bare_out),
                "load_average_before": round(load_before, 2),
                "load_average_after": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
