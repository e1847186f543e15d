"""Tables out: a 2-D array written as .npy, .csv or .parquet by its suffix, atomically (re-exported by
:mod:`aekit.data.arrays`, which reads them)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aekit.errors import DataError
from aekit.files import atomic_write

TABLE_SUFFIXES = (".npy", ".csv", ".parquet")


def write_table(path: str | os.PathLike, array, columns: list[str] | None = None) -> None:
    """Write a 2-D array (1-D becomes one column) as ``.npy``, ``.csv`` or ``.parquet`` by suffix; atomic.

    ``columns`` names the columns (csv header / parquet names; ignored for .npy). Parquet columns
    without names are called "0", "1", ... NaN is written as an empty field in CSV.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {suffix or '(no suffix)'!r}; use one of {', '.join(TABLE_SUFFIXES)}"
        )
    arr = np.asarray(array)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise DataError(
            f"{path}: can only write a 2-D numeric array, got {arr.dtype} of shape {arr.shape}; "
            "reshape it to (samples, features)"
        )
    if columns is not None:
        columns = [str(c) for c in columns]
        if len(columns) != arr.shape[1]:
            raise DataError(f"{path}: {len(columns)} column names for {arr.shape[1]} columns; pass one name per column")
    if suffix == ".npy":
        atomic_write(path, lambda f: np.save(f, arr, allow_pickle=False))
        return
    import pandas as pd

    if suffix == ".csv":
        df = pd.DataFrame(arr, columns=columns)
        atomic_write(path, lambda f: df.to_csv(f, index=False, header=columns is not None, na_rep=""))
    else:
        df = pd.DataFrame(arr, columns=columns or [str(j) for j in range(arr.shape[1])])
        atomic_write(path, lambda f: df.to_parquet(f, index=False))


__all__ = ["TABLE_SUFFIXES", "write_table"]
