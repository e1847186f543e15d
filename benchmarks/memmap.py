"""Training from a memory-mapped .npy ten times MNIST's size (600,000 x 784 float32, about 1.9 GB): peak RSS
and training rate per image, against training on the same rows loaded into memory (before and after).

The file is written to /tmp block by block (never held in memory) and deleted at the end. Each run happens
in a fresh child process so that its peak RSS (resource.getrusage ru_maxrss) is its own; both validate on
the 10,000 MNIST test images every epoch. A last child runs `aekit train --data FILE` for one epoch (its own
validation split, checkpoint, metrics and figures) and reports its peak RSS too.

The rate ratio of separate children moves with the machine's phases (their in-memory figures, before and
after, have differed by 20%), so with ``--ab-rounds N`` (default 5) one more child holds the rows both ways,
a memmap and a copy in memory, and alternates one epoch of each N times on the same model (no validation):
the ratio per round cancels the machine's drift. Prints one JSON line at the end.

    python benchmarks/memmap.py [--copies 10] [--epochs 1] [--threads N] [--shuffle-block 64] [--ab-rounds 5]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_big_npy(path: Path, x: np.ndarray, copies: int) -> None:
    shape = (len(x) * copies, x.shape[1])
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(x.dtype), "fortran_order": False, "shape": shape}
        )
        for _ in range(copies):
            f.write(x.tobytes())


def child(path: str, epochs: int, threads: int | None, in_memory: bool, shuffle_block: int) -> None:
    import torch

    import aekit

    if threads:
        torch.set_num_threads(threads)
    x = np.load(path) if in_memory else aekit.load_array(path)
    assert isinstance(x, np.memmap) != in_memory, type(x)
    ds = aekit.load_dataset("mnist")
    xv = ds.x_test
    del ds
    model = aekit.Autoencoder()
    h = aekit.fit(model, x, None, epochs=epochs, validation_data=xv, verbose=0, shuffle_block=shuffle_block).history
    print(
        json.dumps(
            {
                "rows": len(x),
                "epoch_time": h["epoch_time"],
                "val_loss": h["val_loss"][-1],
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def ab_child(path: str, rounds: int, threads: int | None, shuffle_block: int) -> None:
    """Alternate one epoch from the memmap (runs of `shuffle_block`) and one from the rows in memory (shuffled
    one by one, as in-memory training does by default), `rounds` times after one round of warm-up, on one model;
    print the epoch times."""
    import torch

    import aekit

    if threads:
        torch.set_num_threads(threads)
    mapped, in_memory = aekit.load_array(path), np.load(path)
    model = aekit.Autoencoder()
    times: dict[str, list[float]] = {"memmap": [], "in_memory": []}
    for r in range(rounds + 1):  # round 0 warms up (allocator, autograd, caches) and is not counted
        for key, x, block in (("in_memory", in_memory, 1), ("memmap", mapped, shuffle_block)):
            t = aekit.fit(model, x, epochs=1, verbose=0, shuffle_block=block, seed=r).history["epoch_time"][0]
            if r:
                times[key].append(t)
    print(json.dumps(times))


def cli_child(path: str, epochs: int, threads: int | None, shuffle_block: int) -> None:
    """`aekit train --data FILE` in this process (a run folder in a temporary directory), then its peak RSS."""
    import torch

    from aekit.cli.main import main as aekit_main

    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as out:
        rc = aekit_main(
            [
                "train",
                "--data",
                path,
                "--epochs",
                str(epochs),
                "--shuffle-block",
                str(shuffle_block),
                "--quiet",
                "--no-tensorboard",
                "--out",
                str(Path(out) / "run"),
            ]
        )
    print(json.dumps({"rc": rc, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(path: Path, args, in_memory: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", str(path), "--epochs", str(args.epochs)] + (
        ["--in-memory"] if in_memory else []
    )
    cmd += ["--shuffle-block", str(1 if in_memory else args.shuffle_block)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    res["rate"] = res["rows"] / min(res["epoch_time"])
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--in-memory", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cli-child", help=argparse.SUPPRESS)
    ap.add_argument("--ab-child", help=argparse.SUPPRESS)
    ap.add_argument("--ab-rounds", type=int, default=5, help="rounds of the alternating child (0: none)")
    ap.add_argument(
        "--shuffle-block",
        type=int,
        default=1,
        help="TrainConfig.shuffle_block of the memmap run (the in-memory run always shuffles rows one by one)",
    )
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.epochs, args.threads, args.in_memory, args.shuffle_block)
    if args.cli_child:
        return cli_child(args.cli_child, args.epochs, args.threads, args.shuffle_block)
    if args.ab_child:
        return ab_child(args.ab_child, args.ab_rounds, args.threads, args.shuffle_block)
    import aekit

    ds = aekit.load_dataset("mnist")
    fd, name = tempfile.mkstemp(suffix=".npy", dir="/tmp")
    os.close(fd)
    path = Path(name)
    try:
        t0 = time.perf_counter()
        write_big_npy(path, ds.x_train, args.copies)
        print(f"wrote {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.1f} s", flush=True)
        del ds
        before = run_child(path, args, in_memory=True)
        res = run_child(path, args, in_memory=False)
        after = run_child(path, args, in_memory=True)
        cmd = [
            sys.executable,
            __file__,
            "--cli-child",
            str(path),
            "--epochs",
            "1",
            "--shuffle-block",
            str(args.shuffle_block),
        ]
        threads = ["--threads", str(args.threads)] if args.threads else []
        cli = json.loads(
            subprocess.run(cmd + threads, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        )
        ab = None
        if args.ab_rounds:
            cmd = [
                sys.executable,
                __file__,
                "--ab-child",
                str(path),
                "--ab-rounds",
                str(args.ab_rounds),
                "--shuffle-block",
                str(args.shuffle_block),
            ]
            ab = json.loads(
                subprocess.run(cmd + threads, check=True, capture_output=True, text=True)
                .stdout.strip()
                .splitlines()[-1]
            )
    finally:
        path.unlink(missing_ok=True)
    rate, ref = res["rate"], (before["rate"] + after["rate"]) / 2
    print(
        f"memmap: {res['rows']:,} rows, {min(res['epoch_time']):.2f} s/epoch = {rate:,.0f} images/s, "
        f"peak RSS {res['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"in memory (same rows, before/after): {before['rate']:,.0f} / {after['rate']:,.0f} images/s, "
        f"peak RSS {before['peak_rss_mib']:.0f} MiB"
    )
    print(f"aekit train --data (1 epoch, run folder written): peak RSS {cli['peak_rss_mib']:.0f} MiB")
    ab_ratios = ab_median = None
    if ab:
        ab_ratios = [round(m / p, 3) for m, p in zip(ab["in_memory"], ab["memmap"])]
        ab_median = float(np.median(ab_ratios))
        print(
            "alternating in one process, s/epoch: in memory "
            + " ".join(f"{t:.2f}" for t in ab["in_memory"])
            + ", memmap "
            + " ".join(f"{t:.2f}" for t in ab["memmap"])
            + f"; rate ratio per round {ab_ratios}, median {ab_median:.3f}"
        )
    print(
        json.dumps(
            {
                "benchmark": "memmap",
                "rows": res["rows"],
                "file_gib": round(res["rows"] * 784 * 4 / 2**30, 2),
                "peak_rss_mib": round(res["peak_rss_mib"]),
                "memmap_images_per_s": round(rate),
                "in_memory_images_per_s": round(ref),
                "rate_ratio_memmap_to_in_memory": round(rate / ref, 2),
                "val_loss": round(res["val_loss"], 4),
                "in_memory_val_loss": round(before["val_loss"], 4),
                "in_memory_peak_rss_mib": round(before["peak_rss_mib"]),
                "cli_peak_rss_mib": round(cli["peak_rss_mib"]),
                "cli_rc": cli["rc"],
                "shuffle_block": args.shuffle_block,
                "ab_rate_ratios": ab_ratios,
                "ab_median_ratio": ab_median,
                "ab_epoch_times": ab,
                "threads": args.threads,
            }
        )
    )


if __name__ == "__main__":
    main()
