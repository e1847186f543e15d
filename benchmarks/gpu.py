"""aekit on a GPU, in one run of under 5 minutes: the GPU tests, then four figures, each against the PyTorch tutorials'
loop run in the same process on the same device (the reference: ``DataLoader(TensorDataset(x), batch_size,
shuffle=True)`` over host tensors, each batch copied to the device, ``.item()`` every step).

1. the tutorial: 100 epochs of 784-32-784, adadelta, batch 256, on MNIST's 60,000 images, validation on its 10,000
   test images every epoch: wall time of the ``fit`` call (placing the rows included), training time (the epochs
   summed), s/epoch (median, the first, warm-up epoch left out), final val BCE, and its distance to the CPU's 0.0941
   (README). The reference runs --ref-epochs epochs; its ratio is per epoch.
2. ``--recipe fast`` (Adam lr 1e-2, one-cycle, batch 512, 10 epochs): training seconds until val BCE ≤ 0.0982 (the
   tutorial's), the reference trained the same way.
3. the conv kind (the Keras blog's 16-8-8 convolutional autoencoder): s/epoch (median, warm-up left out).
4. encoding: MNIST's 70,000 images, tiled --encode-copies times, held in device memory: ``aekit.encode`` images/s
   (codes returned to the host as numpy), and the bare ``model.encode`` with the codes left on the device.

A GPU runs asynchronously: every clock is read after ``torch.cuda.synchronize()`` (aekit's epoch times end with the
epoch's one read of its losses, which waits for the GPU). Prints a table and, last, one JSON line.

    PYTHONPATH=src python3 benchmarks/gpu.py                # on a GPU machine (needs only torch, numpy: no pip)
    PYTHONPATH=src python3 benchmarks/gpu.py --quick --device cpu   # tiny sizes: checks that it runs (~10 s)

Targets on one H100 (issue 19): tutorial ≤ 3 s of training time with the CPU's val BCE ± 0.001; fast recipe to 0.0982
in ≤ 0.5 s; encoding ≥ 200 M images/s; each ≥ 3× the reference.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _reference import make_optimizer as plain_optimizer  # noqa: E402  (torch.optim as the tutorials use it)

import aekit  # noqa: E402
from aekit.config import recipe  # noqa: E402
from aekit.devices import resolve_device, synchronize  # noqa: E402
from aekit.training.optim import lr_at  # noqa: E402

CPU_TUTORIAL_VAL_BCE = 0.0941  # README: the tutorial's 100 epochs on the CPU
TARGET_VAL_BCE = 0.0982  # the Keras tutorial's own final val BCE
GPU_TESTS = ROOT / "tests" / "training" / "test_on_device.py"


# --------------------------------------------------------------------------- the GPU tests
def run_gpu_tests(limit_s: float) -> dict:
    """tests/training/test_on_device.py's test_gpu_* tests: with pytest where it is installed, else each called here."""
    t0 = time.perf_counter()
    try:
        import pytest  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(GPU_TESTS.parent.parent))  # tests/: aekit_subprocess
        sys.path.insert(0, str(GPU_TESTS.parent))
        import test_on_device

        results = test_on_device.run_without_pytest()
        counts = {k: sum(v.startswith(k) for v in results.values()) for k in ("passed", "failed", "skipped")}
        return {
            "runner": "functions (no pytest)",
            **counts,
            "failures": {k: v for k, v in results.items() if v.startswith("failed")},
            "seconds": round(time.perf_counter() - t0, 1),
        }
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "test_gpu_", str(GPU_TESTS)]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=limit_s,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
    except subprocess.TimeoutExpired:
        return {
            "runner": "pytest",
            "error": f"took over {limit_s:.0f} s",
            "seconds": round(time.perf_counter() - t0, 1),
        }
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    counts = pytest_counts(last)
    return {
        "runner": "pytest",
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0),
        "skipped": counts.get("skipped", 0),
        "summary": last,
        "returncode": proc.returncode,
        "failures": [line for line in proc.stdout.splitlines() if line.startswith("FAILED")],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def pytest_counts(summary: str) -> dict[str, int]:
    """{'passed': 3, 'skipped': 9} from pytest's last line, '3 passed, 9 skipped in 4.21s' (with or without '=')."""
    words = summary.strip("= ").split(" in ")[0].split(", ")
    return {part.split()[1]: int(part.split()[0]) for part in words if part[:1].isdigit() and len(part.split()) > 1}


# --------------------------------------------------------------------------- the reference: the tutorials' loop
def loader(x: np.ndarray, batch_size: int, seed: int = 0) -> DataLoader:
    return DataLoader(
        TensorDataset(torch.from_numpy(x)),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )


def reference_epoch(model, opt, batches: DataLoader, xv: torch.Tensor, device, schedule=None) -> dict:
    """One epoch as the PyTorch tutorials write it, then validation; every step reads its loss (`.item()`)."""
    synchronize(device)
    t0 = time.perf_counter()
    total, n = 0.0, 0
    model.train()
    for (xb,) in batches:
        xb = xb.to(device)
        loss = F.binary_cross_entropy(model(xb), xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if schedule is not None:
            schedule.step()
        total, n = total + loss.item() * len(xb), n + len(xb)
    model.eval()
    with torch.no_grad():
        val = (
            sum(
                F.binary_cross_entropy(model(xv[i : i + 2000]), xv[i : i + 2000], reduction="sum").item()
                for i in range(0, len(xv), 2000)
            )
            / xv.numel()
        )
    synchronize(device)
    return {"loss": total / n, "val_loss": val, "epoch_time": time.perf_counter() - t0}


def median_after_warmup(times: list[float]) -> float:
    return statistics.median(times[1:] if len(times) > 1 else times)


def time_to(target: float, val_losses: list[float], epoch_times: list[float]) -> tuple[float | None, int | None]:
    elapsed = 0.0
    for i, (v, t) in enumerate(zip(val_losses, epoch_times)):
        elapsed += t
        if v <= target:
            return elapsed, i + 1
    return None, None


def timed_fit(model, x, xv, cfg, device) -> tuple[dict, float]:
    synchronize(device)
    t0 = time.perf_counter()
    h = aekit.fit(model, x, x, cfg, validation_data=(xv, xv), verbose=0, device=device).history
    synchronize(device)
    return h, time.perf_counter() - t0


# --------------------------------------------------------------------------- the figures
def tutorial(x, xv, device, epochs: int, ref_epochs: int) -> dict:
    cfg = aekit.TrainConfig(epochs=epochs)  # adadelta lr 1.0, batch 256, BCE, shuffled
    h, wall = timed_fit(aekit.Autoencoder(), x, xv, cfg, device)
    ref_model = aekit.Autoencoder().to(device)
    ref_opt = plain_optimizer(ref_model, cfg.optimizer, cfg.learning_rate)
    batches, xvd = loader(x, cfg.batch_size), torch.from_numpy(xv).to(device)
    ref = [reference_epoch(ref_model, ref_opt, batches, xvd, device) for _ in range(min(ref_epochs, epochs))]
    ours_epoch, ref_epoch = median_after_warmup(h["epoch_time"]), median_after_warmup([r["epoch_time"] for r in ref])
    return {
        "epochs": epochs,
        "wall_s": round(wall, 3),
        "train_s": round(sum(h["epoch_time"]), 3),
        "s_per_epoch": round(ours_epoch, 4),
        "first_epoch_s": round(h["epoch_time"][0], 3),
        "val_bce": round(h["val_loss"][-1], 4),
        "val_bce_minus_cpu": round(h["val_loss"][-1] - CPU_TUTORIAL_VAL_BCE, 4),
        "reference_epochs": len(ref),
        "reference_s_per_epoch": round(ref_epoch, 4),
        "reference_val_bce": round(ref[-1]["val_loss"], 4),
        "ratio": round(ref_epoch / ours_epoch, 2),
    }


def fast_recipe(x, xv, device, epochs: int | None) -> dict:
    cfg = recipe("fast", **({"epochs": epochs} if epochs else {}))
    h, wall = timed_fit(aekit.Autoencoder(), x, xv, cfg, device)
    ours_s, ours_at = time_to(TARGET_VAL_BCE, h["val_loss"], h["epoch_time"])
    ref_model = aekit.Autoencoder().to(device)
    opt = plain_optimizer(ref_model, cfg.optimizer, cfg.learning_rate)
    total = cfg.epochs * -(-len(x) // cfg.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(cfg, s, total) / cfg.learning_rate)
    batches, xvd = loader(x, cfg.batch_size), torch.from_numpy(xv).to(device)
    ref = []
    while len(ref) < cfg.epochs and not (ref and ref[-1]["val_loss"] <= TARGET_VAL_BCE):
        ref.append(reference_epoch(ref_model, opt, batches, xvd, device, schedule))
    ref_s, ref_at = time_to(TARGET_VAL_BCE, [r["val_loss"] for r in ref], [r["epoch_time"] for r in ref])
    return {
        "epochs": cfg.epochs,
        "wall_s": round(wall, 3),
        "seconds_to_target": None if ours_s is None else round(ours_s, 3),
        "epoch_at_target": ours_at,
        "final_val_bce": round(h["val_loss"][-1], 4),
        "reference_seconds_to_target": None if ref_s is None else round(ref_s, 3),
        "reference_epoch_at_target": ref_at,
        "ratio": None if not (ours_s and ref_s) else round(ref_s / ours_s, 2),
    }


def conv_kind(x, xv, device, epochs: int) -> dict:
    mc, tc = aekit.configure("conv", epochs=epochs)
    h, wall = timed_fit(aekit.Autoencoder(mc), x, xv, tc, device)
    ref_model = aekit.Autoencoder(mc).to(device)
    opt = plain_optimizer(ref_model, tc.optimizer, tc.learning_rate)
    batches, xvd = loader(x, tc.batch_size), torch.from_numpy(xv).to(device)
    ref = [reference_epoch(ref_model, opt, batches, xvd, device) for _ in range(min(epochs, 3))]
    ours, theirs = median_after_warmup(h["epoch_time"]), median_after_warmup([r["epoch_time"] for r in ref])
    return {
        "epochs": epochs,
        "wall_s": round(wall, 3),
        "s_per_epoch": round(ours, 4),
        "val_bce": round(h["val_loss"][-1], 4),
        "reference_s_per_epoch": round(theirs, 4),
        "ratio": round(theirs / ours, 2),
    }


@torch.inference_mode()
def encoding(x_all: np.ndarray, device, copies: int, repeats: int) -> dict:
    model = aekit.Autoencoder().to(device).eval()
    x_dev = torch.from_numpy(x_all).to(device).repeat(copies, 1)  # the images, held in device memory
    n = x_dev.shape[0]

    def best(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            synchronize(device)
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            times.append(time.perf_counter() - t0)
        return min(times)

    batch = 65536
    ours = best(lambda: aekit.encode(model, x_dev, batch_size=batch, device=device))
    bare = best(lambda: [model.encode(x_dev[i : i + batch]) for i in range(0, n, batch)])
    loader_ = DataLoader(TensorDataset(torch.from_numpy(x_all)), batch_size=256)

    def reference():  # the tutorials' inference loop: host batches to the device, codes back to the host
        return [model.encode(xb.to(device)).cpu() for (xb,) in loader_]

    theirs = best(reference)
    return {
        "images": n,
        "aekit_images_per_s": round(n / ours),
        "codes_left_on_device_images_per_s": round(n / bare),
        "reference_images_per_s": round(len(x_all) / theirs),
        "ratio": round((n / ours) / (len(x_all) / theirs), 1),
    }


# --------------------------------------------------------------------------- main
def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="auto (default), cuda, cuda:N, mps or cpu")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: check that the script runs (the CPU: ~10 s)")
    ap.add_argument("--no-tests", action="store_true", help="skip the GPU tests")
    ap.add_argument("--epochs", type=int, default=100, help="the tutorial's epochs (default 100)")
    ap.add_argument("--ref-epochs", type=int, default=10, help="epochs of the tutorial's reference loop (default 10)")
    ap.add_argument(
        "--encode-copies", type=int, default=10, help="MNIST's 70,000 images tiled this many times (default 10)"
    )
    args = ap.parse_args()
    t_start = time.perf_counter()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    result = {
        "benchmark": "gpu",
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "quick": args.quick,
    }
    if args.no_tests:
        result["tests"] = {"skipped": "--no-tests"}
    else:
        result["tests"] = run_gpu_tests(limit_s=150)
    ds = aekit.load_dataset("mnist")
    x, xv = ds.x_train, ds.x_test
    if args.quick:
        x, xv = x[:1024], xv[:256]
        epochs, ref_epochs, fast_epochs, conv_epochs, conv_rows, copies, repeats = 2, 2, 1, 2, 256, 1, 1
    else:
        epochs, ref_epochs, fast_epochs, conv_epochs, conv_rows, copies, repeats = (
            args.epochs,
            args.ref_epochs,
            None,
            4,
            len(x),
            args.encode_copies,
            3,
        )
    result["tutorial"] = tutorial(x, xv, device, epochs, ref_epochs)
    result["fast"] = fast_recipe(x, xv, device, fast_epochs)
    result["conv"] = conv_kind(x[:conv_rows], xv[: max(64, conv_rows // 6)], device, conv_epochs)
    result["encode"] = encoding(np.concatenate([x, xv]), device, copies, repeats)
    t, f, c, e = result["tutorial"], result["fast"], result["conv"], result["encode"]
    result["targets_h100"] = (
        None
        if args.quick
        else {  # the targets, for full sizes on one H100
            "tutorial_train_s_le_3": t["train_s"] <= 3.0,
            "tutorial_val_bce_within_0.001_of_cpu": abs(t["val_bce_minus_cpu"]) <= 0.001,
            "fast_to_0.0982_le_0.5_s": f["seconds_to_target"] is not None and f["seconds_to_target"] <= 0.5,
            "encode_ge_200M_per_s": e["aekit_images_per_s"] >= 200e6,
            "each_ge_3x_reference": all(
                r is not None and r >= 3 for r in (t["ratio"], f["ratio"], c["ratio"], e["ratio"])
            ),
        }
    )
    result["total_s"] = round(time.perf_counter() - t_start, 1)
    tests = result["tests"]
    rows = [
        (
            "GPU tests",
            "skipped (--no-tests)"
            if args.no_tests
            else f"{tests.get('passed', 0)} passed, {tests.get('failed', 0)} failed, "
            f"{tests.get('skipped', 0)} skipped ({tests.get('runner')})",
            "",
        ),
        (
            f"tutorial, {t['epochs']} epochs",
            f"train {t['train_s']:.2f} s (wall {t['wall_s']:.2f} s), {t['s_per_epoch'] * 1e3:.1f} ms/epoch, "
            f"val BCE {t['val_bce']:.4f} (CPU {CPU_TUTORIAL_VAL_BCE})",
            f"{t['reference_s_per_epoch'] * 1e3:.1f} ms/epoch ({t['ratio']}x)",
        ),
        (
            "fast recipe to 0.0982",
            "not reached"
            if f["seconds_to_target"] is None
            else f"{f['seconds_to_target']:.3f} s (epoch {f['epoch_at_target']}), final {f['final_val_bce']:.4f}",
            "not reached"
            if f["reference_seconds_to_target"] is None
            else f"{f['reference_seconds_to_target']:.3f} s ({f['ratio']}x)",
        ),
        (
            "conv kind",
            f"{c['s_per_epoch'] * 1e3:.1f} ms/epoch",
            f"{c['reference_s_per_epoch'] * 1e3:.1f} ms/epoch ({c['ratio']}x)",
        ),
        (
            "encode from device memory",
            f"{e['aekit_images_per_s'] / 1e6:.1f} M images/s (codes to host); "
            f"{e['codes_left_on_device_images_per_s'] / 1e6:.1f} M/s left on device",
            f"{e['reference_images_per_s'] / 1e6:.2f} M images/s ({e['ratio']}x)",
        ),
    ]
    print(f"aekit on {result['device_name']} ({device}), torch {torch.__version__}; {result['total_s']} s in all")
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'aekit':70}  DataLoader loop (the reference)")
    for name, ours, ref in rows:
        print(f"{name:{width}}  {ours:70}  {ref}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
