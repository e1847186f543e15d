"""Devices: where a model trains and runs. One device per run, chosen once.

``resolve_device("auto")`` picks a CUDA GPU, then Apple's MPS, then the CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``
and ``"mps"`` name one, and a device that is not there is refused with one line saying what to pass instead.
Under torchrun, ``"auto"`` and ``"cuda"`` mean this process's own GPU, ``cuda:LOCAL_RANK``.

In the Python API, ``device=None`` means where the model already is (a model aekit loads or builds itself starts
on the CPU); the CLI's ``--device`` defaults to ``auto``.

>>> resolve_device("cpu")
device(type='cpu')
"""

from __future__ import annotations

import os
from typing import Any

import torch

from aekit.errors import ConfigError, option

CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
HELP = "where to run: auto (a CUDA GPU, then Apple MPS, then the CPU; the default), cpu, cuda, cuda:N or mps"


def _local_rank() -> int | None:
    """LOCAL_RANK under torchrun (more than one process), else None."""
    try:
        if int(os.environ.get("WORLD_SIZE") or 1) > 1:
            return int(os.environ.get("LOCAL_RANK") or 0)
    except ValueError:
        return None
    return None


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _no_cuda(spec: str) -> ConfigError:
    build = "" if torch.version.cuda else f"; this PyTorch {torch.__version__} is built without CUDA"
    return ConfigError(
        f"{option('device', spec)}: no CUDA GPU is visible (torch.cuda.is_available() is False{build}); "
        f"use {option('device', 'cpu')} or auto"
    )


def _cuda(spec: str, index: int | None) -> torch.device:
    if not torch.cuda.is_available():
        raise _no_cuda(spec)
    count = torch.cuda.device_count()
    rank = _local_rank()
    if index is None:
        if rank is None:
            return torch.device("cuda", torch.cuda.current_device())
        if rank >= count:
            raise ConfigError(
                f"{option('device', spec)}: torchrun started local rank {rank} but only {count} CUDA GPU"
                f"{'s are' if count != 1 else ' is'} visible on this machine; start at most {count} "
                f"processes per machine (--nproc-per-node), or use {option('device', 'cpu')}"
            )
        return torch.device("cuda", rank)
    if index >= count:
        last = f"cuda:0 … cuda:{count - 1}" if count > 1 else "cuda:0"
        raise ConfigError(
            f"{option('device', spec)}: only {count} CUDA GPU{'s are' if count != 1 else ' is'} visible ({last}); "
            f"pass one of those, or {option('device', 'cuda')}"
        )
    return torch.device("cuda", index)


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The torch.device that `spec` names ('auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device), checked to
    be there; ConfigError (one line, with the fix) when it is not. None is 'auto'."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = "auto" if spec is None else str(spec).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return _cuda("auto", None)
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise ConfigError(
                f"{option('device', 'mps')}: no Apple GPU is available (torch.backends.mps.is_available() is False); "
                f"use {option('device', 'cpu')} or auto"
            )
        return torch.device("mps")
    if text == "cuda":
        return _cuda(text, None)
    if text.startswith("cuda:") and text[5:].isdigit():
        return _cuda(text, int(text[5:]))
    raise ConfigError(f"unknown device {spec!r}; choose one of: {', '.join(CHOICES)}")


def device_of(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (the CPU for a module without parameters)."""
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def model_device(model: torch.nn.Module, device: str | torch.device | None = None) -> torch.device:
    """The device a call runs on: `device` resolved, or with None the model's own. The model is moved there."""
    target = device_of(model) if device is None else resolve_device(device)
    if device_of(model) != target:
        model.to(target)
    return target


def describe(device: torch.device) -> dict[str, Any]:
    """What a run folder records about its device: its name ('cpu', 'cuda:0', 'mps') and, for a GPU, the card."""
    out: dict[str, Any] = {"device": str(device)}
    if device.type == "cuda":
        out["device_name"] = torch.cuda.get_device_name(device)
    return out


def memory_budget(device: torch.device) -> int | None:
    """Bytes of training rows that may be copied onto `device` once: half its free memory (the rest for the model,
    its activations and the optimizer). None for the CPU, where rows in memory are used where they are."""
    if device.type == "cpu":
        return None
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    try:  # MPS shares the machine's memory; torch tells how much it recommends
        return max(0, int(torch.mps.recommended_max_memory()) - int(torch.mps.driver_allocated_memory())) // 2
    except (AttributeError, RuntimeError):
        return 1 << 30


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on `device` (a GPU runs asynchronously); nothing on the CPU. For clocks only."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


__all__ = ["resolve_device", "device_of", "model_device", "describe", "memory_budget", "synchronize", "CHOICES", "HELP"]
