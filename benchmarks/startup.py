"""Start-up: seconds from launching `aekit train` to its first training step, against a bare PyTorch script
that loads MNIST (gzip + NumPy) and takes its first step, both launched as fresh processes.

Each process is started by this script; the moment of its first forward pass (a global forward pre-hook,
``torch.nn.modules.module.register_module_forward_pre_hook``) is written back to this script, so the figure
covers the interpreter, the imports, reading the data and building the model and the optimizer.
The runs alternate (aekit, bare, aekit, …) so that machine noise hits both alike; the medians are printed.
Also printed: whether ``torch._dynamo``, TensorBoard, matplotlib, scikit-learn or pandas were imported
before the first step (none of them is needed by then).

    python benchmarks/startup.py [--repeat 5] [--tensorboard] [-- extra aekit train options]

Default command: ``aekit train --epochs 1 --limit 1000 --no-tensorboard --quiet`` (the MNIST files are read
whole either way; --limit only keeps the first rows). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WATCHED = ("torch._dynamo", "torch.utils.tensorboard", "matplotlib", "sklearn", "pandas")

# The child: mark the first forward pass, then run the command as the CLI runs it.
CHILD = """
import json, os, sys, time
import torch

def first(module, args):
    handle.remove()
    seen = [m for m in {watched!r} if m in sys.modules]
    with open(os.environ["STARTUP_MARK"], "w") as f:
        json.dump({{"t": time.time(), "imported": seen}}, f)

handle = torch.nn.modules.module.register_module_forward_pre_hook(first)
{body}
"""

AEKIT = """
from aekit.cli.main import main
sys.exit(main(sys.argv[1:]))
"""

BARE = """
import gzip
import numpy as np
path = sys.argv[1]
with gzip.open(path, "rb") as f:
    raw = f.read()
x = torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255.0)
model = torch.nn.Sequential(torch.nn.Linear(784, 32), torch.nn.ReLU(), torch.nn.Linear(32, 784), torch.nn.Sigmoid())
opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
xb = x[torch.randperm(len(x))[:256]]
loss = torch.nn.functional.binary_cross_entropy(model(xb), xb)
opt.zero_grad()
loss.backward()
opt.step()
"""


def cpu_name() -> str:
    """The CPU model and its vector extensions (from /proc/cpuinfo where there is one)."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", "unknown CPU", platform.machine()):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    ext = [
        name
        for flag, name in (
            ("avx2", "AVX2"),
            ("avx512f", "AVX-512"),
            ("avx512_bf16", "AVX512-BF16"),
            ("amx_tile", "AMX"),
        )
        if flag in flags
    ]
    return f"{model} ({', '.join(ext) or 'no AVX2'}), {os.cpu_count()} logical cores"


def launch(body: str, argv: list[str], mark: Path, env: dict[str, str]) -> tuple[float, float, list[str]]:
    """(seconds to the first forward pass, seconds of the whole process, modules imported before it)."""
    mark.unlink(missing_ok=True)
    code = CHILD.format(watched=WATCHED, body=body)
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env={**env, "STARTUP_MARK": str(mark)},
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    total = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"the command failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    seen = json.loads(mark.read_text())
    return seen["t"] - t0, total, seen["imported"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tensorboard", action="store_true", help="keep TensorBoard on (the default of aekit train)")
    ap.add_argument("extra", nargs="*", help="more `aekit train` options (after --)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from aekit.data.datasets import find_dataset

    images = find_dataset("mnist") / "train-images-idx3-ubyte.gz"
    if not images.is_file():
        raise SystemExit(f"{images}: the bare script reads the gzip file; point AEKIT_MNIST at a folder with it")
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    ours, bare, ours_total = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        mark = Path(tmp) / "mark.json"
        argv = [
            "train",
            "--epochs",
            "1",
            "--limit",
            "1000",
            "--quiet",
            "--overwrite",
            "--out",
            str(Path(tmp) / "run"),
            *([] if args.tensorboard else ["--no-tensorboard"]),
            *args.extra,
        ]
        launch(AEKIT, argv, mark, env)  # once to fill the caches (files, aekit's decoded MNIST)
        imported = []
        for _ in range(args.repeat):
            t, total, imported = launch(AEKIT, argv, mark, env)
            ours.append(t)
            ours_total.append(total)
            bare.append(launch(BARE, [str(images)], mark, env)[0])
    a, b = statistics.median(ours), statistics.median(bare)
    print(f"CPU: {cpu_name()}; load average {os.getloadavg()[0]:.2f}")
    print(f"aekit train, launch to first step: {a:.3f} s (runs: {', '.join(f'{v:.2f}' for v in ours)})")
    print(f"bare PyTorch script, launch to first step: {b:.3f} s (runs: {', '.join(f'{v:.2f}' for v in bare)})")
    print(f"imported before aekit's first step: {', '.join(imported) or 'none of ' + ', '.join(WATCHED)}")
    print(
        json.dumps(
            {
                "benchmark": "startup",
                "cpu": cpu_name(),
                "command": "aekit " + " ".join(argv[:7]),
                "tensorboard": args.tensorboard,
                "aekit_first_step_s": round(a, 3),
                "bare_first_step_s": round(b, 3),
                "ratio": round(a / b, 3),
                "target_s": 1.5,
                "aekit_whole_process_s": round(statistics.median(ours_total), 3),
                "imported_before_first_step": imported,
                "repeat": args.repeat,
            }
        )
    )


if __name__ == "__main__":
    main()
