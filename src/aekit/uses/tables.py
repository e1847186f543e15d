"""`impute`'s table at the door: a numeric 2-D table, its bounds, its columns' scales, and pandas in and out.

>>> import numpy as np
>>> mean, scale = column_scales(np.array([[1.0, 5.0], [3.0, np.nan]]))
>>> mean.tolist(), scale.tolist()   # a column without spread keeps the scale 1
([2.0, 5.0], [1.0, 1.0])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from aekit.errors import DataError, option

__all__ = ["as_table", "check_bounds", "column_scales", "is_frame", "like_frame"]


def as_table(x: Any) -> np.ndarray:
    """`x` as an array, refused in one line unless numeric, 2-D with a row and a column, and free of infinities."""
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise DataError(f"the table must be numeric, got dtype {a.dtype}; convert it to floats with NaN for the gaps")
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"the table must be 2-D (rows, columns) with at least one of each, got shape {a.shape}")
    if np.isinf(a).any():
        r, c = (int(i) for i in np.argwhere(np.isinf(a))[0])
        raise DataError(f"the table holds an infinite value at [{r}, {c}]; replace it with a number or NaN (missing)")
    return a


def check_bounds(bounds: Any) -> None:
    """`bounds` is None or (low, high): two numbers, neither NaN, low ≤ high (a NaN bound made every fill NaN)."""
    if bounds is None:
        return
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        low = high = math.nan
    if not low <= high:  # also NaN, and anything that is not two numbers
        raise DataError(
            f"{option('bounds')} must be (low, high) with low ≤ high, got {bounds!r}; e.g. (1, 5) for ratings"
        )


def column_scales(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and standard deviation over its observed cells (1 where it is 0). A column whose values
    square past float64's range (over about 1e150: every fill was NaN) or under it (1e-150: the spread read 0 and
    every fill was the mean) is measured in units of its largest value."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # such columns are measured again below
        mean, scale = np.nanmean(a, axis=0), np.nanstd(a, axis=0)
    unit = np.nanmax(np.abs(a), axis=0)
    odd = (unit > 1e150) | ((unit > 0) & (unit < 1e-150))
    if odd.any():
        mean[odd] = np.nanmean(a[:, odd] / unit[odd], axis=0) * unit[odd]
        scale[odd] = np.nanstd(a[:, odd] / unit[odd], axis=0) * unit[odd]
    scale[~(scale > 0)] = 1.0
    return mean, scale


def is_frame(x: Any) -> bool:
    """A pandas DataFrame (told without importing pandas)."""
    return type(x).__name__ == "DataFrame" and type(x).__module__.startswith("pandas")


def like_frame(frame: Any, filled: np.ndarray) -> Any:
    """`filled` as a DataFrame with `frame`'s columns and index, or as it is when there is no frame."""
    if frame is None:
        return filled
    return type(frame)(filled, index=frame.index, columns=frame.columns)
