"""The reference of benchmarks/whole_run.py: the Keras tutorial as a bare PyTorch script (no aekit), as a user
would write it: MNIST read from its gzip files with NumPy, 784-32-784 (relu, sigmoid), binary cross-entropy,
torch.optim.Adadelta with Keras 2's settings (lr 1.0, rho 0.95, eps 1e-7), batches of 256 shuffled every
epoch, the mean training loss and the validation loss on the 10,000 test images printed after each epoch.

    python benchmarks/_bare_tutorial.py MNIST_FOLDER [--epochs 100]
"""

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def images(path: Path) -> torch.Tensor:
    with gzip.open(path, "rb") as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16)
    return torch.from_numpy(raw.reshape(-1, 784).astype(np.float32) / 255.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--epochs", type=int, default=100)
    args = ap.parse_args()
    torch.manual_seed(0)
    x, xv = images(args.folder / "train-images-idx3-ubyte.gz"), images(args.folder / "t10k-images-idx3-ubyte.gz")
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 784), nn.Sigmoid())
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    for epoch in range(args.epochs):
        t0, total = time.perf_counter(), 0.0
        perm = torch.randperm(len(x))
        for start in range(0, len(x), 256):
            xb = x[perm[start : start + 256]]
            loss = F.binary_cross_entropy(model(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        with torch.no_grad():
            val = F.binary_cross_entropy(model(xv), xv).item()
        print(
            f"epoch {epoch + 1}/{args.epochs} - {time.perf_counter() - t0:.2f}s - loss: {total / len(x):.4f} "
            f"- val_loss: {val:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
