"""The three optimizers of `fit` (Adadelta, Adam, SGD) as small classes with torch.optim's interface and state.

Why not ``torch.optim``: its constructor, ``step``, ``zero_grad`` and ``state_dict`` are wrapped by
``torch._disable_dynamo``, whose first call imports ``torch._dynamo`` (about 0.8 s of start-up) although nothing
is compiled. These classes run the same element-wise operations in the same order as torch.optim's
(Adadelta's and SGD's results are bitwise equal to torch.optim's single-tensor path; Adam runs torch's fused
kernel where the installed torch has one for the device, the same one as ``torch.optim.Adam(fused=True)``), and
their ``state_dict`` has torch.optim's layout, so checkpoints written with either load into either.

Each has ``param_groups`` (a list of dicts with ``"params"`` and ``"lr"``, which `fit`'s schedule sets every step),
``state`` (parameter → dict of tensors), ``defaults``, ``step()``, ``zero_grad(set_to_none=True)``,
``state_dict()`` and ``load_state_dict()``. One parameter group each.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["SGD", "Adadelta", "Adam"]


# torch.optim's options that these classes do not implement, at torch's defaults: kept in `defaults` and the
# param groups (in torch.optim's order) so that a state_dict has torch.optim's layout
_UNUSED = {
    "foreach": None,
    "capturable": False,
    "maximize": False,
    "differentiable": False,
    "fused": None,
    "amsgrad": False,
    "nesterov": False,
}


def _unused_flags(*names: str) -> dict[str, Any]:
    """torch.optim's options `names`, in that order, at the values these classes run with."""
    return {name: _UNUSED[name] for name in names}


class _Optimizer:
    """The shared parts: one parameter group, lazily created per-parameter state, torch.optim's state_dict."""

    #: the per-parameter state tensors (besides "step"), created as zeros like the parameter
    buffers: tuple[str, ...] = ()

    def __init__(self, params: Iterable[torch.Tensor], defaults: dict[str, Any]) -> None:
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = [{"params": params, **self.defaults}]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        self._flat_cache: Any = None  # Adadelta's flat buffers (`Adadelta._flat`)

    def __repr__(self) -> str:
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in group.items())})"

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().requires_grad_(False)
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One update of the parameters that have a gradient, by the subclass's `_update`; nothing without one."""
        params, grads, states = self._with_grads()
        if params:
            self._update(self.param_groups[0], params, grads, states)

    def _with_grads(self) -> tuple[list[torch.Tensor], list[torch.Tensor], list[dict[str, torch.Tensor]]]:
        """The parameters that have a gradient, their gradients and their states (created on first use)."""
        params, grads, states = [], [], []
        for p in self.param_groups[0]["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            state = self.state.get(p)
            if state is None and self.buffers:
                state = self.state[p] = {"step": torch.zeros((), dtype=torch.float32, device=self._step_device(p))}
                for name in self.buffers:
                    state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            states.append(state)
        return params, grads, states

    def _step_device(self, p: torch.Tensor) -> torch.device:
        """Where a parameter's step count lives: on the CPU, except for a fused kernel (on the parameter's device)."""
        return p.device if self.defaults.get("fused") else torch.device("cpu")

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: ``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``."""
        params = self.param_groups[0]["params"]
        index = {id(p): i for i, p in enumerate(params)}
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(params)))
        state = {index[id(p)]: dict(s) for p, s in self.state.items()}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from `state_dict` (this class's or the same torch.optim optimizer's)."""
        groups = state_dict["param_groups"]
        params = self.param_groups[0]["params"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(params):
            raise ValueError(
                f"the saved optimizer state has {sum(len(g['params']) for g in groups)} parameters in "
                f"{len(groups)} groups, this model has {len(params)} in one group"
            )
        saved = groups[0]
        ids = {pid: p for pid, p in zip(saved["params"], params)}
        state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        # plain SGD keeps no state; torch 2.2's SGD saves {"momentum_buffer": None} for each parameter
        saved_state = state_dict["state"] if self.buffers else {}
        for key, values in saved_state.items():
            p = ids[key]
            missing = [name for name in ("step", *self.buffers) if name not in values]
            if missing:
                raise KeyError(f"the saved state of parameter {key} has no {', '.join(missing)}")
            state[p] = {name: _as_state(name, value, p, self._step_device(p)) for name, value in values.items()}
        group = {k: saved[k] for k in self.defaults if k in saved}
        self.param_groups[0].update(group)
        self.state = state
        self._flat_cache = None


def _as_state(name: str, value: Any, param: torch.Tensor, step_device: torch.device) -> Any:
    """A saved state value on the parameter's device and dtype ("step": a float32 scalar), as torch.optim."""
    if name == "step":  # a tensor, or a Python int (torch 2.2's Adadelta)
        return torch.as_tensor(value, dtype=torch.float32, device=step_device).clone()
    if not isinstance(value, torch.Tensor):
        return value
    return value.to(dtype=param.dtype if param.is_floating_point() else value.dtype, device=param.device).clone()


class Adadelta(_Optimizer):
    """Adadelta (Zeiler 2012) as torch.optim.Adadelta; aekit uses Keras 2's lr 1.0, rho 0.95, eps 1e-7."""

    buffers = ("square_avg", "acc_delta")

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "rho": rho,
                "eps": eps,
                "weight_decay": weight_decay,
                **_unused_flags("foreach", "capturable", "maximize", "differentiable"),
            },
        )

    @torch.no_grad()
    def step(self) -> None:
        """One update; on flat gradients (see `_flat`) the same operations on one buffer each, and from the second
        step on without looking the states up again while the gradients and states are the ones of the last step."""
        group, flat = self.param_groups[0], self._flat_cache
        if flat is None or group["weight_decay"] or not flat.current(self, group["params"]):
            return super().step()
        flat.update(group["lr"], group["rho"], group["eps"])

    def _update(self, group: dict[str, Any], params, grads, states) -> None:
        lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        flat = None if wd else self._flat(params, grads, states)
        if flat is not None:  # the same operations on one buffer each: 12 calls a step instead of 44 kernels
            flat.update(lr, rho, eps)
            return
        square_avgs = [s["square_avg"] for s in states]
        acc_deltas = [s["acc_delta"] for s in states]
        torch._foreach_add_([s["step"] for s in states], 1)
        if wd:
            grads = torch._foreach_add(grads, params, alpha=wd)
        torch._foreach_mul_(square_avgs, rho)
        torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - rho)
        std = torch._foreach_add(square_avgs, eps)
        torch._foreach_sqrt_(std)
        deltas = torch._foreach_add(acc_deltas, eps)
        torch._foreach_sqrt_(deltas)
        torch._foreach_div_(deltas, std)
        torch._foreach_mul_(deltas, grads)
        torch._foreach_mul_(acc_deltas, rho)
        torch._foreach_addcmul_(acc_deltas, deltas, deltas, value=1 - rho)
        torch._foreach_add_(params, deltas, alpha=-lr)

    def _flat(self, params, grads, states) -> _FlatState | None:
        """The flat buffers (`_FlatState`) when every parameter has a gradient and the gradients are consecutive views
        of one flat buffer (`aekit.training.analytic` fills them so); else None. The states become views of the flat
        buffers (their values copied in once; `load_state_dict` starts again), so `state_dict` keeps torch.optim's
        layout."""
        base = grads[0]._base
        if base is None or base.dim() != 1 or len(params) != len(self.param_groups[0]["params"]):
            return None
        offset = base.storage_offset()
        for g in grads:
            if g._base is not base or g.storage_offset() != offset or not g.is_contiguous():
                return None
            offset += g.numel()
        if offset != base.storage_offset() + base.numel() or base.dtype != params[0].dtype:
            return None
        cache = self._flat_cache
        if cache is None or cache.base is not base or states[0]["square_avg"]._base is not cache.square_avg:
            cache = self._flat_cache = _FlatState(self, params, grads, states, base)
        cache.params, cache.grads = list(params), tuple(grads)
        return cache


class _FlatState:
    """Adadelta's state on flat gradients: the gradients' flat buffer, square_avg, acc_delta and the step counts each
    one flat buffer whose views are the per-parameter states, two scratch buffers, the delta's per-parameter views,
    and what `current` checks to reuse them (the parameters, their gradients, the state dict)."""

    def __init__(self, owner: Adadelta, params, grads, states, base: torch.Tensor) -> None:
        sizes = [p.numel() for p in params]
        for name in ("square_avg", "acc_delta"):
            flat = torch.cat([s[name].reshape(-1) for s in states])
            for s, view, p in zip(states, flat.split(sizes), params):
                s[name] = view.view_as(p)
            setattr(self, name, flat)
        # float32 on the CPU, as torch.optim's (stacked, not read: no wait for a device)
        self.steps = torch.stack([torch.as_tensor(s["step"], dtype=torch.float32, device="cpu") for s in states])
        for i, s in enumerate(states):
            s["step"] = self.steps[i]
        self.base, self.std, self.delta = base, torch.empty_like(base), torch.empty_like(base)
        self.deltas = [view.view_as(p) for view, p in zip(self.delta.split(sizes), params)]
        self.params, self.grads, self.state, self.first = list(params), tuple(grads), owner.state, states[0]
        self.constants: tuple = (None, None)  # (ρ, ε) and their 0-d tensors, made on the first update

    def current(self, owner: Adadelta, params: list[torch.Tensor]) -> bool:
        """Whether `params` and their gradients, and the owner's states, are those these buffers were made for."""
        return (
            owner.state is self.state
            and len(params) == len(self.params)
            and all(p is q and p.grad is g for p, q, g in zip(params, self.params, self.grads))
            and self.state.get(params[0]) is self.first
            and self.first["square_avg"]._base is self.square_avg
        )

    def update(self, lr: float, rho: float, eps: float) -> None:
        """torch.optim.Adadelta's operations, in its order, on the flat buffers; ρ, ε and the step's 1 as 0-d tensors
        of the buffers' dtype, made once (a Python float operand costs a conversion, ~1 µs, at every call; the
        values are the same, as the kernels compute in that dtype)."""
        g, square_avg, acc_delta, std, delta = self.base, self.square_avg, self.acc_delta, self.std, self.delta
        if self.constants[:2] != (rho, eps):
            as_tensor = lambda v, like: torch.tensor(v, dtype=like.dtype, device=like.device)  # noqa: E731
            self.constants = (rho, eps, as_tensor(rho, g), as_tensor(eps, g), as_tensor(1, self.steps))
        _, _, rho_t, eps_t, one = self.constants
        self.steps.add_(one)
        square_avg.mul_(rho_t).addcmul_(g, g, value=1 - rho)
        torch.add(square_avg, eps_t, out=std).sqrt_()
        torch.add(acc_delta, eps_t, out=delta).sqrt_().div_(std).mul_(g)
        acc_delta.mul_(rho_t).addcmul_(delta, delta, value=1 - rho)
        torch._foreach_add_(self.params, self.deltas, alpha=-lr)


def _has_fused_adam(device: torch.device) -> bool:
    """Whether this torch has a fused Adam kernel for `device` (CPU: torch >= 2.4)."""
    fused = getattr(torch, "_fused_adam_", None)
    if fused is None:
        return False
    p, g, m, v = (torch.zeros(1, device=device) for _ in range(4))
    try:
        fused(
            [p],
            [g],
            [m],
            [v],
            [],
            [torch.ones((), device=device)],
            amsgrad=False,
            lr=0.0,
            beta1=0.9,
            beta2=0.999,
            weight_decay=0.0,
            eps=1e-8,
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )
    except (RuntimeError, NotImplementedError, TypeError):
        return False
    return True


class Adam(_Optimizer):
    """Adam (Kingma & Ba 2015) as torch.optim.Adam: torch's fused kernel where there is one for the parameters'
    device (``fused=None``; ``defaults["fused"]`` says which), else torch.optim's formula."""

    buffers = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        fused: bool | None = None,
    ) -> None:
        params = list(params)
        if fused is None:  # where the kernel exists
            fused = bool(params) and _has_fused_adam(params[0].device)
        super().__init__(
            params,
            {
                "lr": lr,
                "betas": tuple(betas),
                "eps": eps,
                "weight_decay": weight_decay,
                **_unused_flags("amsgrad", "maximize", "foreach", "capturable", "differentiable"),
                "fused": bool(fused),
                "decoupled_weight_decay": False,
            },
        )

    def _update(self, group: dict[str, Any], params, grads, states) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        steps = [s["step"] for s in states]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        torch._foreach_add_(steps, 1)
        if self.defaults["fused"]:
            torch._fused_adam_(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                amsgrad=False,
                lr=lr,
                beta1=beta1,
                beta2=beta2,
                weight_decay=wd,
                eps=eps,
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
            return
        if wd:
            grads = torch._foreach_add(grads, params, alpha=wd)
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        for param, exp_avg, exp_avg_sq, step in zip(params, exp_avgs, exp_avg_sqs, steps):
            n = step.item()
            step_size = lr / (1 - beta1**n)
            denom = (exp_avg_sq.sqrt() / (1 - beta2**n) ** 0.5).add_(eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)


class SGD(_Optimizer):
    """Plain stochastic gradient descent (no momentum), as torch.optim.SGD's defaults."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "momentum": 0,
                "dampening": 0,
                "weight_decay": weight_decay,
                **_unused_flags("nesterov", "maximize", "foreach", "differentiable", "fused"),
            },
        )

    def _update(self, group: dict[str, Any], params, grads, states) -> None:
        if group["weight_decay"]:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        torch._foreach_add_(params, grads, alpha=-group["lr"])
