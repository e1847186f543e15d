"""Reading MovieLens ratings files into a user × item matrix with NaN where a user did not rate (`read_ratings`),
for `aekit.impute` to predict the missing ratings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aekit.errors import DataError

__all__ = ["read_ratings"]


def read_ratings(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a MovieLens ratings file into a user × item matrix with NaN where a user did not rate.

    Formats, told apart by content: ``u.data`` (ML-100K: ``user<TAB>item<TAB>rating<TAB>timestamp``, no
    header), ``ratings.csv`` (ML-latest: header ``userId,movieId,rating,timestamp``) and ``ratings.dat``
    (ML-1M: ``user::item::rating::timestamp``). Returns (matrix float64, sorted user ids, sorted item ids).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; pass a MovieLens u.data, ratings.csv or ratings.dat")
    try:
        first = path.open(encoding="utf-8", errors="replace").readline()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e}); check the path and its permissions") from e
    if "::" in first:
        sep, header = "::", None
    elif "\t" in first:
        sep, header = "\t", None
    elif "," in first:
        sep, header = ",", 0 if not first.split(",")[0].strip().lstrip("-").replace(".", "").isdigit() else None
    else:
        raise DataError(
            f"{path}: not a ratings file (first line {first.strip()[:40]!r}); expected u.data "
            "(tab-separated user item rating timestamp) or ratings.csv (userId,movieId,rating,timestamp)"
        )
    try:
        df = pd.read_csv(path, sep=sep, header=header, engine="python" if sep == "::" else "c", dtype=str)
    except (ValueError, OSError) as e:
        raise DataError(
            f"{path}: cannot parse the ratings ({' '.join(str(e).split())}); "
            "write one 'user item rating' line per rating"
        ) from e
    if df.shape[1] < 3 or len(df) == 0:
        raise DataError(f"{path}: needs at least 3 columns (user, item, rating) and one row, got shape {df.shape}")
    users, items = df.iloc[:, 0].str.strip(), df.iloc[:, 1].str.strip()
    for what, ids in (("user", users), ("item", items)):
        empty = np.flatnonzero((ids.isna() | (ids == "")).to_numpy())
        if empty.size:
            line = int(empty[0]) + 1 + (header is not None)
            raise DataError(f"{path}: line {line}: no {what} id; fill it in or drop that line")
    rating = pd.to_numeric(df.iloc[:, 2], errors="coerce")
    bad = np.flatnonzero(rating.isna().to_numpy() | ~np.isfinite(rating.to_numpy(dtype=float, na_value=np.nan)))
    if bad.size:
        line = int(bad[0]) + 1 + (header is not None)
        raise DataError(f"{path}: line {line}: rating {df.iloc[bad[0], 2]!r} is not a number; fix or drop that line")
    user_ids, ui = _ids(users)
    item_ids, ii = _ids(items)
    dup = pd.Series(ui * len(item_ids) + ii).duplicated().to_numpy()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        raise DataError(
            f"{path}: user {users.iloc[k]} rated item {items.iloc[k]} twice (line {k + 1 + (header is not None)}); "
            "keep one rating per pair"
        )
    matrix = np.full((len(user_ids), len(item_ids)), np.nan)
    matrix[ui, ii] = rating.to_numpy(dtype=float)
    return matrix, user_ids, item_ids


def _ids(col) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique ids (numeric order when all are integers) and each row's index into them."""
    import pandas as pd

    num = pd.to_numeric(col, errors="coerce")
    values = num.astype("int64") if num.notna().all() and (num % 1 == 0).all() else col
    uniques, index = np.unique(values.to_numpy(), return_inverse=True)
    return uniques, index
