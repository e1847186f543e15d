"""The optimizer (`make_optimizer`, Keras 2 semantics) and the learning-rate schedule (`lr_at`) of `fit`.

A flat-buffer Adadelta was tried and dropped: faster alone, slower inside a training step (docs/performance.md).
"""

from __future__ import annotations

import math

import torch

from .config import TrainConfig


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer with Keras 2 semantics (adadelta: lr 1.0, rho 0.95, eps 1e-7; adam: eps 1e-7)."""
    params, lr = list(model.parameters()), cfg.learning_rate
    if cfg.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=0.95, eps=1e-7)
    if cfg.optimizer == "adam":
        try:
            return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7, fused=True)  # one kernel (torch ≥ 2.4 on CPU)
        except (RuntimeError, TypeError):
            return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7)
    return torch.optim.SGD(params, lr=lr)


def lr_at(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of gradient step `step` (0-based) of `total_steps`, from cfg.schedule.

    'constant': cfg.learning_rate throughout. 'onecycle': linear warm-up over the first 10% of steps
    from lr/25, then cosine decay to lr/1000 (a pure function of the step, so resuming needs no state).
    """
    lr = cfg.learning_rate
    if cfg.schedule == "constant":
        return lr
    warm = max(1, int(0.1 * total_steps))
    if step < warm:
        return lr / 25 + (lr - lr / 25) * step / warm
    t = min(1.0, (step - warm) / max(1, total_steps - warm))
    return lr / 1000 + (lr - lr / 1000) * 0.5 * (1 + math.cos(math.pi * t))
