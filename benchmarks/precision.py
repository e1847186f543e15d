"""float32 against bfloat16 training (TrainConfig(precision=...)), eager and compiled, in one process: each
variant trains its own model from the same initial weights, in alternating blocks of epochs, so that machine
noise hits all alike. Prints each variant's median seconds per epoch (each block's first epoch left out: a new
fit call may compile again), its speed-up over float32 eager, and its last validation loss; then one JSON line.

    python benchmarks/precision.py [--threads N] [--blocks 5] [--epochs-per-block 3] [--compile] [--deep] [--limit N]

--deep trains the deep 784-1000-500-250-30 model (on --limit images, default 12,800) instead of the tutorial's.
"""

import argparse
import json
import statistics
import time

import torch

import aekit
from aekit.training.callbacks.base import TrainState
from aekit.training.optim import make_optimizer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--epochs-per-block", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="also both precisions with a compiled step")
    ap.add_argument("--deep", action="store_true", help="the deep 784-1000-500-250-30 model")
    ap.add_argument("--limit", type=int, default=None, help="training images (default: 60,000; 12,800 with --deep)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = aekit.load_dataset("mnist")
    limit = args.limit or (12800 if args.deep else 60000)
    x, xv = ds.x_train[:limit], ds.x_test
    model_cfg = aekit.ModelConfig(hidden=(1000, 500, 250), encoding_dim=30) if args.deep else aekit.ModelConfig()
    variants = {}
    for compiled in (False, True) if args.compile else (False,):
        for precision in ("float32", "bfloat16"):
            cfg = aekit.TrainConfig(epochs=1, compile=compiled, precision=precision)
            model = aekit.Autoencoder(model_cfg)
            state = TrainState(
                model, make_optimizer(model, cfg), cfg, torch.Generator().manual_seed(0), aekit.History()
            )
            variants[(compiled, precision)] = (model, cfg, state, [])
    t0 = time.perf_counter()
    per = args.epochs_per_block
    for block in range(args.blocks + 1):  # block 0 warms up (and compiles); not timed
        for model, cfg, state, times in variants.values():
            h = aekit.fit(
                model, x, x, cfg, validation_data=(xv, xv), verbose=0, state=state, epochs=state.epoch + per
            ).history
            if block:
                times.extend(h["epoch_time"][-per + 1 :] if per > 1 else h["epoch_time"][-1:])
    base = statistics.median(variants[(False, "float32")][3])
    rows = []
    for (compiled, precision), (model, cfg, state, times) in variants.items():
        med = statistics.median(times)
        rows.append(
            {
                "compile": compiled,
                "precision": precision,
                "s_per_epoch": round(med, 4),
                "speedup_vs_float32_eager": round(base / med, 2),
                "val_loss": round(state.history.history["val_loss"][-1], 4),
                "epochs": state.epoch,
            }
        )
        print(
            f"{precision:9s} {'compiled' if compiled else 'eager':8s} {med:.4f} s/epoch  {base / med:.2f}x  "
            f"val_loss {rows[-1]['val_loss']:.4f} after {state.epoch} epochs",
            flush=True,
        )
    print(
        json.dumps(
            {
                "benchmark": "precision",
                "model": "deep" if args.deep else "tutorial",
                "images": len(x),
                "threads": torch.get_num_threads(),
                "rows": rows,
                "total_s": round(time.perf_counter() - t0, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
