"""The training loop: `fit`, flat like nanoGPT's, and what it reads beside it: the checks of each (input, target) pair,
each epoch's batches on the device (`Batches`), the epoch's losses (`EpochLosses`, read once per epoch) and
validation (`evaluate`). `History`, `TrainState` and the `Callback` hooks live with the callbacks.

Nothing in a step waits for the device: the rows sit on it when they fit (`aekit.data.rows.place_rows`), batches are
sliced there in an order drawn there, and the losses stay there until the epoch ends. So on a GPU, Python queues
steps ahead of the GPU instead of waiting on each one; on the CPU the same code runs, its copies no-ops.

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
from collections.abc import Iterator, Mapping
from typing import Any, Sequence

import torch

from aekit.config import TrainConfig, replace
from aekit.config_checks import must_be
from aekit.data.reading import sort_batches
from aekit.data.rows import (
    DeviceRows,
    as_rows,
    check_features,
    check_ranges,
    fit_scaler,
    place_rows,
    warn_row_by_row,
)
from aekit.devices import model_device
from aekit.errors import ConfigError, DataError, TrainingError, option
from aekit.history import History
from aekit.kinds import warn_identity_risk
from aekit.models import Autoencoder
from aekit.objectives import corrupt, loss_terms, warn_slow_bfloat16
from aekit.training.callbacks.averaging import MovingAverage
from aekit.training.callbacks.base import Callback, TrainState
from aekit.training.callbacks.plateau import Plateau
from aekit.training.callbacks.progress import ProgressBar
from aekit.training.callbacks.stopping import EarlyStopping
from aekit.training.distributed import DataParallel
from aekit.training.labels import label_rows, split_labels
from aekit.training.optim import lr_at, make_optimizer, step_functions


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
    check_input: bool = True,
    device: str | torch.device | None = None,
    validation_split: float = 0.0,
    labels: Any = None,
    validation_labels: Any = None,
    **overrides: Any,
) -> History:
    """Train `model` to map `x` to `y` (default `x`), Keras-style.

    ``fit(model, x, x, epochs=50, batch_size=256, shuffle=True, validation_data=(xt, xt))``.
    `x` may be a float32 ``np.memmap`` (``aekit.load_array`` of a .npy): each batch is read from the file.
    `device` ('auto', 'cpu', 'cuda', 'cuda:N', 'mps'; default None: where the model is) is where it trains: the
    model moves there and stays, and the rows are copied there once when they fit (else each batch is).
    With ``ema`` > 0 the validation figures are those of the weights' moving average, and the model ends with it.
    Keyword overrides replace fields of `config`. `verbose` 0 is quiet, 1 a bar per epoch,
    2 a line per epoch. Pass `state` (from a checkpoint) to resume where it stopped. ``check_input=False`` skips
    the NaN/inf and [0, 1] scans of the rows (for rows already checked, as ``aekit.train`` checks them before it
    creates the run folder); shapes and feature counts are checked either way.
    ``validation_split=0.1`` holds out the last 10% of the rows (before any shuffling), as Keras does.
    A model with an input scaler (``ModelConfig(scale="standard")``) not yet fitted is fitted on the training rows.
    A conditional model (``n_classes`` > 0, kind cvae) trains on class `labels` (one per row, and
    `validation_labels` for the validation rows).
    """
    _check_model_and_config(model, config)
    cfg = replace(config or TrainConfig(), **overrides) if overrides else (config or TrainConfig())
    if validation_split:
        x, y, validation_data = _split_off(x, y, validation_data, validation_split)
        labels, validation_labels = split_labels(labels, validation_labels, x.shape[0])
    vx, vy = validation_data if isinstance(validation_data, tuple) else (validation_data, None)
    if not model.scaler_fitted and state is None:
        fit_scaler(
            model,
            as_rows(x, "x", keep_memmap=True, check=False),
            None if vx is None else as_rows(vx, "validation x", keep_memmap=True, check=False),
        )
    x, y = checked_pair(model, cfg, x, y, "", check_input)
    val = None if vx is None else checked_pair(model, cfg, vx, vy, "validation ", check_input)
    device = model_device(model, device)  # one device for the run: the model moves there and stays
    warn_identity_risk(model.config, cfg)
    warn_slow_bfloat16(cfg.precision, device)
    warn_row_by_row(x, cfg)
    par = DataParallel(model, cfg)  # under torchrun: DDP, this rank's shard, batch_size / world_size rows per step
    if state is None:
        generator = torch.Generator(device).manual_seed(cfg.seed)  # drives shuffling and corruption, on the device
        state = TrainState(model, make_optimizer(model, cfg), cfg, generator, History())
    state.to(device)  # a checkpoint's state, loaded on the CPU, joins the model
    labels, val_labels = label_rows(model, labels, x, device), label_rows(model, validation_labels, vx, device)
    batches = Batches(x, y, device, par, cfg, model.scale_rows, labels, model.labels)  # the rows on the device, once
    val = None if val is None else placed_pair(*val, device)
    state.steps_per_epoch = total = batches.steps
    grad_step, optimizer_step = step_functions(par, state)  # closed-form gradients where they apply (analytic.py)
    callbacks = with_builtins(callbacks, cfg, verbose if par.is_main else 0, model)
    if par.is_main and not any(isinstance(cb, Plateau) for cb in callbacks):  # one warning when the loss stays put
        callbacks.append(Plateau.of(model, x, y, labels=labels))
    model.train()
    for cb in callbacks:
        cb.on_train_begin(state)
    while state.epoch < cfg.epochs and not state.stop_training:
        for cb in callbacks:
            cb.on_epoch_begin(state)
        t0 = time.perf_counter()
        epoch, noise = batches.epoch(state)  # this epoch's shuffled batches, read on the device
        losses = EpochLosses(total, device)
        try:
            for batch, (xb, yb) in enumerate(epoch):
                terms = grad_step(corrupt(xb, cfg.noise, cfg.noise_level, noise), yb)  # the terms; .grad filled
                if cfg.schedule != "constant":
                    for group in state.optimizer.param_groups:
                        group["lr"] = lr_at(cfg, state.step, cfg.epochs * total)
                optimizer_step()
                state.step += 1
                logs = losses.add(terms, xb.shape[0])  # kept on the device: no wait
                for cb in callbacks:
                    cb.on_step_end(state)
                for cb in callbacks:
                    cb.on_batch_end(state, batch, logs)
        finally:
            for cb in callbacks:  # also after an error: the moving average goes back into the model
                cb.on_validation_begin(state)
        logs = losses.means(state, par)  # the epoch's one wait for the device; a NaN or inf loss raises here
        if val is not None:
            logs.update({f"val_{k}": v for k, v in par.evaluate(*val, _evaluate_rows, labels=val_labels).items()})
        logs["epoch_time"] = time.perf_counter() - t0
        state.epoch += 1
        state.history.append(state.epoch, logs)
        for cb in callbacks:
            cb.on_epoch_end(state, logs)
        state.stop_training = par.any(state.stop_training)
    for cb in callbacks:
        cb.on_train_end(state)
    return state.history


# --------------------------------------------------------------------------- what fit reads
def _split_off(x, y, validation_data, fraction: float):
    """(x, y, validation_data) with the last `fraction` of the rows held out, before shuffling (Keras' rule)."""
    if validation_data is not None:
        raise ConfigError(f"pass {option('validation_data')} or {option('validation_split')}, not both")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ConfigError(
            f"validation_split must lie in [0, 1), got {fraction!r}; pass e.g. {option('validation_split', 0.1)}"
        )
    y = x if y is None else y
    n_val = int(x.shape[0] * fraction)  # Keras: the last int(n * fraction) rows
    if n_val == 0 or n_val == x.shape[0]:
        raise ConfigError(
            f"validation_split {fraction:g} of {x.shape[0]} rows leaves no validation or no training "
            "rows; pass a fraction that keeps some of each"
        )
    cut = x.shape[0] - n_val
    return x[:cut], (None if y is x else y[:cut]), (x[cut:], None if y is x else y[cut:])


def checked_pair(model: Autoencoder, cfg: TrainConfig, x: Any, y: Any, prefix: str, check: bool):
    """`x` and its target `y` (default `x`) as rows (a float32 memmap stays one), checked: NaN/inf (unless `check` is
    False), the model's feature count, the same shape, and the [0, 1] range where the loss or the noise needs it.
    `prefix` names the pair in messages: '' for the training rows, 'validation ' for the validation rows."""
    x_given, x = x, as_rows(x, f"{prefix}x", keep_memmap=True, check=check)
    y = x if y is None or y is x_given else as_rows(y, f"{prefix}y", keep_memmap=True, check=check)
    check_features(model, x, f"{prefix}x")
    if y.shape != x.shape:
        raise DataError(
            f"{prefix}y has shape {tuple(y.shape)} but {prefix}x has {tuple(x.shape)}; "
            "an autoencoder's target has the input's shape"
        )
    if check:
        check_ranges(cfg, x, f"the {prefix}input", y, f"the {prefix}target", model=model)
    return x, y


def placed_pair(x, y, device: torch.device) -> tuple[DeviceRows, DeviceRows]:
    """Rows and targets placed on `device` (`place_rows`); a target that is the input is placed once."""
    px = place_rows(x, device)
    return px, px if y is x else place_rows(y, device)


def with_builtins(callbacks: Sequence[Callback], cfg: TrainConfig, verbose: int, model: Autoencoder) -> list[Callback]:
    """The callbacks `fit` calls: the progress bar and early stopping first (so that a Checkpoint after them saves the
    state they changed), the code's schedule (noise, KL warm-up) before them, the caller's, then the weights' moving
    average last (it swaps weights around the steps)."""
    callbacks = list(callbacks)
    if model.config.code != "deterministic" or cfg.binarize != "none":  # the code's noise and the KL warm-up
        from aekit.training.callbacks.latent import LatentSchedule

        callbacks.insert(0, LatentSchedule())
    if cfg.patience and not any(isinstance(cb, EarlyStopping) for cb in callbacks):
        callbacks.insert(0, EarlyStopping.from_config(cfg))
    if verbose:
        callbacks.insert(0, ProgressBar(verbose))
    if cfg.ema and not any(isinstance(cb, MovingAverage) for cb in callbacks):
        callbacks.append(MovingAverage(cfg.ema))
    return callbacks


def epoch_order(n: int, cfg: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """The order of the `n` training rows for one epoch, drawn on the generator's device: a random permutation, or
    with ``shuffle_block`` b > 1 a random permutation of runs of b consecutive rows (the last run may be shorter),
    or 0 … n-1 unshuffled.

    Runs make a memory-mapped file's reads fewer and longer (one read per run, not one per row), at the price of
    batches that mix fewer places of the file: shuffle the file's rows once beforehand if they are ordered.
    """
    device = generator.device
    if not cfg.shuffle:
        return torch.arange(n, device=device)
    b = min(cfg.shuffle_block, max(n, 1))  # a run longer than the rows is all of them: the same order
    if b == 1:
        return torch.randperm(n, generator=generator, device=device)
    runs = torch.randperm(-(-n // b), generator=generator, device=device)
    order = (runs[:, None] * b + torch.arange(b, device=device)).reshape(-1)
    return order[order < n]


class Batches:
    """The training rows placed on the device once (`place_rows`), and each epoch's batches read from them."""

    def __init__(
        self, x, y, device: torch.device, par: DataParallel, cfg: TrainConfig, scale=None, labels=None, slot=None
    ) -> None:
        self.x, self.y = placed_pair(x, y, device)
        self.labels = None if labels is None else place_rows(labels, device)  # a cvae's one-hot labels (`label_rows`)
        self.slot = slot  # the model's LabelSlot: each batch's labels go there
        self.scale = scale or (lambda rows: rows)  # rows in the user's units -> the network's (a model's scaler)
        self.n, self.size, self.par, self.cfg = x.shape[0], par.batch_size, par, cfg
        self.steps = math.ceil(par.shard_size(self.n) / self.size)

    def epoch(self, state: TrainState) -> tuple[Iterator[tuple[torch.Tensor, torch.Tensor]], torch.Generator]:
        """This epoch's (input, target) batches, in order, and the generator of its input corruption."""
        order = epoch_order(self.n, self.cfg, state.generator)
        order, noise = self.par.shard(order, state)
        order = sort_batches(order, self.size)  # each batch's rows in file order: a memmap's reads go forward
        read_x = self.x.reader(order, self.size)
        read_y = read_x if self.y is self.x else self.y.reader(order, self.size)
        read_labels = None if self.labels is None else self.labels.reader(order, self.size)

        def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            try:
                for k in range(self.steps):
                    if read_labels is not None:
                        self.slot.onehot = read_labels(k)
                    xb = self.scale(read_x(k))
                    yield xb, xb if read_y is read_x else self.scale(read_y(k))
            finally:
                if read_labels is not None:
                    self.slot.onehot = None

        return batches(), noise


class EpochLosses:
    """Every loss term of each step of an epoch, kept on the device (one small copy per step, no wait), read once when
    the epoch ends: their means over the rows, or a TrainingError naming the first step whose loss is not finite."""

    def __init__(self, steps: int, device: torch.device) -> None:
        self.steps, self.device = steps, device
        self.keys: list[str] = []
        self.values: torch.Tensor | None = None  # (steps, terms), float32, on the device
        self.rows: list[int] = []  # rows of each step

    def add(self, terms: dict[str, torch.Tensor], rows: int) -> Mapping[str, float]:
        """Keep one step's terms; returns its logs for on_batch_end (the loss, read from the device only if asked)."""
        if self.values is None:
            self.keys, self.at = list(terms), list(terms).index("loss")
            self.values = torch.empty((self.steps, len(self.keys)), dtype=torch.float32, device=self.device)
        step = len(self.rows)
        torch.stack([terms[k].detach() for k in self.keys], out=self.values[step])  # every term is float32
        self.rows.append(rows)
        return _StepLogs(self.values, step, self.at)

    def means(self, state: TrainState, par: DataParallel) -> dict[str, float]:
        """Each term's mean over the epoch's rows (over every rank's under torchrun)."""
        values, at = self.values[: len(self.rows)].tolist(), self.at  # the one read of the device this epoch
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v[at])), None)
        if par.any(bad is not None):
            cfg, epoch = state.config, state.epoch + 1
            lr = (
                state.optimizer.param_groups[0]["lr"]
                if cfg.schedule == "constant"
                else lr_at(cfg, state.step - len(values) + (bad or 0), cfg.epochs * self.steps)
            )
            where = (
                f"the loss became {values[bad][at]} at epoch {epoch}, step {bad + 1}"
                if bad is not None
                else f"the loss became NaN or inf at epoch {epoch} in another process"
            )
            term = (
                "loss"
                if bad is None
                else next((k for k, v in zip(self.keys, values[bad]) if k != "loss" and not math.isfinite(v)), "loss")
            )
            raise TrainingError(
                f"{where}; lower the learning rate (now {lr:g}) or check the data for extreme values"
                + (f" (first non-finite term: {term!r})" if bad is not None else "")
            )
        sums: dict[str, float] = {}
        for step, rows in zip(values, self.rows):
            for k, v in zip(self.keys, step):
                sums[k] = sums.get(k, 0.0) + v * rows
        return par.mean(sums, sum(self.rows))


class _StepLogs(Mapping):
    """``{"loss": …}`` of one step, read from the device when looked up (the lookup waits for the device)."""

    __slots__ = ("_values", "_step", "_at")

    def __init__(self, values: torch.Tensor, step: int, at: int) -> None:
        self._values, self._step, self._at = values, step, at

    def __getitem__(self, key: str) -> float:
        if key != "loss":
            raise KeyError(key)
        return float(self._values[self._step, self._at])

    def __iter__(self):
        return iter(("loss",))

    def __len__(self) -> int:
        return 1


def _check_model_and_config(model: Any, config: Any) -> None:
    must_be("model", model, Autoencoder, "pass Autoencoder(ModelConfig(…)) or aekit.load_model(path)")
    must_be("config", config, (TrainConfig, type(None)), "pass TrainConfig(…), or its fields as keywords (epochs=10)")


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(
    model: Autoencoder,
    x: Any,
    y: Any = None,
    config: TrainConfig | None = None,
    *,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    labels: Any = None,
) -> dict[str, float]:
    """Every loss term on (x, y), averaged over rows; a denoising config corrupts x with fixed noise. `device`
    (default None: where the model is) is where it runs; the model moves there. A cvae needs the rows' `labels`."""
    _check_model_and_config(model, config)
    x = as_rows(x, "validation x", keep_memmap=True)
    y = x if y is None else as_rows(y, "validation y", keep_memmap=True)
    check_features(model, x, "validation x")
    device = model_device(model, device)
    onehot = label_rows(model, labels, x, device)
    return _evaluate_rows(model, *placed_pair(x, y, device), config or TrainConfig(), batch_size, labels=onehot)


@torch.no_grad()
def _evaluate_rows(
    model: Autoencoder,
    x: DeviceRows,
    y: DeviceRows,
    cfg: TrainConfig,
    batch_size: int = 1024,
    labels: torch.Tensor | None = None,
) -> dict[str, float]:
    """`evaluate` on rows already checked and placed (fit calls this every epoch); one read of the device per block.
    Blocks of 1024 rows keep the temporaries in cache."""
    was_training = model.training
    model.eval()
    if cfg.precision != "float32":  # validation measures the float32 model that fit returns and encode uses
        cfg = replace(cfg, precision="float32")
    gen = torch.Generator(x.device).manual_seed(cfg.seed + 1)  # the same corruption every epoch
    sums: dict[str, float] = {}
    targets = None if y is x else y.blocks(batch_size)
    for start, xb in x.blocks(batch_size):
        yb = model.scale_rows(xb if targets is None else next(targets)[1])  # the network's units
        xb = model.scale_rows(xb)
        with model.labels.holding(None if labels is None else labels[start : start + xb.shape[0]]):
            terms = loss_terms(model, corrupt(xb, cfg.noise, cfg.noise_level, gen), yb, cfg)
        for k, v in zip(terms, torch.stack([v.detach().float() for v in terms.values()]).tolist()):
            sums[k] = sums.get(k, 0.0) + v * xb.shape[0]
    model.train(was_training)
    return {k: v / x.shape[0] for k, v in sums.items()}
