"""Memory: what a model needs to train, checked before anything is allocated, and out-of-memory errors as one line.

`check_memory` sizes the model on PyTorch's meta device (shapes only, no memory): float32 weights, their gradients
and two optimizer moments (adam's and adadelta's; 4 × 4 bytes a parameter), its buffers (4 bytes a value: a
VQ-VAE's codebook and its moving averages), plus each layer's output for a batch, kept for the backward pass with
its gradient (2 × 4 bytes a value). It refuses a model that needs more than the
memory available (the system's MemAvailable, within a cgroup's limit; a GPU's free memory), in one line with the
size. `memory_errors` turns an allocation that fails anyway (PyTorch's ``OutOfMemoryError``, CUDA's included, or
the CPU allocator's "can't allocate memory") into a `TrainingError` naming the size and the fix.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from aekit.config import ModelConfig
from aekit.errors import ConfigError, TrainingError
from aekit.models import Autoencoder

BYTES_PER_PARAMETER = 4 * 4  # float32 weight, gradient and two optimizer moments
BYTES_PER_ACTIVATION = 2 * 4  # a layer's float32 output and its gradient
FIX = "choose smaller hidden sizes or code (hidden, encoding_dim), or a smaller batch_size"


def gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def model_size(model_config: ModelConfig, batch_size: int) -> tuple[int, int]:
    """(parameters, layer output values for one batch) of the model, counted on the meta device (allocates nothing).

    A dense model's outputs are counted from its layers' widths; other models run a forward pass on the meta
    device (whose shape functions import ``torch._dynamo``, ~2 s of start-up, hence not for the common case)."""
    return _sizes(model_config, batch_size)[:2]


def _sizes(model_config: ModelConfig, batch_size: int) -> tuple[int, int, int]:
    """`model_size`'s two counts and the values of the model's buffers (a VQ-VAE's codebook and its moving averages
    are no parameters), from one model built on the meta device."""
    with torch.device("meta"):
        model = Autoencoder(model_config)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    widths = _dense_widths(model)
    if widths is not None:
        return params, batch_size * widths, buffers
    return params, _meta_outputs(model, model_config, batch_size), buffers


_ELEMENTWISE = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Identity, nn.ELU, nn.LeakyReLU, nn.GELU)


def _dense_widths(model: Autoencoder) -> int | None:
    """The summed widths of every layer output of a dense model's forward pass (Linear layers and elementwise
    activations in Sequentials), or None for any other model."""
    total = 0
    for stack in (model.encoder, model.decoder):
        if type(stack) is not nn.Sequential:
            return None
        width = None
        for layer in stack:
            if isinstance(layer, nn.Linear):
                width = layer.out_features
            elif not isinstance(layer, _ELEMENTWISE) or width is None:
                return None
            total += width
    return total


def _meta_outputs(model: Autoencoder, model_config: ModelConfig, batch_size: int) -> int:
    """The values of every leaf module's output in one forward pass of a batch, on the meta device."""
    outputs: list[int] = []
    with torch.device("meta"):
        for module in model.modules():
            if not list(module.children()):
                module.register_forward_hook(lambda m, i, out: outputs.append(out.numel()))
        with torch.no_grad():
            model(torch.empty(batch_size, model_config.input_dim))
    return sum(outputs)


def needed_bytes(model_config: ModelConfig, batch_size: int) -> tuple[int, int]:
    """(bytes needed to train, parameters): weights, gradients, optimizer state and one batch's activations."""
    params, values, buffers = _sizes(model_config, batch_size)
    return params * BYTES_PER_PARAMETER + values * BYTES_PER_ACTIVATION + 4 * buffers, params


def _fix(model_config: ModelConfig) -> str:
    return FIX + (", or a smaller codebook_size" if model_config.code == "categorical" else "")


def available_bytes(device: str | torch.device = "cpu") -> int | None:
    """Memory this process can still take on `device` (bytes), or None when it cannot be told."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    for limit, usage in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        try:  # cgroup v2, then v1: a container's limit may be far below the machine's memory
            cap = Path("/sys/fs/cgroup", limit).read_text().strip()
            if cap.isdigit() and int(cap) < 2**60:
                found.append(int(cap) - int(Path("/sys/fs/cgroup", usage).read_text().strip()))
        except (OSError, ValueError):
            pass
    return max(0, min(found)) if found else None


def check_memory(model_config: ModelConfig, batch_size: int, device: str | torch.device = "cpu") -> None:
    """Refuse, before anything is allocated, a model that needs more memory to train than `device` has free."""
    try:
        need, params = needed_bytes(model_config, batch_size)
    except Exception:  # a model the meta device cannot run: let the real allocation decide
        return
    free = available_bytes(device)
    if free is not None and need > free:
        raise ConfigError(
            f"the model has {params:,} parameters and needs about {gib(need)} of memory to train "
            f"(weights, gradients, optimizer state and a batch of {batch_size}), but only {gib(free)} "
            f"is available{_on(device)}; {_fix(model_config)}"
        )


def _on(device: str | torch.device) -> str:
    return "" if torch.device(device).type == "cpu" else f" on {device}"


def is_out_of_memory(exc: BaseException) -> bool:
    """True for PyTorch's OutOfMemoryError (CUDA's is the same class) and the CPU allocator's failure."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", ())
    text = str(exc)
    return isinstance(exc, oom) or (
        isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text.lower())
    )


def _tried(text: str) -> str:
    """The size an allocator said it tried to allocate, as text ('' when it did not say)."""
    found = re.search(r"tried to allocate (\d+) bytes", text)
    if found:
        return f" (tried to allocate {gib(int(found[1]))})"
    found = re.search(r"[Tt]ried to allocate ([\d.]+ [KMGT]i?B)", text)
    return f" (tried to allocate {found[1]})" if found else ""


@contextlib.contextmanager
def memory_errors(model_config: ModelConfig, batch_size: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Turn an out-of-memory error raised inside the block into a one-line TrainingError with the sizes and the fix."""
    try:
        yield
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        try:
            need, params = needed_bytes(model_config, batch_size)
            size = f"; the model has {params:,} parameters and needs about {gib(need)} to train"
        except Exception:
            size = ""
        raise TrainingError(f"out of memory{_on(device)}{_tried(str(exc))}{size}; {_fix(model_config)}") from None
