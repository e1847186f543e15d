"""The optimizer (`make_optimizer`, Keras 2 semantics), the learning-rate schedule (`lr_at`) and the compiled step
of `fit` (the moving average of the weights is a callback: `aekit.training.callbacks.averaging`).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from typing import Callable

import torch

from aekit.config import TrainConfig
from aekit.errors import ConfigError, option
from aekit.training import optimizers
from aekit.training.analytic import gradient_step


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig):
    """The optimizer with Keras 2 semantics (adadelta: lr 1.0, rho 0.95, eps 1e-7; adam: eps 1e-7).

    aekit's own classes (`aekit.training.optimizers`): torch.optim's update rules and state layout, without the
    import of ``torch._dynamo`` that torch.optim's wrappers make on first use (0.8 s of start-up).
    """
    params, lr = list(model.parameters()), cfg.learning_rate
    if cfg.optimizer == "adadelta":
        return optimizers.Adadelta(params, lr=lr, rho=0.95, eps=1e-7)
    if cfg.optimizer == "adam":
        return optimizers.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7)
    return optimizers.SGD(params, lr=lr)


def lr_at(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of gradient step `step` (0-based) of `total_steps`, from cfg.schedule.

    'constant': cfg.learning_rate throughout. 'onecycle': linear warm-up over the first 10% of steps
    from lr/25, then cosine decay to lr/1000. 'cosine': from lr down to cfg.min_lr (default 0) along half a
    cosine, no warm-up (the deep model's recipe, docs/kinds.md). Each is a pure function of the step, so
    resuming needs no state.
    """
    lr = cfg.learning_rate
    if cfg.schedule == "constant":
        return lr
    if cfg.schedule == "cosine":
        return cfg.min_lr + (lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total_steps))))
    warm = max(1, int(0.1 * total_steps))
    if step < warm:
        return lr / 25 + (lr - lr / 25) * step / warm
    t = min(1.0, (step - warm) / max(1, total_steps - warm))
    return lr / 1000 + (lr - lr / 1000) * 0.5 * (1 + math.cos(math.pi * t))


def check_compile(cfg: TrainConfig, world_size: int = 1) -> None:
    """Refuse ``compile=True`` where it cannot run: several processes, or no C++ compiler for Inductor."""
    if not cfg.compile:
        return
    if world_size > 1:
        raise ConfigError(f"{option('compile', True)} runs in one process; under torchrun train without it")
    compiler = os.environ.get("CXX") or next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)
    if compiler is None or not shutil.which(compiler):
        raise ConfigError(
            "compile=True needs a C++ compiler (g++ or clang++) on PATH for torch.compile; "
            f"install one (e.g. apt install g++) or train without {option('compile', True)}"
        )


def step_functions(par, state) -> tuple[Callable, Callable]:
    """The two halves of `fit`'s training step for `par` (`DataParallel`) and `state` (`TrainState`):

    ``grad_step(x_in, target)``, which returns the loss terms with each parameter's ``.grad`` filled, in closed
    form where `aekit.training.analytic` supports the model and config (``state.gradients`` says "analytic"),
    else by autograd on ``par.loss_terms`` ("autograd"); and the optimizer's step. With ``cfg.compile`` both are
    compiled (`compiled_step`), after `check_compile`.
    """
    cfg, optimizer = state.config, state.optimizer
    analytic = gradient_step(state.model, cfg, par.world_size)
    state.gradients = "autograd" if analytic is None else "analytic"
    if analytic is not None:
        return analytic, optimizer.step
    loss_fn, optimizer_step = par.loss_terms, optimizer.step
    if cfg.compile:
        check_compile(cfg, par.world_size)
        loss_fn, optimizer_step = compiled_step(loss_fn, optimizer, cfg)

    def autograd_step(x_in, target):
        terms = loss_fn(x_in, target)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        return terms

    return autograd_step, optimizer_step


def compiled_step(loss_fn: Callable, optimizer, cfg: TrainConfig) -> tuple[Callable, Callable]:
    """`loss_fn` (forward and, through AOTAutograd, backward) and `optimizer.step` under ``torch.compile``.

    Inductor fuses the element-wise work around the matrix products (the loss, activations, bias gradients,
    the optimizer's dozen passes per tensor) into a few C++ loops. The batch dimension is dynamic, so the
    last, smaller batch does not compile again. The step is compiled only for a constant learning rate (a
    schedule changes the lr, a Python float, every step, and each change would compile again) and not for
    a fused optimizer (already one kernel). Compiling takes seconds, once per process (cached on disk after).
    Call `check_compile` first (`fit` does).
    """
    _quiet_profiler_notice()
    step = optimizer.step
    if cfg.schedule == "constant" and not optimizer.defaults.get("fused"):
        step = torch.compile(optimizer.step)
    return torch.compile(loss_fn, dynamic=True), step


def _drop_profiler_notice(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Profiler record function")


def _quiet_profiler_notice() -> None:
    """Drop Dynamo's "Profiler record function … will be ignored" warning, which compiling ``optimizer.step``
    (it carries a profiler label) printed to stderr even under ``--quiet``; Dynamo's other messages stay."""
    log = logging.getLogger("torch._dynamo.variables.ctx_manager")
    if _drop_profiler_notice not in log.filters:
        log.addFilter(_drop_profiler_notice)
