"""Training on several processes and machines with torch.distributed (DistributedDataParallel).

Launch any aekit training under ``torchrun``; nothing else changes:

    torchrun --standalone --nproc-per-node 4 -m aekit train --epochs 50 --out runs/ddp

aekit reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), joins the
process group (gloo for CPU tensors, nccl for CUDA tensors where GPUs exist) and trains with
DistributedDataParallel. On GPUs each process trains on its own, ``cuda:LOCAL_RANK`` (``--device auto`` or
``cuda`` picks it; `init` makes it the current device before the group forms, as NCCL needs), its gradients
averaged by NCCL; on CPUs (``--device cpu``) gloo does it. Launch one process per GPU:

    torchrun --standalone --nproc-per-node 8 -m aekit train --device cuda --out runs/ddp

- ``batch_size`` stays the *global* batch: each of the N processes takes ``batch_size / N`` rows per step
  (it must divide evenly), and DDP averages the gradients, so a step sees the same rows and the same mean
  gradient as one process with that batch size.
- Every epoch all ranks draw the same permutation of the rows from the shared seed and each takes its
  shard of it (`shard`: DistributedSampler semantics, padded to equal length). Rank r's shard is
  ``permutation[r::N]``, so the union of the ranks' k-th batches is exactly the k-th batch one process
  would take.
- Logged loss terms are summed over ranks with all_reduce, validation is sharded and reduced, so every
  rank holds the same logs (and takes the same early-stopping decision); only rank 0 (`is_main`) writes
  files or prints progress.

Outside torchrun (no WORLD_SIZE > 1 in the environment) every function here is a cheap no-op.
"""

from __future__ import annotations

import atexit
import math
import os
from datetime import timedelta
from typing import Any, Callable, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from aekit.config import TrainConfig
from aekit.errors import AekitError, ConfigError, option

T = TypeVar("T")

__all__ = [
    "init",
    "cleanup",
    "active",
    "rank",
    "world_size",
    "local_rank",
    "is_main",
    "backend",
    "default_backend",
    "shard",
    "shard_size",
    "per_rank_batch",
    "barrier",
    "on_main",
    "DataParallel",
]


# --------------------------------------------------------------------------- the process group
def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"environment variable {name}={text!r} is not a whole number; unset it or launch with torchrun"
        ) from None


def launched() -> bool:
    """True when the environment describes more than one process (torchrun sets WORLD_SIZE)."""
    return _env_int("WORLD_SIZE", 1) > 1


def active() -> bool:
    """True when this process trains as one of several (a process group of size > 1 is initialised)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 … world_size-1); 0 outside torchrun."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else _env_int("RANK", 0)


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else _env_int("WORLD_SIZE", 1)


def local_rank() -> int:
    """This process's rank on its machine (selects its GPU); 0 outside torchrun."""
    return _env_int("LOCAL_RANK", 0)


def backend() -> str | None:
    """The process group's backend ('gloo', 'cpu:gloo,cuda:nccl', …); None in one process."""
    return str(dist.get_backend()) if active() else None


def is_main() -> bool:
    """True on rank 0, the one process that writes files and prints; always True outside torchrun."""
    return rank() == 0


def default_backend() -> str:
    """gloo for CPU tensors; where CUDA and NCCL exist, nccl for CUDA tensors (and gloo still for CPU ones)."""
    if torch.cuda.is_available() and dist.is_nccl_available():
        return "cpu:gloo,cuda:nccl"
    return "gloo"


_OWNED = False  # True when `init` created the process group (then `cleanup` destroys it)


def init(backend: str | None = None, *, timeout_s: float = 1800.0) -> bool:
    """Join the process group torchrun describes; True when training is distributed.

    Idempotent, and a no-op outside torchrun. A process group you initialised yourself is used as it is.
    """
    global _OWNED
    if not dist.is_available():
        if launched():
            raise ConfigError(
                "WORLD_SIZE > 1 but this PyTorch build has no torch.distributed; install a standard PyTorch build"
            )
        return False
    if dist.is_initialized():
        return dist.get_world_size() > 1
    if not launched():
        return False
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing:
        raise ConfigError(
            f"WORLD_SIZE is {os.environ['WORLD_SIZE']} but {', '.join(missing)} not set; "
            "launch with `torchrun --nproc-per-node N -m aekit train …` (it sets them all)"
        )
    if torch.cuda.is_available() and local_rank() < torch.cuda.device_count():
        torch.cuda.set_device(local_rank())  # "cuda" now means this process's own GPU
    dist.init_process_group(backend or default_backend(), timeout=timedelta(seconds=timeout_s))
    _OWNED = True
    atexit.register(cleanup)
    return True


def cleanup() -> None:
    """Leave the process group if `init` created it (called at exit; safe to call twice)."""
    global _OWNED
    if _OWNED and dist.is_initialized():
        dist.destroy_process_group()
    _OWNED = False


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if active():
        dist.barrier()


def on_main(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on rank 0 only and hand its result to every rank.

    An AekitError it raises is raised on every rank (with the same message), so all ranks stop together
    instead of waiting for rank 0 at the next collective. In one process: just ``fn(*args, **kwargs)``.
    """
    if not active():
        return fn(*args, **kwargs)
    box: list[Any] = [None]
    if is_main():
        try:
            box = [("ok", fn(*args, **kwargs))]
        except AekitError as exc:
            box = [("error", type(exc), str(exc))]
    dist.broadcast_object_list(box, src=0)
    if box[0][0] == "error":
        raise box[0][1](box[0][2])
    return box[0][1]


# --------------------------------------------------------------------------- shards of the data
def shard_size(n: int, world: int | None = None, *, drop_last: bool = False) -> int:
    """Rows per rank for `n` rows: ceil(n / world) with padding, floor(n / world) with drop_last."""
    world = world_size() if world is None else world
    return n // world if drop_last else math.ceil(n / world)


def shard(
    order: torch.Tensor, rank_: int | None = None, world: int | None = None, *, drop_last: bool = False
) -> torch.Tensor:
    """This rank's part of a permutation `order`, with torch's DistributedSampler semantics.

    The permutation is padded by repeating its first indices up to a multiple of `world` (or, with
    `drop_last`, cut to one), and rank r takes ``order[r::world]``. Every rank's shard has the same
    length, so the ranks take the same number of equal-sized batches; when ``len(order)`` divides
    evenly every index is in exactly one shard.
    """
    r = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if not 0 <= r < world:
        raise ConfigError(f"rank {r} is outside 0…{world - 1}; check RANK and WORLD_SIZE")
    if world == 1:
        return order
    n = len(order)
    total = shard_size(n, world, drop_last=drop_last) * world
    if total > n:
        order = torch.cat([order, order.repeat(math.ceil((total - n) / n))[: total - n]])
    return order[r:total:world]


# --------------------------------------------------------------------------- DDP for fit
def per_rank_batch(batch_size: int) -> int:
    """Rows per step on each rank: `batch_size` is the global batch, split evenly over the processes."""
    w = world_size()
    if batch_size % w:
        lo, hi = max(w, batch_size // w * w), (batch_size // w + 1) * w
        raise ConfigError(
            f"batch_size {batch_size} is the global batch and does not split evenly over {w} processes; "
            f"pass a multiple of {w} (e.g. {lo} or {hi})"
        )
    return batch_size // w


class _Loss(nn.Module):
    """The loss terms as a module, so that DistributedDataParallel sees them computed in `forward`."""

    def __init__(self, model: nn.Module, cfg: TrainConfig) -> None:
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, x_in: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        from aekit.objectives import loss_terms

        return loss_terms(self.model, x_in, target, self.cfg)


class DataParallel:
    """One process's part in `fit`: its shard, per-rank batch, DDP-averaged gradients and reduced logs.

    In one process every method falls through to what `fit` does anyway, so `fit` calls them always.
    """

    def __init__(self, model: nn.Module, cfg: TrainConfig) -> None:
        self.model, self.cfg = model, cfg
        self.active = init()
        self.rank, self.world_size = rank(), world_size()
        self.is_main = self.rank == 0
        self.batch_size = cfg.batch_size
        self._ddp: nn.Module | None = None
        self._noise: torch.Generator | None = None
        if not self.active:
            return
        self.batch_size = per_rank_batch(cfg.batch_size)
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        if device.type == "cuda" and device.index != local_rank():
            raise ConfigError(
                f"under torchrun each process trains on its own GPU, cuda:LOCAL_RANK (here "
                f"cuda:{local_rank()}), but the model is on {device}; pass {option('device', 'cuda')} or auto"
            )
        self._ddp = DistributedDataParallel(_Loss(model, cfg), device_ids=[device] if device.type == "cuda" else None)

    def shard_size(self, n: int) -> int:
        return shard_size(n, self.world_size)

    def shard(self, order: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Generator]:
        """This rank's rows of the epoch's permutation, and the generator for its input corruption.

        The permutation comes from the generator every rank shares (same seed, same draws); corruption
        must differ between ranks, so each rank draws it from its own generator, seeded anew each epoch
        from (seed, rank, epoch) so that a run resumed at an epoch boundary draws the same noise.
        """
        if not self.active:
            return order, state.generator
        seed = int(np.random.SeedSequence([self.cfg.seed, self.rank, state.epoch]).generate_state(1)[0])
        self._noise = torch.Generator(device=state.generator.device).manual_seed(seed)
        return shard(order, self.rank, self.world_size), self._noise

    def loss_terms(self, x_in: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every loss term of this rank's batch; under DDP its backward averages gradients over the ranks."""
        if self._ddp is not None:
            return self._ddp(x_in, target)
        from aekit.objectives import loss_terms

        return loss_terms(self.model, x_in, target, self.cfg)

    def mean(self, sums: dict[str, Any], rows: int) -> dict[str, float]:
        """Per-row means of summed loss terms, over all ranks' rows (all_reduce of the sums and counts)."""
        if not self.active:
            return {k: float(v) / rows for k, v in sums.items()}
        keys = list(sums)
        t = torch.tensor([float(sums[k]) for k in keys] + [float(rows)], dtype=torch.float64)
        dist.all_reduce(t)
        return {k: float(t[i] / t[-1]) for i, k in enumerate(keys)}

    def evaluate(self, x: Any, y: Any, fn: Callable[..., dict[str, float]], labels: Any = None) -> dict[str, float]:
        """``fn(model, x, y, cfg, labels=labels)`` on this rank's contiguous slice of the rows (and of a cvae's
        labels), as means over all ranks' rows (the sums are reduced). In one process: fn on all rows."""
        n = x.shape[0]
        if not self.active or n < self.world_size:
            return fn(self.model, x, y, self.cfg, labels=labels)
        lo, hi = n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size
        xs = x[lo:hi]
        part = None if labels is None else labels[lo:hi]
        means = fn(self.model, xs, xs if y is x else y[lo:hi], self.cfg, labels=part)
        return self.mean({k: v * (hi - lo) for k, v in means.items()}, hi - lo)

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on any rank (a stop requested by one rank stops all)."""
        if not self.active:
            return bool(flag)
        t = torch.tensor([int(bool(flag))])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())
