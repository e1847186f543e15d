"""Optimizers and learning-rate schedules for `fit`, fast on CPU.

`Adadelta` is ``torch.optim.Adadelta`` (Keras 2 semantics from `make_optimizer`; the same state and
state_dict) whose step runs on one flat buffer: about ten kernel calls per step instead of a dozen per
parameter tensor, which cost more than the tutorial model's backward pass. `lr_at` is the schedule.
"""

from __future__ import annotations

import math

import torch

from .config import TrainConfig


class Adadelta(torch.optim.Adadelta):
    """``torch.optim.Adadelta`` with the update of all parameters done at once on flat copies of the state."""

    def __init__(self, params, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self._flat: dict[int, tuple[torch.Tensor, ...]] = {}

    def state_dict(self) -> dict:
        """The standard state_dict, its tensors copied out of the flat buffers (so that no two share memory,
        which safetensors refuses)."""
        sd = super().state_dict()
        sd["state"] = {k: {n: v.clone() if torch.is_tensor(v) else v for n, v in s.items()} for k, s in sd["state"].items()}
        return sd

    def load_state_dict(self, state_dict) -> None:
        super().load_state_dict(state_dict)
        self._flat.clear()  # the state tensors were replaced: view them again

    def _flat_state(self, i: int, params: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Flat square_avg, acc_delta and two scratch buffers of group `i`; self.state[p] holds views into the
        first two (so state_dict is the standard one)."""
        if i not in self._flat:
            for p in params:
                if not self.state[p]:
                    self.state[p] = {"step": torch.tensor(0.0), "square_avg": torch.zeros_like(p), "acc_delta": torch.zeros_like(p)}
            flat = tuple(torch.cat([self.state[p][k].reshape(-1) for p in params]) for k in ("square_avg", "acc_delta"))
            start = 0
            for p in params:
                for k, buf in zip(("square_avg", "acc_delta"), flat):
                    self.state[p][k] = buf[start:start + p.numel()].view_as(p)
                start += p.numel()
            self._flat[i] = (*flat, *(torch.empty_like(flat[0]) for _ in range(3)))
        return self._flat[i]

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            return super().step(closure)
        for i, group in enumerate(self.param_groups):
            params = group["params"]
            if (group["weight_decay"] or group["maximize"] or group.get("differentiable") or group.get("capturable")
                    or any(p.grad is None or p.grad.is_sparse or p.is_complex() for p in params)):
                return super().step()  # the general path (never taken by aekit's own configurations)
            lr, rho, eps = group["lr"], group["rho"], group["eps"]
            square_avg, acc_delta, grad, delta, std = self._flat_state(i, params)
            torch.cat([p.grad.reshape(-1) for p in params], out=grad)
            square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
            torch.add(square_avg, eps, out=std).sqrt_()
            torch.add(acc_delta, eps, out=delta).sqrt_().div_(std).mul_(grad)  # the same operations as torch's
            acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
            torch._foreach_add_(params, [d.view_as(p) for d, p in zip(delta.split([p.numel() for p in params]), params)], alpha=-lr)
            torch._foreach_add_([self.state[p]["step"] for p in params], 1.0)
        return None


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer with Keras 2 semantics (adadelta: lr 1.0, rho 0.95, eps 1e-7; adam: eps 1e-7)."""
    params, lr = list(model.parameters()), cfg.learning_rate
    if cfg.optimizer == "adadelta":
        return Adadelta(params, lr=lr, rho=0.95, eps=1e-7)
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
