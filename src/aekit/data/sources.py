"""The rows a run trains on: a named image set, or a user's file with a validation file or split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aekit.data.arrays import load_array
from aekit.data.datasets import load_dataset
from aekit.errors import ConfigError

IMAGE_DATASETS = ("mnist", "fashion-mnist")


@dataclass
class RunData:
    """Training and validation rows, with labels and image shape where known."""

    x_train: np.ndarray
    x_val: np.ndarray | None
    y_train: np.ndarray | None = None
    y_val: np.ndarray | None = None
    image_shape: tuple[int, ...] | None = None
    name: str = ""


def load_run_data(dataset: str = "mnist", data: str | None = None, *, val_data: str | None = None,
                  data_dir: str | None = None, limit: int | None = None, val_split: float = 0.1, seed: int = 0) -> RunData:
    """The rows to train on: a named image set (train / test split) or a user file (+ a validation file or split)."""

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ConfigError(f"limit must be a positive integer, got {limit!r}; pass a whole number ≥ 1")
    if data is None:
        if dataset not in IMAGE_DATASETS:
            raise ConfigError(f"unknown dataset {dataset!r}; choose one of: {', '.join(IMAGE_DATASETS)}, or pass --data FILE")
        ds = load_dataset(dataset, data_dir, limit=limit)
        return RunData(ds.x_train, ds.x_test, ds.y_train, ds.y_test, ds.image_shape, ds.name)
    x = load_array(data)
    if limit is not None:
        x = x[:limit]
    if val_data is not None:
        return RunData(x, load_array(val_data), name=Path(data).name)
    if not 0 <= val_split < 1:
        raise ConfigError(f"val_split must be in [0, 1), got {val_split}")
    n_val = int(round(len(x) * val_split))
    if n_val == 0:
        return RunData(x, None, name=Path(data).name)
    if isinstance(x, np.memmap):  # keep it on disk: the last rows (views), not a random pick (copies)
        return RunData(x[:len(x) - n_val], x[len(x) - n_val:], name=Path(data).name)
    order = np.random.default_rng(seed).permutation(len(x))
    return RunData(np.asarray(x[np.sort(order[n_val:])]), np.asarray(x[np.sort(order[:n_val])]), name=Path(data).name)
