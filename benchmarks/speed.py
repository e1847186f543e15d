"""Seconds per training epoch of aekit.fit against two plain PyTorch loops (benchmarks/_reference.py): the lean
one, and the PyTorch tutorials' DataLoader loop (the issue's "plain PyTorch eager loop"), timed in the same
process on the same data, in alternating blocks so that machine noise hits all alike.

The tutorial's model (784-32-784, adadelta, batch 256, shuffled, validation on the 10,000 test images
every epoch) and, with --deep, the deep 784-1000-500-250-30 model. Prints one JSON line at the end.

    python benchmarks/speed.py [--blocks 3] [--epochs-per-block 2] [--threads N] [--deep] [--compile] [--bfloat16]
                               [--autograd]

Each row's "ratio" is aekit's median epoch over the lean loop's (issue 20's target for the eager epoch: <= 0.6),
"cpu_ratio" the same in CPU seconds (steadier on a shared machine); "gradients" says how aekit took them:
"analytic" (closed form, `aekit.training.analytic`, the default where it applies) or "autograd".
--autograd adds the tutorial row with TrainConfig(analytic_grad=False).

--compile adds a row per model trained with TrainConfig(compile=True): its compile time (the first fit call's
extra seconds) and its steady epochs, each block's first epoch left out (a new fit call may compile again).
--bfloat16 adds the same rows trained with TrainConfig(precision="bfloat16") (the products in bfloat16 under
autocast; the reference loops stay float32, as users write them).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _reference import dataloader_epoch, reference_epoch  # noqa: E402
from _reference import make_optimizer as ref_optimizer
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import aekit  # noqa: E402
from aekit.training.callbacks.base import TrainState
from aekit.training.optim import make_optimizer  # noqa: E402


class CpuTimer(aekit.Callback):
    """CPU seconds of each epoch (process time), robust to other processes taking the cores."""

    def __init__(self):
        self.times = []

    def on_epoch_begin(self, state):
        self.t0 = time.process_time()

    def on_epoch_end(self, state, logs):
        self.times.append(time.process_time() - self.t0)


def compare(
    name: str,
    model_cfg: aekit.ModelConfig,
    x,
    xv,
    blocks: int,
    per_block: int,
    batch_size: int = 256,
    compile: bool = False,
    precision: str = "float32",
    analytic_grad: bool = True,
) -> dict:
    cfg = aekit.TrainConfig(
        epochs=1, batch_size=batch_size, compile=compile, precision=precision, analytic_grad=analytic_grad
    )
    ours = aekit.Autoencoder(model_cfg)
    state = TrainState(ours, make_optimizer(ours, cfg), cfg, torch.Generator().manual_seed(0), aekit.History())
    ref = aekit.Autoencoder(model_cfg)
    ref_opt, ref_gen = ref_optimizer(ref, "adadelta", 1.0), torch.Generator().manual_seed(0)
    xt, xvt = torch.from_numpy(x), torch.from_numpy(xv)
    dl = aekit.Autoencoder(model_cfg)
    dl_opt = ref_optimizer(dl, "adadelta", 1.0)
    loader = DataLoader(
        TensorDataset(xt), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    dl_times = []
    ours_times, ref_times, ref_hist, ref_cpu, cpu = [], [], [], [], CpuTimer()
    compile_s = None
    if compile:  # compiling happens in the first epoch of each fit call: one warm-up call, timed, then blocks
        t0 = time.perf_counter()
        h = aekit.fit(ours, x, x, cfg, validation_data=(xv, xv), verbose=0, state=state, epochs=state.epoch + 2).history
        compile_s = round(time.perf_counter() - t0 - 2 * h["epoch_time"][-1], 1)
        for _ in range(2):  # the reference trains the same two epochs, so that both end on the same epoch
            reference_epoch(ref, ref_opt, xt, xvt, batch_size, ref_gen)
    for _ in range(blocks):
        for _ in range(per_block):
            c0 = time.process_time()
            ref_hist.append(reference_epoch(ref, ref_opt, xt, xvt, batch_size, ref_gen))
            ref_cpu.append(time.process_time() - c0)
            ref_times.append(ref_hist[-1]["epoch_time"])
            dl_times.append(dataloader_epoch(dl, dl_opt, loader, xvt)["epoch_time"])
        h = aekit.fit(
            ours,
            x,
            x,
            cfg,
            validation_data=(xv, xv),
            verbose=0,
            state=state,
            callbacks=[cpu],
            epochs=state.epoch + per_block,
        ).history
        ours_times.extend(h["epoch_time"][-per_block:])
    if compile and per_block > 1:  # a new fit call may compile again (in-process cache): drop each block's first epoch
        ours_times = [t for i, t in enumerate(ours_times) if i % per_block]
    row = {
        "model": name,
        "compile": compile,
        "precision": precision,
        "gradients": state.gradients,  # "analytic" (closed form) or "autograd"
        "compile_s": compile_s,
        "epochs": len(ours_times),
        "aekit_s_per_epoch": round(statistics.median(ours_times), 3),
        "reference_s_per_epoch": round(statistics.median(ref_times), 3),
        "speedup": round(statistics.median(ref_times) / statistics.median(ours_times), 2),
        "ratio": round(statistics.median(ours_times) / statistics.median(ref_times), 3),  # issue 20's target: <= 0.6
        "cpu_ratio": round(statistics.median(cpu.times) / statistics.median(ref_cpu), 3),
        "aekit_cpu_s_per_epoch": round(statistics.median(cpu.times), 3),
        "reference_cpu_s_per_epoch": round(statistics.median(ref_cpu), 3),
        "cpu_speedup": round(statistics.median(ref_cpu) / statistics.median(cpu.times), 2),
        "aekit_loss": round(h["loss"][-1], 4),
        "reference_loss": round(ref_hist[-1]["loss"], 4),
        "aekit_val_loss": round(h["val_loss"][-1], 4),
        "reference_val_loss": round(ref_hist[-1]["val_loss"], 4),
        "dataloader_s_per_epoch": round(statistics.median(dl_times), 3),
        "speedup_vs_dataloader": round(statistics.median(dl_times) / statistics.median(ours_times), 2),
    }
    tags = (("bf16", precision == "bfloat16"), ("compile", compile), (state.gradients, True))
    label = name + "".join(f" ({t})" for t, on in tags if on)
    print(
        f"{label:27s} aekit {row['aekit_s_per_epoch']:.3f} s/epoch   "
        f"reference {row['reference_s_per_epoch']:.3f} s/epoch   "
        f"ratio {row['ratio']:.3f} (CPU time {row['cpu_ratio']:.3f})   "
        f"loss {row['aekit_loss']:.4f} vs {row['reference_loss']:.4f}   "
        f"val_loss {row['aekit_val_loss']:.4f} vs {row['reference_val_loss']:.4f}   "
        f"DataLoader loop {row['dataloader_s_per_epoch']:.3f} s/epoch ({row['speedup_vs_dataloader']:.2f}x)",
        flush=True,
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=3, help="alternating blocks (reference, then aekit)")
    ap.add_argument("--epochs-per-block", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--deep", action="store_true", help="also the deep 784-1000-500-250-30 model (slow)")
    ap.add_argument(
        "--compile", action="store_true", help="also each model with TrainConfig(compile=True) (torch.compile)"
    )
    ap.add_argument("--bfloat16", action="store_true", help="also each row with TrainConfig(precision='bfloat16')")
    ap.add_argument("--deep-limit", type=int, default=60000, help="training images for the deep row")
    ap.add_argument(
        "--autograd", action="store_true", help="also the tutorial with TrainConfig(analytic_grad=False) (autograd)"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = aekit.load_dataset("mnist")
    t0 = time.perf_counter()
    precisions = ("float32", "bfloat16") if args.bfloat16 else ("float32",)
    rows = []
    for precision in precisions:
        variants = [{}]  # the default step; then, as asked, autograd's step and the compiled one
        variants += [{"analytic_grad": False}] if args.autograd else []
        variants += [{"compile": True}] if args.compile else []
        for extra in variants:
            rows.append(
                compare(
                    "tutorial",
                    aekit.ModelConfig(),
                    ds.x_train,
                    ds.x_test,
                    args.blocks,
                    args.epochs_per_block,
                    precision=precision,
                    **extra,
                )
            )
    if args.deep:
        deep = aekit.ModelConfig(hidden=(1000, 500, 250), encoding_dim=30)
        for precision in precisions:
            rows.append(compare("deep", deep, ds.x_train[: args.deep_limit], ds.x_test, 1, 1, precision=precision))
            if args.compile:
                rows.append(
                    compare(
                        "deep", deep, ds.x_train[: args.deep_limit], ds.x_test, 1, 2, compile=True, precision=precision
                    )
                )
    print(
        json.dumps(
            {
                "benchmark": "speed",
                "threads": torch.get_num_threads(),
                "rows": rows,
                "total_s": round(time.perf_counter() - t0, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
