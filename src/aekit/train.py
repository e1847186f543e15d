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
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from .config import TrainConfig, replace
from .distributed import DataParallel
from .errors import DataError, TrainingError
from .models import Autoencoder
from .objectives import corrupt, loss_terms, warn_slow_bfloat16
from .optim import check_compile, compiled_step, ema_update, lr_at, make_optimizer, swap_average
from .scans import file_offset, known_range, release_pages


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
def as_rows(x: Any, name: str = "x", *, keep_memmap: bool = False, check: bool = True) -> torch.Tensor | np.memmap:
    """A 2-D float32 tensor of rows; refuses other shapes, NaN and inf with a clear message.

    NaN/inf are looked for in blocks of about 16 MB. A float32 C-ordered ``np.memmap`` (``aekit.load_array``
    of a large .npy) becomes a tensor over the mapped file (no copy), or with `keep_memmap` stays the memmap
    itself, which `fit` gathers each batch from, releasing its pages, so the file never sits in memory whole.
    `check=False` skips the NaN/inf scan (for callers that check each block as they use it).
    """
    scanned = False
    if isinstance(x, np.memmap) and x.dtype == np.float32 and x.ndim >= 2 and x.flags.c_contiguous:
        t = x.reshape(x.shape[0], -1)
        scanned = known_range(t) is not None  # load_array already read these bytes and found them finite
        if not keep_memmap:
            with warnings.catch_warnings():  # read-only mapping: the tensor is never written to
                warnings.simplefilter("ignore", UserWarning)
                t = torch.from_numpy(np.asarray(t))
    elif isinstance(x, torch.Tensor):
        t = x.detach().to(torch.float32)
    else:
        a = np.asarray(x)
        if a.dtype.kind not in "biuf":
            raise DataError(f"{name} must be numeric, got dtype {a.dtype}; convert it to float32")
        with warnings.catch_warnings():  # a read-only array is fine: training never writes into x
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    if t.ndim == 1:
        t = t.reshape(-1, 1)
    elif t.ndim > 2:
        t = t.reshape(t.shape[0], -1)
    if t.shape[0] == 0:
        raise DataError(f"{name} has no rows; pass at least one row of data")
    if check and not scanned:
        for start, block in _blocks(t):
            _check_finite(block, name, start)
    return t


def _check_finite(block: torch.Tensor, name: str, start: int = 0) -> None:
    """Refuse NaN/inf in `block` (rows `start`…), naming the first bad row."""
    if math.isfinite(float(block.sum())):  # one cheap pass; NaN and inf always reach the sum
        return
    finite = torch.isfinite(block)
    if not bool(finite.all()):
        bad = start + int((~finite).any(dim=1).nonzero()[0, 0])
        raise DataError(f"{name} holds NaN or inf (first in row {bad}); clean the data or use `aekit impute` for gaps")


def _blocks(x: torch.Tensor | np.memmap, rows: int | None = None):
    """(first row, tensor) of consecutive row blocks of about 16 MB; a memmap's pages are released after each."""
    rows = rows or max(1, (16 << 20) // (4 * max(1, x.shape[1])))
    for start in range(0, x.shape[0], rows):
        yield start, _rows(x, slice(start, start + rows))
        release_pages(x)


def _rows(x: torch.Tensor | np.memmap, idx: torch.Tensor | slice) -> torch.Tensor:
    """Rows `idx` (sorted indices or a slice of step 1) of a tensor or a memmap, as a float32 tensor; a memmap's
    rows are read with ``pread`` where a file backs it (one read for a slice), else through the mapping."""
    if isinstance(x, torch.Tensor):
        return x[idx] if isinstance(idx, slice) else x.index_select(0, idx)
    rows = np.arange(*idx.indices(x.shape[0])) if isinstance(idx, slice) else idx.numpy()
    read = _read_runs(x, rows) if len(rows) else None
    if read is not None:
        return torch.from_numpy(read)
    return torch.from_numpy(np.array(x[idx]) if isinstance(idx, slice) else np.asarray(x[idx.numpy()]))


def _read_runs(x: np.memmap, idx: np.ndarray) -> np.ndarray | None:
    """Rows `idx` (sorted) of a 2-D float32 C-ordered memmap read with one ``pread`` per run of consecutive rows (a
    lone row is a run of one), or None for other memmaps (no file behind it, another dtype or layout, or
    ``mode='c'``, whose changes in memory the file does not hold).

    A ``pread`` copies from the page cache and maps nothing, so RSS does not grow and nothing needs releasing.
    Through the mapping each row costs page faults, and where the kernel maps large page-cache folios whole, each
    lone row maps up to 2 MB until released: a batch of 256 lone rows took 1.6 ms that way, 0.43 ms by 256 calls
    to ``pread`` (docs/performance.md).
    """
    if (getattr(x, "filename", None) is None or not isinstance(x.offset, int) or x.dtype != np.float32
            or x.ndim != 2 or not x.flags.c_contiguous or x.mode == "c"):
        return None  # not plain float32 rows of a file, or copy-on-write: changes made in memory are not in the file
    cuts = np.flatnonzero(np.diff(idx) != 1) + 1
    row_bytes = x.shape[1] * x.itemsize
    first = file_offset(x)  # file position of row 0
    out = np.empty((len(idx), x.shape[1]), dtype=np.float32)
    view = memoryview(out).cast("B")
    starts = np.concatenate(([0], cuts))
    spans = zip((starts * row_bytes).tolist(), (np.append(cuts, len(idx)) * row_bytes).tolist(),
                (first + idx[starts].astype(np.int64) * row_bytes).tolist())  # Python ints: the loop stays cheap
    try:
        fd = os.open(x.filename, os.O_RDONLY)
    except OSError:
        return None
    try:
        for a, b, at in spans:
            if os.preadv(fd, [view[a:b]], at) != b - a:  # through the mapping, these bytes would kill the process (SIGBUS)
                raise DataError(f"{x.filename}: the file is shorter than when it was loaded (it was changed while in use); "
                                "restore it, or load it again and start again")
    finally:
        os.close(fd)
    return out


def gather_batch(x: torch.Tensor | np.memmap, idx: torch.Tensor) -> torch.Tensor:
    """The batch of rows `idx` of `x`, in sorted row order (sequential reads from a memmap; the batch's
    rows and so its gradient are the same, up to float summation order)."""
    batch = _rows(x, idx.sort().values)
    release_pages(x)  # pages mapped where no file could be read (pread maps nothing)
    return batch


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


SLOW_READ_BYTES = 256 << 20  # a memmap this large, shuffled row by row, gets a warning that runs read faster


def warn_row_by_row(x: torch.Tensor | np.memmap, cfg: TrainConfig, stacklevel: int = 3) -> None:
    """Warn when a large memmap is shuffled one row at a time: every row of every batch is then read on its own
    (~0.7x the in-memory rate measured here), where runs of 16 rows are read with one ``pread`` each (~0.9x;
    docs/performance.md). Nothing for arrays in memory or small files."""
    if isinstance(x, np.memmap) and cfg.shuffle and cfg.shuffle_block == 1 and x.nbytes >= SLOW_READ_BYTES:
        warnings.warn(
            f"training from a {x.nbytes / 2**20:,.0f} MiB memory-mapped file with rows shuffled one by one reads each "
            "row on its own (about 0.7x the in-memory rate); pass shuffle_block=16 (--shuffle-block 16) "
            "to read runs of 16 rows (about 0.9x), or load the file into memory if it fits",
            RuntimeWarning, stacklevel=stacklevel,
        )


def check_features(model: Autoencoder, x: torch.Tensor, name: str = "x") -> None:
    """Refuse rows whose feature count is not the model's; a lone row given as a 1-D array gets its own hint."""
    have, want = x.shape[1], model.config.input_dim
    if have != want:
        fix = ("a single row? pass it as one row, x.reshape(1, -1)" if have == 1 and x.shape[0] == want
               else "pass data with the same columns as the training data")
        raise DataError(f"{name} has {have} feature{'s' * (have != 1)} but the model expects {want}; {fix}")


def _unit_range(x: torch.Tensor | np.memmap) -> tuple[float, float]:
    """(min, max) of `x`, one pass in blocks; for a memmap whose bytes `load_array` scanned and found within
    [0, 1], that scan's range (it holds every value of `x`), without reading the file again."""
    known = known_range(x) if isinstance(x, np.memmap) else None
    if known is not None and 0 <= known[0] and known[1] <= 1:
        return known
    lo, hi = math.inf, -math.inf
    for _, block in _blocks(x):
        bmin, bmax = torch.aminmax(block)
        lo, hi = min(lo, float(bmin)), max(hi, float(bmax))
    return lo, hi


def check_ranges(cfg: TrainConfig, x: torch.Tensor, x_name: str, y: torch.Tensor | None = None, y_name: str | None = None) -> None:
    """Refuse data outside [0, 1] where `cfg` needs it: a target `y` (default `x`) for the 'bce' loss, an input `x`
    for gaussian noise (clipped to [0, 1]) or salt-and-pepper noise (set to 0 or 1). One pass per distinct array."""
    y, y_name = (x, x_name) if y is None else (y, y_name or x_name)
    needs = []
    if cfg.loss == "bce":
        needs.append((y, y_name, "which the 'bce' loss cannot use", "pass --loss mse"))
    if cfg.noise in ("gaussian", "salt_pepper"):
        needs.append((x, x_name, f"but {cfg.noise} noise puts the corrupted values in [0, 1]", "pass --noise masking"))
    ranges: dict[int, tuple[float, float]] = {}
    for data, name, why, fix in needs:
        if id(data) not in ranges:
            ranges[id(data)] = _unit_range(data)
        lo, hi = ranges[id(data)]
        if lo < 0 or hi > 1:
            raise DataError(f"{name} has values outside [0, 1] (min {lo:.4g}, max {hi:.4g}), {why}; scale the data to [0, 1] or {fix}")


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(model: Autoencoder, x: Any, y: Any = None, config: TrainConfig | None = None, *, batch_size: int = 10000) -> dict[str, float]:
    """Every loss term on (x, y), averaged over rows; a denoising config corrupts x with fixed noise."""
    x = as_rows(x, "validation x", keep_memmap=True)
    y = x if y is None else as_rows(y, "validation y", keep_memmap=True)
    check_features(model, x, "validation x")
    return _evaluate_rows(model, x, y, config or TrainConfig(), batch_size)


@torch.no_grad()
def _evaluate_rows(model: Autoencoder, x, y, cfg: TrainConfig, batch_size: int = 10000) -> dict[str, float]:
    """`evaluate` on rows already checked by `as_rows` (fit calls this every epoch)."""
    was_training = model.training
    model.eval()
    if cfg.precision != "float32":  # validation measures the float32 model that fit returns and encode uses
        cfg = replace(cfg, precision="float32")
    gen = torch.Generator().manual_seed(cfg.seed + 1)  # the same corruption every epoch
    sums: dict[str, float] = {}
    for start, xb in _blocks(x, batch_size):
        yb = xb if y is x else _rows(y, slice(start, start + batch_size))
        terms = loss_terms(model, corrupt(xb, cfg.noise, cfg.noise_level, gen), yb, cfg)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v) * xb.shape[0]
    release_pages(y)
    model.train(was_training)
    return {k: v / x.shape[0] for k, v in sums.items()}


@torch.inference_mode()
def encode_array(model: Autoencoder, x: Any, *, batch_size: int = 8192) -> np.ndarray:
    """The codes of every row of `x` (an array, tensor or memmap) as a float32 array.

    Each block of rows is checked for NaN/inf just before it is encoded (while it is in cache) instead of
    in a separate pass over the whole array first: that pass cost as much as the encoding itself.
    """
    x = as_rows(x, "x", keep_memmap=True, check=False)
    check_features(model, x)
    was_training = model.training
    model.eval()
    out = np.empty((x.shape[0], model.config.encoding_dim), dtype=np.float32)
    for start, xb in _blocks(x, batch_size):
        _check_finite(xb, "x", start)
        out[start:start + xb.shape[0]] = model.encode(xb).numpy()
    model.train(was_training)
    return out


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
    **overrides: Any,
) -> History:
    """Train `model` to map `x` to `y` (default `x`), Keras-style.

    ``fit(model, x, x, epochs=50, batch_size=256, shuffle=True, validation_data=(xt, xt))``.
    `x` may be a float32 ``np.memmap`` (``aekit.load_array`` of a .npy): each batch is read from the file.
    With ``ema`` > 0 the validation figures are those of the weights' moving average, and the model ends with it.
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
    if check_input:
        check_ranges(cfg, x, "the input", y, "the target")
    if validation_data is not None:
        vx, vy = validation_data if isinstance(validation_data, tuple) else (validation_data, None)
        vx_given, vx = vx, as_rows(vx, "validation x", keep_memmap=True, check=check_input)
        vy = vx if vy is None or vy is vx_given else as_rows(vy, "validation y", keep_memmap=True, check=check_input)
        check_features(model, vx, "validation x")
        if check_input:
            check_ranges(cfg, vx, "the validation input", vy, "the validation target")
    n = x.shape[0]
    from .kinds import warn_identity_risk

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
        from .checkpoint import EarlyStopping

        if not any(isinstance(cb, EarlyStopping) for cb in callbacks):
            callbacks.insert(0, EarlyStopping.from_config(cfg))
    if verbose and par.is_main:
        from .callbacks import ProgressBar

        callbacks.insert(0, ProgressBar(verbose))
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
        sums: dict[str, float] = {}
        try:
            for batch, start in enumerate(range(0, len(order), bs)):
                idx = order[start:start + bs]
                xb = gather_batch(x, idx)
                yb = xb if y is x else gather_batch(y, idx)
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
                    raise TrainingError(
                        f"the loss became {loss} at epoch {state.epoch + 1}, step {batch + 1}; "
                        f"lower the learning rate (now {state.optimizer.param_groups[0]['lr']:g}) or check the data for extreme values"
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
