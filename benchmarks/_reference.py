"""The plain PyTorch loops the benchmarks compare against. Same model, same initial weights, same data as aekit.

`reference_epoch`, the lean loop: fancy-indexed batches, ``F.binary_cross_entropy_with_logits``, ``torch.optim``
defaults, one ``.item()`` per step and validation in one no-grad pass.
`dataloader_epoch`, the loop the PyTorch tutorials teach: ``DataLoader(TensorDataset(x), shuffle=True)``, the
model's sigmoid output and ``F.binary_cross_entropy`` (the issue's "about 0.7 s in a plain PyTorch eager loop").
"""

import time

import torch
import torch.nn.functional as F


def make_optimizer(model, name: str, lr: float):
    if name == "adadelta":
        return torch.optim.Adadelta(model.parameters(), lr=lr, rho=0.95, eps=1e-7)
    return torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7)


def reference_epoch(model, opt, x: torch.Tensor, xv: torch.Tensor, batch_size: int, gen: torch.Generator) -> dict:
    """One epoch of the plain loop (shuffle, train, validate); returns its figures and time."""
    t0 = time.perf_counter()
    n = x.shape[0]
    perm = torch.randperm(n, generator=gen)
    total = 0.0
    for start in range(0, n, batch_size):
        xb = x[perm[start : start + batch_size]]
        loss = F.binary_cross_entropy_with_logits(model.decode_logits(model.encode(xb)), xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * xb.shape[0]
    with torch.no_grad():
        val = F.binary_cross_entropy_with_logits(model.decode_logits(model.encode(xv)), xv).item()
    return {"loss": total / n, "val_loss": val, "epoch_time": time.perf_counter() - t0}


def dataloader_epoch(model, opt, loader, xv: torch.Tensor) -> dict:
    """One epoch of the PyTorch tutorials' loop over `loader` (a shuffling DataLoader), then validation."""
    t0 = time.perf_counter()
    total, n = 0.0, 0
    for (xb,) in loader:
        loss = F.binary_cross_entropy(model(xb), xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total, n = total + loss.item() * len(xb), n + len(xb)
    with torch.no_grad():
        val = F.binary_cross_entropy(model(xv), xv).item()
    return {"loss": total / n, "val_loss": val, "epoch_time": time.perf_counter() - t0}
