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
from typing import Any, Sequence

import torch

from aekit.config import TrainConfig, replace
from aekit.data.rows import (
    _blocks,
    _rows,
    as_rows,
    batch_reader,
    check_features,
    check_ranges,
    fit_scaler,
    sort_batches,
    warn_row_by_row,
)
from aekit.errors import ConfigError, DataError, TrainingError, option
from aekit.history import History
from aekit.models import Autoencoder
from aekit.objectives import corrupt, loss_terms, warn_slow_bfloat16
from aekit.training.callbacks.base import Callback, TrainState
from aekit.training.distributed import DataParallel
from aekit.training.optim import (
    check_compile,
    compiled_step,
    ema_update,
    lr_at,
    make_optimizer,
    swap_average,
)


# --------------------------------------------------------------------------- order
def epoch_order(n: int, cfg: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """The order of the `n` training rows for one epoch: a random permutation, or with ``shuffle_block`` b > 1
    a random permutation of runs of b consecutive rows (the last run may be shorter), or 0 … n-1 unshuffled.

    Runs make a memory-mapped file's reads fewer and longer (one read per run, not one per row), at the price of
    batches that mix fewer places of the file: shuffle the file's rows once beforehand if they are ordered.
    """
    if not cfg.shuffle:
        return torch.arange(n)
    b = cfg.shuffle_block
    if b == 1:
        return torch.randperm(n, generator=generator)
    runs = torch.randperm(-(-n // b), generator=generator)
    order = (runs[:, None] * b + torch.arange(b)).reshape(-1)
    return order[order < n]


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(model: Autoencoder, x: Any, y: Any = None, config: TrainConfig | None = None, *, batch_size: int = 1024) -> dict[str, float]:
    """Every loss term on (x, y), averaged over rows; a denoising config corrupts x with fixed noise."""
    x = as_rows(x, "validation x", keep_memmap=True)
    y = x if y is None else as_rows(y, "validation y", keep_memmap=True)
    check_features(model, x, "validation x")
    return _evaluate_rows(model, x, y, config or TrainConfig(), batch_size)


@torch.no_grad()
def _evaluate_rows(model: Autoencoder, x, y, cfg: TrainConfig, batch_size: int = 1024) -> dict[str, float]:
    """`evaluate` on rows already checked by `as_rows` (fit calls this every epoch). Blocks of 1024 rows keep the
    temporaries in cache (blocks of 10,000 rows took twice the CPU time)."""
    was_training = model.training
    model.eval()
    if cfg.precision != "float32":  # validation measures the float32 model that fit returns and encode uses
        cfg = replace(cfg, precision="float32")
    gen = torch.Generator().manual_seed(cfg.seed + 1)  # the same corruption every epoch
    sums: dict[str, float] = {}
    for start, xb in _blocks(x, batch_size):
        xb = model.scale_rows(xb)  # the network's units (a model without a scaler: the rows themselves)
        yb = xb if y is x else model.scale_rows(_rows(y, slice(start, start + batch_size)))
        terms = loss_terms(model, corrupt(xb, cfg.noise, cfg.noise_level, gen), yb, cfg)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v) * xb.shape[0]
    model.train(was_training)
    return {k: v / x.shape[0] for k, v in sums.items()}


# --------------------------------------------------------------------------- the loop
def _split_off(x, y, validation_data, fraction: float):
    """(x, y, validation_data) with the last `fraction` of the rows held out, before shuffling (Keras' rule)."""
    if validation_data is not None:
        raise ConfigError(f"pass {option('validation_data')} or {option('validation_split')}, not both")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ConfigError(f"validation_split must lie in [0, 1), got {fraction!r}; "
                          f"pass e.g. {option('validation_split', 0.1)}")
    n_val = int(x.shape[0] * fraction)  # Keras: the last int(n * fraction) rows
    if n_val == 0 or n_val == x.shape[0]:
        raise ConfigError(f"validation_split {fraction:g} of {x.shape[0]} rows leaves no validation or no training "
                          "rows; pass a fraction that keeps some of each")
    cut = x.shape[0] - n_val
    return x[:cut], (y if y is x else y[:cut]), (x[cut:], None if y is x else y[cut:])


def fit(
    model: Autoencoder,
    x: Any,
    y: Any = None,
    config: TrainConfig | None = None,
    *,
    validation_data: tuple[Any, Any] | Any | None = None,
    validation_split: float = 0.0,
    callbacks: Sequence[Callback] = (),
    verbose: int = 1,
    state: TrainState | None = None,
    check_input: bool = True,
    **overrides: Any,
) -> History:
    """Train `model` to map `x` to `y` (default `x`), Keras-style.

    ``fit(model, x, x, epochs=50, batch_size=256, shuffle=True, validation_data=(xt, xt))``.
    `x` may be a float32 ``np.memmap`` (``aekit.load_array`` of a .npy): each batch is read from the file.
    With ``ema`` > 0 the validation figures are those of the weights' moving average, and the model ends with it.
    ``validation_split=0.1`` holds out the last 10% of the rows (before any shuffling), as Keras does.
    A model with an input scaler (``ModelConfig(scale="standard")``) not yet fitted is fitted on the training rows.
    Keyword overrides replace fields of `config`. `verbose` 0 is quiet, 1 a bar per epoch,
    2 a line per epoch. Pass `state` (from a checkpoint) to resume where it stopped. ``check_input=False`` skips
    the NaN/inf and [0, 1] scans of the rows (for rows already checked, as ``aekit.train`` checks them before it
    creates the run folder); shapes and feature counts are checked either way.
    """
    cfg = replace(config or TrainConfig(), **overrides) if overrides else (config or TrainConfig())
    x_given, x = x, as_rows(x, "x", keep_memmap=True, check=check_input)
    y = x if y is None or y is x_given else as_rows(y, "y", keep_memmap=True, check=check_input)
    check_features(model, x)
    if y.shape != x.shape:
        raise DataError(f"y has shape {tuple(y.shape)} but x has {tuple(x.shape)}; an autoencoder's target has the input's shape")
    if validation_split:
        x, y, validation_data = _split_off(x, y, validation_data, validation_split)
    if not model.scaler_fitted and state is None:
        vx = validation_data[0] if isinstance(validation_data, tuple) else validation_data
        fit_scaler(model, x, None if vx is None else as_rows(vx, "validation x", keep_memmap=True, check=False))
    if check_input:
        check_ranges(cfg, x, "the input", y, "the target", model=model)
    if validation_data is not None:
        vx, vy = validation_data if isinstance(validation_data, tuple) else (validation_data, None)
        vx_given, vx = vx, as_rows(vx, "validation x", keep_memmap=True, check=check_input)
        vy = vx if vy is None or vy is vx_given else as_rows(vy, "validation y", keep_memmap=True, check=check_input)
        check_features(model, vx, "validation x")
        if check_input:
            check_ranges(cfg, vx, "the validation input", vy, "the validation target", model=model)
    n = x.shape[0]
    from aekit.kinds import warn_identity_risk

    warn_identity_risk(model.config, cfg)
    warn_slow_bfloat16(cfg.precision)
    warn_row_by_row(x, cfg)
    par = DataParallel(model, cfg)  # under torchrun: DDP, this rank's shard, batch_size / world_size rows per step
    bs = par.batch_size
    if state is None:
        state = TrainState(model, make_optimizer(model, cfg), cfg, torch.Generator().manual_seed(cfg.seed), History())
    state.steps_per_epoch = math.ceil(par.shard_size(n) / bs)
    loss_fn, optimizer_step = par.loss_terms, state.optimizer.step
    if cfg.compile:
        check_compile(cfg, par.world_size)
        loss_fn, optimizer_step = compiled_step(par.loss_terms, state.optimizer, cfg)
    callbacks = list(callbacks)
    if cfg.patience:  # first, so that a Checkpoint after it saves its updated state
        from aekit.training.callbacks.stopping import EarlyStopping

        if not any(isinstance(cb, EarlyStopping) for cb in callbacks):
            callbacks.insert(0, EarlyStopping.from_config(cfg))
    if model.config.code != "deterministic" or cfg.binarize != "none":  # the code's noise and the KL warm-up
        from aekit.training.callbacks.latent import LatentSchedule

        callbacks.insert(0, LatentSchedule())
    if verbose and par.is_main:
        from aekit.training.callbacks.progress import ProgressBar

        callbacks.insert(0, ProgressBar(verbose))
    from aekit.training.callbacks.plateau import Plateau

    if par.is_main and not any(isinstance(cb, Plateau) for cb in callbacks):  # one warning when the loss stays put
        callbacks.append(Plateau.of(model, x, y))
    update_average = ema_update(cfg.ema) if cfg.ema else None
    model.train()
    for cb in callbacks:
        cb.on_train_begin(state)
    while state.epoch < cfg.epochs and not state.stop_training:
        for cb in callbacks:
            cb.on_epoch_begin(state)
        t0 = time.perf_counter()
        if update_average:  # the steps train the model's own weights; their average waits in state.extra
            average, weights = swap_average(state)
        order = epoch_order(n, cfg, state.generator)
        order, noise = par.shard(order, state)
        order = sort_batches(order, bs)  # each batch's rows in file order: a memmap's reads go forward
        scale = model.scale_rows if model.scaled else None  # the network's units
        read_x = batch_reader(x, order, bs, scale)
        read_y = read_x if y is x else batch_reader(y, order, bs, scale)
        sums: dict[str, float] = {}
        try:
            for batch, start in enumerate(range(0, len(order), bs)):
                idx = order[start:start + bs]
                xb = read_x(batch)
                yb = xb if y is x else read_y(batch)
                terms = loss_fn(corrupt(xb, cfg.noise, cfg.noise_level, noise), yb)
                state.optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                if cfg.schedule != "constant":
                    for group in state.optimizer.param_groups:
                        group["lr"] = lr_at(cfg, state.step, cfg.epochs * state.steps_per_epoch)
                optimizer_step()
                if update_average:
                    update_average(average, weights, state.step)
                state.step += 1
                loss = terms["loss"].item()
                if not math.isfinite(loss):
                    bad = next((k for k, v in terms.items() if k != "loss" and not math.isfinite(float(v.detach()))),
                               "loss")
                    raise TrainingError(
                        f"the loss became {loss} at epoch {state.epoch + 1}, step {batch + 1}; "
                        f"lower the learning rate (now {state.optimizer.param_groups[0]['lr']:g}) or check the data for extreme values"
                        f" (first non-finite term: {bad!r})"
                    )
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + (loss if k == "loss" else v.item()) * idx.numel()
                for cb in callbacks:
                    cb.on_batch_end(state, batch, {"loss": loss})
        finally:
            if update_average:  # validation, callbacks, checkpoints and whoever catches an error see the average
                swap_average(state)
        logs = par.mean(sums, len(order))
        if validation_data is not None:
            logs.update({f"val_{k}": v for k, v in par.evaluate(vx, vy, _evaluate_rows).items()})
        logs["epoch_time"] = time.perf_counter() - t0
        state.epoch += 1
        state.history.append(state.epoch, logs)
        for cb in callbacks:
            cb.on_epoch_end(state, logs)
        state.stop_training = par.any(state.stop_training)
    for cb in callbacks:
        cb.on_train_end(state)
    return state.history
