"""float32 and the tables read into it: aekit computes in float32 (about 7 significant digits), so a column of
values far from 0 that differ little (1e9 give or take 1) becomes a constant, which no model can learn from and
no error names. `warn_rounded` says so when a table is read (`aekit.data.arrays`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from aekit.errors import AekitWarning

CHUNK_BYTES = 64 << 20  # big tables are scanned a block of about this size at a time (here and in data.arrays)


def warn_rounded(x: np.ndarray, x32: np.ndarray, names: list[str], path: Path) -> None:
    """Warn of the first column whose variation float32 loses: values far from 0 that differ little (1e9 give or
    take 1 all round to 1e9, a constant column the model cannot learn from, and no error says so)."""
    rows = max(1, CHUNK_BYTES // max(1, x.shape[1] * 8))
    err, lo, hi = (np.zeros(x.shape[1]), np.full(x.shape[1], np.inf), np.full(x.shape[1], -np.inf))
    for start in range(0, x.shape[0], rows):
        a, b = np.asarray(x[start : start + rows], dtype=np.float64), x32[start : start + rows]
        with np.errstate(invalid="ignore"):  # NaN (allowed) and inf (refused before) are no rounding
            err = np.fmax(err, np.abs(a - b).max(axis=0, initial=0.0, where=np.isfinite(a)))
            lo, hi = np.fmin(lo, a.min(axis=0, initial=np.inf)), np.fmax(hi, a.max(axis=0, initial=-np.inf))
    spread = hi - lo
    lost = np.flatnonzero((spread > 0) & np.isfinite(spread) & (err > 0.01 * spread))
    if len(lost):
        j = int(lost[0])
        step = float(np.spacing(np.float32(max(abs(lo[j]), abs(hi[j])))))
        more = f" (and {len(lost) - 1} more column{'s' * (len(lost) > 2)})" if len(lost) > 1 else ""
        warnings.warn(
            f"{path}: column {names[j]} spans {lo[j]:.12g} … {hi[j]:.12g}, but aekit computes in float32, which "
            f"rounds values of that size to steps of {step:g}: the column's differences are lost{more}; subtract "
            f"a constant near {lo[j]:.6g} from it (the same in training and in use)",
            AekitWarning,
            stacklevel=2,
        )


__all__ = ["warn_rounded"]
