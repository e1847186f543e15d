"""The training loop: a flat `fit`, its `History` and `TrainState`, and the `Callback` hooks it calls.

>>> import numpy as np, aekit
>>> x = np.random.default_rng(0).random((64, 784), dtype=np.float32)
>>> model = aekit.Autoencoder()
>>> history = aekit.fit(model, x, x, epochs=2, batch_size=32, verbose=0)
>>> len(history.history["loss"])
2
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from .config import TrainConfig, replace
from .errors import DataError, TrainingError
from .models import Autoencoder
from .objectives import corrupt, loss_terms


# --------------------------------------------------------------------------- history and state
class History:
    """Keras' History: ``history.history["val_loss"]`` is the list of per-epoch values."""

    def __init__(self, history: dict[str, list[float]] | None = None, epoch: list[int] | None = None) -> None:
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}
        self.epoch: list[int] = list(epoch or [])

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        return cls(data.get("history", {}), data.get("epoch", []))

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


@dataclass
class TrainState:
    """Everything `fit` mutates; callbacks read it (and may set `stop_training`)."""

    model: Autoencoder
    optimizer: torch.optim.Optimizer
    config: TrainConfig
    generator: torch.Generator  # drives shuffling and corruption
    history: History
    epoch: int = 0  # epochs completed
    step: int = 0  # gradient steps completed in total
    steps_per_epoch: int = 0
    stop_training: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # room for callbacks' own state


class Callback:
    """No-op hooks; subclass and override the ones you need."""

    def on_train_begin(self, state: TrainState) -> None: ...
    def on_epoch_begin(self, state: TrainState) -> None: ...
    def on_batch_end(self, state: TrainState, batch: int, logs: dict[str, float]) -> None: ...
    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...


# --------------------------------------------------------------------------- optimizers and data
def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer with Keras 2 semantics (adadelta: lr 1.0, rho 0.95, eps 1e-7)."""
    params, lr = model.parameters(), cfg.learning_rate
    if cfg.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=0.95, eps=1e-7)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7)
    return torch.optim.SGD(params, lr=lr)


def as_rows(x: Any, name: str = "x") -> torch.Tensor:
    """A 2-D float32 tensor of rows; refuses other shapes, NaN and inf with a clear message."""
    if isinstance(x, torch.Tensor):
        t = x.detach().to(torch.float32)
    else:
        a = np.asarray(x)
        if a.dtype.kind not in "biuf":
            raise DataError(f"{name} must be numeric, got dtype {a.dtype}; convert it to float32")
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    if t.ndim == 1:
        t = t.reshape(-1, 1)
    elif t.ndim > 2:
        t = t.reshape(t.shape[0], -1)
    if t.shape[0] == 0:
        raise DataError(f"{name} has no rows; pass at least one row of data")
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).any(dim=1).nonzero()[0, 0])
        raise DataError(f"{name} holds NaN or inf (first in row {bad}); clean the data or use `aekit impute` for gaps")
    return t


def check_features(model: Autoencoder, x: torch.Tensor, name: str = "x") -> None:
    if x.shape[1] != model.config.input_dim:
        raise DataError(
            f"{name} has {x.shape[1]} features but the model expects {model.config.input_dim}; "
            "pass data with the same columns as the training data"
        )


def check_loss_range(x: torch.Tensor, cfg: TrainConfig, name: str = "x") -> None:
    if cfg.loss == "bce" and (float(x.min()) < 0 or float(x.max()) > 1):
        raise DataError(
            f"{name} has values outside [0, 1] (min {float(x.min()):.4g}, max {float(x.max()):.4g}), which the "
            "'bce' loss cannot use; scale the data to [0, 1] or pass --loss mse"
        )


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(model: Autoencoder, x: Any, y: Any = None, config: TrainConfig | None = None, *, batch_size: int = 4096) -> dict[str, float]:
    """Every loss term on (x, y), averaged over rows; a denoising config corrupts x with fixed noise."""
    cfg = config or TrainConfig()
    x = as_rows(x, "validation x")
    y = x if y is None else as_rows(y, "validation y")
    check_features(model, x, "validation x")
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(cfg.seed + 1)  # the same corruption every epoch
    sums: dict[str, float] = {}
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        terms = loss_terms(model, corrupt(xb, cfg.noise, cfg.noise_level, gen), yb, cfg)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v) * xb.shape[0]
    model.train(was_training)
    return {k: v / x.shape[0] for k, v in sums.items()}


# --------------------------------------------------------------------------- the loop
def fit(
    model: Autoencoder,
    x: Any,
    y: Any = None,
    config: TrainConfig | None = None,
    *,
    validation_data: tuple[Any, Any] | Any | None = None,
    callbacks: Sequence[Callback] = (),
    verbose: int = 1,
    state: TrainState | None = None,
    **overrides: Any,
) -> History:
    """Train `model` to map `x` to `y` (default `x`), Keras-style.

    ``fit(model, x, x, epochs=50, batch_size=256, shuffle=True, validation_data=(xt, xt))``.
    Keyword overrides replace fields of `config`. `verbose` 0 is quiet, 1 a bar per epoch,
    2 a line per epoch. Pass `state` (from a checkpoint) to resume where it stopped.
    """
    cfg = replace(config or TrainConfig(), **overrides) if overrides else (config or TrainConfig())
    x = as_rows(x, "x")
    y = x if y is None else as_rows(y, "y")
    check_features(model, x)
    if y.shape != x.shape:
        raise DataError(f"y has shape {tuple(y.shape)} but x has {tuple(x.shape)}; an autoencoder's target has the input's shape")
    check_loss_range(y, cfg, "the target")
    if validation_data is not None:
        vx, vy = validation_data if isinstance(validation_data, tuple) else (validation_data, None)
        vx = as_rows(vx, "validation x")
        vy = vx if vy is None else as_rows(vy, "validation y")
        check_features(model, vx, "validation x")
        check_loss_range(vy, cfg, "the validation target")
    n, bs = x.shape[0], cfg.batch_size
    from .kinds import warn_identity_risk

    warn_identity_risk(model.config, cfg)
    if state is None:
        state = TrainState(model, make_optimizer(model, cfg), cfg, torch.Generator().manual_seed(cfg.seed), History())
    state.steps_per_epoch = math.ceil(n / bs)
    callbacks = list(callbacks)
    if verbose:
        from .callbacks import ProgressBar

        callbacks.insert(0, ProgressBar(verbose))
    model.train()
    for cb in callbacks:
        cb.on_train_begin(state)
    while state.epoch < cfg.epochs and not state.stop_training:
        for cb in callbacks:
            cb.on_epoch_begin(state)
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=state.generator) if cfg.shuffle else torch.arange(n)
        sums: dict[str, float] = {}
        for batch, start in enumerate(range(0, n, bs)):
            idx = order[start:start + bs]
            xb = x[idx]
            yb = xb if y is x else y[idx]
            terms = loss_terms(model, corrupt(xb, cfg.noise, cfg.noise_level, state.generator), yb, cfg)
            state.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            state.optimizer.step()
            state.step += 1
            loss = terms["loss"].item()
            if not math.isfinite(loss):
                raise TrainingError(
                    f"the loss became {loss} at epoch {state.epoch + 1}, step {batch + 1}; "
                    f"lower the learning rate (now {cfg.learning_rate:g}) or check the data for extreme values"
                )
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + (loss if k == "loss" else v.item()) * idx.numel()
            for cb in callbacks:
                cb.on_batch_end(state, batch, {"loss": loss})
        logs = {k: v / n for k, v in sums.items()}
        if validation_data is not None:
            logs.update({f"val_{k}": v for k, v in evaluate(model, vx, vy, cfg).items()})
        logs["epoch_time"] = time.perf_counter() - t0
        state.epoch += 1
        state.history.append(state.epoch, logs)
        for cb in callbacks:
            cb.on_epoch_end(state, logs)
    for cb in callbacks:
        cb.on_train_end(state)
    return state.history
