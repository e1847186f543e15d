"""Before a run: its folder checked, its rows checked and scaled, its configs fitted to the data, its RNGs seeded."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Collection

import numpy as np
import torch

from aekit.config import ModelConfig, TrainConfig, replace
from aekit.data.rows import as_rows, check_ranges, column_stats, fit_scaler
from aekit.data.sources import RunData
from aekit.errors import AekitWarning, ConfigError, DataError, option
from aekit.io import CONFIG
from aekit.models import Autoencoder
from aekit.runfolder import LOCK
from aekit.scaling import ColumnStats, resolve_scale


def prepare_out(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check that `out` can become a run folder (refusing to clobber one), without creating it yet."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"{out}: exists and is a file; choose another {option('out')} folder")
        if any(p.name != LOCK for p in out.iterdir()):  # a lock file alone is no run
            if not overwrite:
                raise ConfigError(
                    f"{out}: run folder already exists; pass {option('overwrite', True)} to replace it, "
                    f"{option('resume')} to continue it, or choose another {option('out')} folder"
                )
            if not (out / CONFIG).is_file():
                raise ConfigError(
                    f"{out}: exists and is not an aekit run folder (no config.json); refusing to delete "
                    f"it, choose another {option('out')}"
                )
    parent = out.parent if not out.exists() else out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{out}: cannot create it, {parent} is a file; choose another {option('out')} folder")
    if not os.access(parent, os.W_OK):
        raise ConfigError(
            f"{out}: cannot write there (no permission on {parent}); choose another {option('out')} folder"
        )
    return out


def check_out_outside(out: str | os.PathLike, data: str | os.PathLike | None) -> None:
    """Refuse a run folder inside the image folder it trains on: the next run on that folder would read the run's
    figures as images (and its folder as a class)."""
    if data is None or not os.path.isdir(data):
        return
    where, folder = Path(out).resolve(), Path(data).resolve()
    if where == folder or folder in where.parents:
        raise ConfigError(
            f"{out}: the run folder would lie inside the image folder {data}, whose next run would read its figures "
            f"as images; choose an {option('out')} outside it"
        )


def check_inputs_outside(out: str | os.PathLike, inputs) -> None:
    """Refuse an existing run folder that holds a file or folder the run reads (`inputs`: --data, --val-data,
    --data-dir): replacing the run (--overwrite) empties the folder first, and would delete it."""
    if not os.path.isdir(out):
        return
    where = Path(out).resolve()
    for given in filter(None, inputs):
        path = Path(given).resolve()
        if path == where or where in path.parents:
            raise ConfigError(
                f"{given}: lies inside the run folder {out}, which a new run empties first; move it out of the "
                f"run folder, or choose another {option('out')}"
            )


def default_out(name: str) -> Path:
    return Path("runs") / f"{name or 'run'}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def seed_globals(seed: int) -> None:
    """Seed torch's and numpy's global RNGs: a run is then reproducible even where code draws from them."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def table_stats(rd: RunData, scale: str, is_table: bool) -> ColumnStats | None:
    """Per-column statistics of the training rows where the scale needs them: a user's table (for 'auto', whose
    decision they make; a memory-mapped file that `load_array` found within [0, 1] is not read again), or any rows
    for 'standard' and 'minmax'. None for a named image set under 'auto' or 'none': its rows lie in [0, 1]."""
    from aekit.data.scans import known_range
    from aekit.scaling import SCALES

    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; choose one of: {', '.join(SCALES)}")
    if not is_table and scale in ("auto", "none"):
        return None
    x = as_rows(rd.x_train, "training data", keep_memmap=True, check=False)
    known = known_range(x) if isinstance(x, np.memmap) else None
    if known is not None and 0 <= known[0] and known[1] <= 1 and scale in ("auto", "none"):
        return None
    return column_stats(x)


def follow_data(
    model_config: ModelConfig,
    train_config: TrainConfig,
    scale: str,
    stats: ColumnStats | None,
    explicit: Collection[str] | None,
) -> tuple[ModelConfig, TrainConfig]:
    """The configs with the scale decided and, where the network's rows leave [0, 1], the loss and the output
    activation that fit them ('mse', 'linear'), unless `explicit` names them (see `train`)."""
    if explicit is None:
        pairs = (
            ("loss", train_config.loss, TrainConfig.loss),
            ("output_activation", model_config.output_activation, ModelConfig.output_activation),
        )
        explicit = {name for name, ours, default in pairs if ours != default}
    wanted = model_config.scale if model_config.scale != "none" else scale
    resolved = resolve_scale(wanted, stats, loss_given_bce="loss" in explicit and train_config.loss == "bce")
    if resolved != "none" and stats is not None and bool((stats.max <= stats.min).all()):
        import warnings

        warnings.warn(  # one row, or copies of one row: loss 0 from the first step, and a model that learnt nothing
            f"every column of the training data is constant ({stats.n:,} row{'s' * (stats.n != 1)}): "
            f"{resolved}-scaled, the network sees only zeros and learns nothing; pass rows that differ",
            AekitWarning,
            stacklevel=4,
        )
    in_unit = resolved == "minmax" or (resolved == "none" and (stats is None or stats.in_unit_range))
    if not in_unit:
        if "loss" not in explicit:
            train_config = replace(train_config, loss="mse")
        if "output_activation" not in explicit:
            model_config = replace(model_config, output_activation="linear")
    return replace(model_config, scale=resolved), train_config


def checked_rows(
    rd: RunData, train_config: TrainConfig, model: Autoencoder | None = None, stats: ColumnStats | None = None
):
    """The training and validation rows (a memmap stays one), scanned once each for NaN/inf and, where the loss or
    the noise needs it, for values outside [0, 1] (as the network sees them: the input scaler of `model`, fitted
    here from the training rows or their `stats` when not yet fitted), with as many columns each; `fit` is then
    told not to scan them again. Every check here comes before the run folder is made."""
    x_train = as_rows(rd.x_train, "training data", keep_memmap=True)
    x_val = None if rd.x_val is None else as_rows(rd.x_val, "validation data", keep_memmap=True)
    if x_val is not None and x_val.shape[1] != x_train.shape[1]:
        v, t = x_val.shape[1], x_train.shape[1]
        raise DataError(
            f"the validation data has {v} feature{'s' * (v != 1)} but the training data has {t}; "
            "pass validation rows with the same columns"
        )
    if model is not None and not model.scaler_fitted:
        fit_scaler(model, x_train, x_val, stats)
    check_ranges(train_config, x_train, "the training data", model=model)
    if x_val is not None:
        check_ranges(train_config, x_val, "the validation data", model=model)
    return x_train, x_val
