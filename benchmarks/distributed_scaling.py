"""Seconds per epoch of `aekit train` in 1 process and under `torchrun --nproc-per-node N`, on one machine.

Runs, in this order and on the same data: one process with 1 thread (the reference), N processes with 1
thread each (torchrun, gloo on 127.0.0.1), and one process with N threads (the same cores, no DDP). Each is
a real `python -m aekit train` subprocess; the figure is the run's mean `seconds_per_epoch` from
metrics.json, which leaves out start-up and data loading. Prints a table, then one JSON line.

    PYTHONPATH=src python benchmarks/distributed_scaling.py --limit 20000 --epochs 3 --nproc 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def run(out: Path, train_args: list[str], *, nproc: int, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": str(threads), "GLOO_SOCKET_IFNAME": "lo"}
    if nproc == 1:
        cmd = [sys.executable, "-m", "aekit"]
    else:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--local-addr",
            "127.0.0.1",
            "--nproc-per-node",
            str(nproc),
            "-m",
            "aekit",
        ]
    subprocess.run(
        [*cmd, "train", *train_args, "--out", str(out), "-q", "--no-tensorboard"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--nproc", type=int, default=2)
    a = ap.parse_args()
    train_args = ["--limit", str(a.limit), "--epochs", str(a.epochs), "--batch-size", str(a.batch_size)]
    with tempfile.TemporaryDirectory() as tmp:
        one = run(Path(tmp) / "one", train_args, nproc=1, threads=1)
        ddp = run(Path(tmp) / "ddp", train_args, nproc=a.nproc, threads=1)
        thr = run(Path(tmp) / "thr", train_args, nproc=1, threads=a.nproc)
    rows = [
        ("1 process, 1 thread (reference)", one),
        (f"torchrun {a.nproc} processes, 1 thread each", ddp),
        (f"1 process, {a.nproc} threads", thr),
    ]
    print(f"{'setup':<40}{'s/epoch':>10}{'speed-up':>10}{'val_loss':>12}")
    for name, m in rows:
        print(
            f"{name:<40}{m['seconds_per_epoch']:>10.3f}"
            f"{one['seconds_per_epoch'] / m['seconds_per_epoch']:>10.2f}{m['val_loss']:>12.6f}"
        )
    print(
        json.dumps(
            {
                "benchmark": "distributed_scaling",
                "limit": a.limit,
                "epochs": a.epochs,
                "batch_size": a.batch_size,
                "nproc": a.nproc,
                "cpu_count": os.cpu_count(),
                "s_per_epoch_1proc": one["seconds_per_epoch"],
                "s_per_epoch_ddp": ddp["seconds_per_epoch"],
                "s_per_epoch_1proc_nthreads": thr["seconds_per_epoch"],
                "ddp_speedup": one["seconds_per_epoch"] / ddp["seconds_per_epoch"],
                "threads_speedup": one["seconds_per_epoch"] / thr["seconds_per_epoch"],
                "val_loss_gap_ddp_vs_1proc": abs(ddp["val_loss"] - one["val_loss"]),
            }
        )
    )


if __name__ == "__main__":
    main()
