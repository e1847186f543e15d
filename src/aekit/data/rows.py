"""Rows in: arrays, tensors and memory-mapped ``.npy`` files as 2-D float32 rows, checked (NaN/inf, the feature
count, the [0, 1] range), and placed for reading on a device. A float32 memmap stays one; its rows are read from
its file with ``pread`` (`aekit.data.reading`), so neither the file nor its mapping enters the process's memory.
`aekit.data.scans` records what a scan of the file already found, so it is read once.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aekit.config import TrainConfig
from aekit.data.pixels import PixelRows
from aekit.data.reading import _blocks, batch_reader
from aekit.data.scans import known_range
from aekit.devices import memory_budget
from aekit.errors import DataError, option
from aekit.scaling import ColumnStats

if TYPE_CHECKING:
    from aekit.models import Autoencoder


def as_rows(x: Any, name: str = "x", *, keep_memmap: bool = False, check: bool = True) -> torch.Tensor | np.memmap:
    """A 2-D float32 tensor of rows; refuses other shapes, NaN and inf with a clear message.

    NaN/inf are looked for in blocks of about 16 MB. A float32 C-ordered ``np.memmap`` (``aekit.load_array``
    of a large .npy) becomes a tensor over the mapped file (no copy), or with `keep_memmap` stays the memmap
    itself, which `fit` gathers each batch from, releasing its pages, so the file never sits in memory whole.
    `check=False` skips the NaN/inf scan (for callers that check each block as they use it).
    """
    scanned = False
    if isinstance(x, PixelRows):  # uint8 pixels, read as [0, 1] floats: finite by construction
        t, scanned = (x if keep_memmap else torch.from_numpy(np.asarray(x))), True
    elif isinstance(x, np.memmap) and x.dtype == np.float32 and x.ndim >= 2 and x.flags.c_contiguous:
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
    if check and not scanned:  # on a GPU one pass (one wait), on the CPU block by block, each in cache
        for start, block in [(0, t)] if isinstance(t, torch.Tensor) and t.device.type != "cpu" else _blocks(t):
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


class DeviceRows:
    """Rows as one fit reads them on `device`: held there (`resident`: float32 rows, or uint8 pixels that read as
    the float32 k / 255 the image loaders compute), or read on the host (a memmap, or rows too large for the
    device) and copied there batch by batch (from pinned memory, without waiting, on CUDA).

    On the CPU, rows in memory are their own `resident` (no copy) and a memmap is read from its file as everywhere
    else: the code is the GPU's, with copies that cost nothing. See `place_rows`.
    """

    def __init__(
        self, host: torch.Tensor | np.memmap, device: torch.device, resident: torch.Tensor | None = None
    ) -> None:
        self.host, self.device, self.resident = host, device, resident
        self.shape = tuple(host.shape)
        self.pixel_values = None if resident is None or resident.dtype != torch.uint8 else PIXEL_VALUES.to(device)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> DeviceRows:
        """The rows of slice `rows`, as DeviceRows on the same device (views, no copy)."""
        return DeviceRows(self.host[rows], self.device, None if self.resident is None else self.resident[rows])

    def _ready(self, t: torch.Tensor) -> torch.Tensor:
        """`t` on the device (a host batch copied from pinned memory, not waited for, on CUDA), pixels as float32."""
        if t.device != self.device:
            t = t.pin_memory().to(self.device, non_blocking=True) if self.device.type == "cuda" else t.to(self.device)
        return self.pixel_values[t.long()] if t.dtype == torch.uint8 else t  # looked up: a GPU's x / 255 may round

    def reader(self, order: torch.Tensor, batch_size: int):
        """A function `k` -> batch k of the rows ``order[k * batch_size:(k + 1) * batch_size]`` on the device, `order`
        sorted within each batch (`sort_batches`); no call waits for the device. Rows resident on the device are
        gathered into one buffer, reused by every call: a batch is valid until the next call (the training loop's
        step is done with it by then), and no fresh memory is taken for each batch."""
        if self.resident is not None:
            src = self.resident
            buffer = src.new_empty((min(batch_size, src.shape[0]), *src.shape[1:]))

            def gather(k: int) -> torch.Tensor:
                idx = order[k * batch_size : (k + 1) * batch_size]
                return self._ready(torch.index_select(src, 0, idx, out=buffer[: idx.shape[0]]))

            return gather
        where = self.host.device if isinstance(self.host, torch.Tensor) else torch.device("cpu")
        read = batch_reader(self.host, order.to(where), batch_size)  # read where the rows are (a memmap: the host)
        return lambda k: self._ready(read(k))

    def blocks(self, rows: int | None = None):
        """(first row, rows on the device) of consecutive blocks, as `_blocks`."""
        for start, block in _blocks(self.host if self.resident is None else self.resident, rows):
            yield start, self._ready(block)


_BUDGET = object()
PIXEL_VALUES = torch.arange(256, dtype=torch.float32) / 255  # k / 255 in float32, divided as the image loaders divide


def place_rows(
    x: torch.Tensor | np.memmap | DeviceRows, device: torch.device, budget: int | None | object = _BUDGET
) -> DeviceRows:
    """Rows `x` (from `as_rows`) placed for reading on `device`, once per fit.

    `budget` is the bytes they may take there; by default `aekit.devices.memory_budget`: half a GPU's free memory,
    or None on the CPU, where rows in memory stay where they are and a memmap is read from its file. Rows already
    on a GPU stay there. Otherwise rows that fit as float32 are copied once, in blocks (a memmap's read with
    ``pread``, never mapped whole); else, where the rows are images (each value the float32 k / 255 of a byte k, as
    the image loaders make them) and a quarter of that fits, they are copied as uint8, each batch's bytes turned
    into k / 255 there by a lookup (bitwise the rows given; a GPU divides by a scalar as a product, which rounds);
    else they stay where they are and each batch is copied (budget 0 asks for that).
    Given a budget, the CPU plays a GPU's part: the tests run the GPU's placements so.
    """
    if isinstance(x, DeviceRows):
        return x if x.device == device else place_rows(x.host, device, budget)
    budget = memory_budget(device) if budget is _BUDGET else budget
    if isinstance(x, torch.Tensor) and x.device == device and (budget is None or device.type != "cpu"):
        return DeviceRows(x, device, x)
    if budget is None or isinstance(x, torch.Tensor) and x.device.type != "cpu":  # on another GPU: batch by batch
        return DeviceRows(x, device, None)
    n, d = x.shape
    if n * d * 4 <= budget:
        return DeviceRows(x, device, _copy_rows(x, device, lambda block: block))
    if n * d <= budget:
        pixels = _copy_rows(x, device, _as_pixels)
        if pixels is not None:
            return DeviceRows(x, device, pixels)
    return DeviceRows(x, device, None)


def _as_pixels(block: torch.Tensor) -> torch.Tensor | None:
    """`block` as uint8 bytes k where each value is exactly the float32 k / 255; None where one is not."""
    k = torch.round(block * 255)
    if not bool(((k >= 0) & (k <= 255)).all()):
        return None
    pixels = k.to(torch.uint8)
    return pixels if torch.equal(PIXEL_VALUES[pixels.long()], block) else None


def _copy_rows(x: torch.Tensor | np.memmap, device: torch.device, convert) -> torch.Tensor | None:
    """`x` copied onto `device` in blocks of about 16 MB, each block through `convert` (None from it: None)."""
    out = None
    for start, block in _blocks(x):
        block = convert(block)
        if block is None:
            return None
        if out is None:
            out = torch.empty((x.shape[0], x.shape[1]), dtype=block.dtype, device=device)
        out[start : start + block.shape[0]].copy_(block)
    return out


SLOW_READ_BYTES = 256 << 20  # a memmap this large, shuffled row by row, gets a warning that runs read faster


def warn_row_by_row(x: torch.Tensor | np.memmap, cfg: TrainConfig, stacklevel: int = 3) -> None:
    """Warn when a large memmap is shuffled one row at a time: every row of every batch is then read on its own,
    where runs of 64 rows are read with one ``pread`` each (docs/performance.md has the rates). Nothing for
    arrays in memory or small files."""
    if isinstance(x, np.memmap) and cfg.shuffle and cfg.shuffle_block == 1 and x.nbytes >= SLOW_READ_BYTES:
        warnings.warn(
            f"training from a {x.nbytes / 2**20:,.0f} MiB memory-mapped file with rows shuffled one by one reads each "
            "row on its own (about 0.7x the in-memory rate); pass shuffle_block=64 (--shuffle-block 64) "
            "to read runs of 64 rows (about the in-memory rate), or load the file into memory if it fits",
            RuntimeWarning,
            stacklevel=stacklevel,
        )


def check_features(model: Autoencoder, x: torch.Tensor, name: str = "x") -> None:
    """Refuse rows whose feature count is not the model's; a lone row given as a 1-D array gets its own hint."""
    have, want = x.shape[1], model.config.input_dim
    if have != want:
        fix = (
            "a single row? pass it as one row, x.reshape(1, -1)"
            if have == 1 and x.shape[0] == want
            else "pass data with the same columns as the training data"
        )
        raise DataError(f"{name} has {have} feature{'s' * (have != 1)} but the model expects {want}; {fix}")


def _unit_range(x: torch.Tensor | np.memmap) -> tuple[float, float]:
    """(min, max) of `x`, one pass in blocks; for a memmap whose bytes `load_array` scanned and found within
    [0, 1], that scan's range (it holds every value of `x`), without reading the file again."""
    if isinstance(x, PixelRows):
        return 0.0, 1.0  # uint8 / 255: within [0, 1] by construction
    known = known_range(x) if isinstance(x, np.memmap) else None
    if known is not None and 0 <= known[0] and known[1] <= 1:
        return known
    lo, hi = math.inf, -math.inf
    for _, block in _blocks(x):
        bmin, bmax = torch.aminmax(block)
        lo, hi = min(lo, float(bmin)), max(hi, float(bmax))
    return lo, hi


def column_stats(x: torch.Tensor | np.memmap) -> ColumnStats:
    """Per-column count, mean, spread, min and max of rows `x` (one pass in blocks; a memmap is read, not copied)."""
    stats = None
    for _, block in _blocks(x):
        part = ColumnStats.of(block.numpy())
        stats = part if stats is None else stats.merge(part)
    return stats


def _scaled_range(x: torch.Tensor | np.memmap, model) -> tuple[float, float]:
    """(min, max) of the rows the network of `model` sees: `x` scaled per column (a positive scale keeps the order)."""
    lo, hi = math.inf, -math.inf
    for _, block in _blocks(x):
        bmin, bmax = torch.aminmax(model.scale_rows(block))
        lo, hi = min(lo, float(bmin)), max(hi, float(bmax))
    return lo, hi


def check_ranges(
    cfg: TrainConfig, x: torch.Tensor, x_name: str, y: torch.Tensor | None = None, y_name: str | None = None, model=None
) -> None:
    """Refuse data outside [0, 1] where `cfg` needs it: a target `y` (default `x`) for the 'bce' loss, an input `x`
    for gaussian noise (clipped to [0, 1]) or salt-and-pepper noise (set to 0 or 1). One pass per distinct array.
    For a `model` with an input scaler, the scaled rows are checked (those the network sees)."""
    y, y_name = (x, x_name) if y is None else (y, y_name or x_name)
    scaled = model is not None and model.scaled
    scale = f"pass {option('scale', 'minmax')} (each column to [0, 1])"
    needs = []
    if cfg.likelihood == "bernoulli" or cfg.binarize != "none":
        needs.append(
            (
                y,
                y_name,
                "which a Bernoulli decoder cannot model",
                f"use the Gaussian decoder: {option('likelihood', 'gaussian')} "
                f"{option('output_activation', 'linear')}, or {scale}",
            )
        )
    elif cfg.loss == "bce" and cfg.likelihood is None:
        needs.append((y, y_name, "which the 'bce' loss cannot use", f"{scale} or {option('loss', 'mse')}"))
    if cfg.noise in ("gaussian", "salt_pepper", "mixed"):
        needs.append(
            (
                x,
                x_name,
                f"but {cfg.noise} noise puts the corrupted values in [0, 1]",
                f"{scale} or {option('noise', 'masking')}",
            )
        )
    ranges: dict[int, tuple[float, float]] = {}
    for data, name, why, fix in needs:
        if id(data) not in ranges:
            ranges[id(data)] = _scaled_range(data, model) if scaled else _unit_range(data)
        lo, hi = ranges[id(data)]
        if lo < 0 or hi > 1:
            what = f"{name}, {model.config.scale}-scaled," if scaled else name
            raise DataError(f"{what} has values outside [0, 1] (min {lo:.4g}, max {hi:.4g}), {why}; {fix}")


def fit_scaler(
    model, x: torch.Tensor | np.memmap, x_val: torch.Tensor | np.memmap | None = None, stats: ColumnStats | None = None
) -> None:
    """Set the input scaler of `model` (``config.scale`` 'standard' or 'minmax') from the training rows `x` (their
    `stats` when already computed); a 'minmax' range also spans the validation rows `x_val`, so both land in [0, 1]."""
    from aekit.scaling import scaler

    stats = stats or column_stats(x)
    if model.config.scale == "minmax" and x_val is not None:
        stats = stats.merge(column_stats(x_val))
    model.set_scaler(*scaler(model.config.scale, stats))
