"""Gaps that depend on the missing value itself (self-masking MNAR): the shift of each column's fills.

An imputer trained on the observed cells learns p(x | other cells, observed). Where a cell's chance of being missing
rises with its own value (incomes left blank when high, a sensor that fails at its top), the missing cells come from
p(x | other cells, missing) ∝ p(x | other cells, observed) · odds(missing | x), so fills learnt from the observed cells
are too low. With logistic odds exp(a + b·x) (the self-masking model of not-MIWAE, Ipsen et al. 2021) and x given the
other cells Gaussian around the imputer's prediction μ with variance σ², that is an exponential tilt, and two facts
make it cheap to estimate after the fact:

- logit P(missing | other cells) = a' + b·μ, so b is the slope of a logistic regression of "missing" on μ, over the
  missing cells (μ = their fill) and held-out observed cells (μ = the prediction made without them); sampling the
  observed cells changes the intercept only;
- the missing cells' mean is then μ + b·σ².

One slope serves every column (each has its own intercept; in standard deviations of each column), shrunk by
(1 − ln(n)/z²)⁺ over the n cells of the regression: a slope within √ln(n) standard errors of 0 (where it would not
lower the BIC) is taken as 0, so gaps that do not depend on the values (MCAR) leave the fills alone (a chance slope
passes about 4% of the time over 70 cells, 0.7% over 1,300, fewer over more). σ is each column's median absolute
held-out residual × 1.4826, the Gaussian's σ read from the bulk of the residuals: a few large misses (ink where the
network saw none in a digit) say little about every row.

Gaps that depend on *another* column's value (MAR: a test ordered when another reading is high) the imputer already
handles, but they follow μ too wherever that column predicts this one. So each column's regression also takes, with
weights of its own, the values of the DRIVERS other columns that go most with it (its likeliest drivers), and b is
the slope on μ beyond them: under MAR it falls to about 0, under self-masking it stays (μ predicts x better than any
one or two columns). This is still a model: gaps driven by columns it does not take, or by what no column shows, can
read as self-masking; the shrink keeps the slope at 0 unless the gaps follow the fills beyond what the drivers
explain by a clear margin. `self_masking=False` in `aekit.impute` turns it off.
"""

from __future__ import annotations

import math

import numpy as np

STEPS = 25  # Newton steps of each logistic fit (each is convex; a few suffice)
RIDGE = 1e-6  # added to each Hessian's diagonal, so a column with one class only stays finite
DRIVERS = 2  # other columns per column whose values may explain its gaps instead (gaps at random given them: MAR)
MAD_TO_SD = 1.4826  # a Gaussian's σ over its median absolute deviation


def common_slope(
    mu: np.ndarray, missing: np.ndarray, cols: np.ndarray, d: int, others: np.ndarray | None = None
) -> tuple[float, float]:
    """One slope b for every column, and its standard error, in logit P(missing) = a_j + c_j·others + b·μ: each
    column j its own intercept and, with `others` (cells × k), its own weights of k other values of the cell's row.
    The Hessian is a block arrow (a block per column, the slope on the edge): solved in O(columns·(k + 1)³)."""
    x = np.ones((mu.size, 1)) if others is None else np.column_stack([np.ones(mu.size), others])
    k = x.shape[1]
    theta, b = np.zeros((d, k)), 0.0
    for _ in range(STEPS):
        p = _sigmoid((x * theta[cols]).sum(axis=1) + b * mu)
        w, g = p * (1 - p), missing - p
        blocks = np.empty((d, k, k))
        for i in range(k):  # per-column sums by bincount: no (cells, k, k) temporary, one pass over the cells each
            for j in range(i, k):
                blocks[:, i, j] = blocks[:, j, i] = np.bincount(cols, w * x[:, i] * x[:, j], d)
        inverse = np.linalg.inv(blocks + RIDGE * np.eye(k))
        edge = np.column_stack([np.bincount(cols, w * mu * x[:, i], d) for i in range(k)])
        grad = np.column_stack([np.bincount(cols, g * x[:, i], d) for i in range(k)])
        ie, ig = np.einsum("dij,dj->di", inverse, edge), np.einsum("dij,dj->di", inverse, grad)
        schur = float((w * mu * mu).sum()) + RIDGE - float((edge * ie).sum())
        step = (float((g * mu).sum()) - float((edge * ig).sum())) / schur
        theta, b = theta + ig - ie * step, b + step
    return b, float(np.sqrt(1 / schur))


def slope(mu: np.ndarray, missing: np.ndarray, cols: np.ndarray, d: int, others: np.ndarray | None = None) -> float:
    """The common self-masking slope, shrunk by (1 − ln(n)/z²)⁺ over the n cells (0 where it is within √ln(n) standard
    errors of 0: z² = ln(n) is where one more parameter pays its BIC)."""
    b, se = common_slope(mu, missing, cols, d, others)
    if not (math.isfinite(b) and math.isfinite(se) and b):  # e.g. no held-out cell: nothing to compare the gaps with
        return 0.0
    return b * max(0.0, 1 - math.log(mu.size) * (se / b) ** 2)


def spreads(residuals: np.ndarray, cols: np.ndarray, d: int) -> np.ndarray:
    """Per column j < d, σ² from the median absolute deviation of its residuals (flat, column `cols`): 0 where none."""
    out = np.zeros(d)
    order = np.argsort(cols, kind="stable")
    starts = np.searchsorted(cols[order], np.arange(d + 1))
    for j in range(d):
        r = residuals[order[starts[j] : starts[j + 1]]]
        if r.size:
            out[j] = (MAD_TO_SD * np.median(np.abs(r - np.median(r)))) ** 2
    return out


def drivers(completed: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
    """For each cell (`rows`, `cols`), the values in its row of the DRIVERS other columns that go most with its own
    column (|correlation| over the `completed` table), as (cells, DRIVERS); None for a table of one column."""
    d = completed.shape[1]
    if d < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant column correlates with nothing
        strength = np.abs(np.nan_to_num(np.corrcoef(completed, rowvar=False)))
    np.fill_diagonal(strength, -1.0)  # never its own column
    best = np.argsort(-strength, axis=1, kind="stable")[:, : min(DRIVERS, d - 1)]
    return completed[rows[:, None], best[cols]]


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(t, -30, 30)))
