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
(1 − 2/z²)⁺: a slope within √2 standard errors of 0 (where it would not lower the AIC) is taken as 0, so gaps that do
not depend on the values (MCAR) leave the fills alone. σ is each column's median absolute held-out residual × 1.4826,
the Gaussian's σ read from the bulk of the residuals: a few large misses (ink where the network saw none in a
digit) say little about every row. A gap that depends on *other* columns' values (MAR) the imputer already handles,
and this model reads the part of that dependence which runs through μ as self-masking: that is its assumption, and
`self_masking=False` in `aekit.impute` turns it off.
"""

from __future__ import annotations

import math

import numpy as np

STEPS = 25  # Newton steps of each logistic fit (each is convex; a few suffice)
RIDGE = 1e-6  # added to each Hessian's diagonal, so a column with one class only stays finite
SHRINK = 2.0  # the slope is shrunk by (1 − SHRINK/z²)⁺: z² = 2 is where one more parameter pays its AIC
MAD_TO_SD = 1.4826  # a Gaussian's σ over its median absolute deviation


def common_slope(mu: np.ndarray, missing: np.ndarray, cols: np.ndarray, d: int) -> tuple[float, float]:
    """One slope b for every column, each with its own intercept: logit P(missing) = a_j + b·μ, and its standard
    error. The Hessian is an arrow (intercepts on the diagonal, the slope on the edge): solved in O(columns)."""
    a, b = np.zeros(d), 0.0
    for _ in range(STEPS):
        p = _sigmoid(a[cols] + b * mu)
        w, g = p * (1 - p), missing - p
        haa, hab = np.bincount(cols, w, d) + RIDGE, np.bincount(cols, w * mu, d)
        hbb, ga, gb = float((w * mu * mu).sum()) + RIDGE, np.bincount(cols, g, d), float((g * mu).sum())
        schur = hbb - float((hab**2 / haa).sum())
        step = (gb - float((hab * ga / haa).sum())) / schur
        a, b = a + (ga - hab * step) / haa, b + step
    return b, float(np.sqrt(1 / schur))


def slope(mu: np.ndarray, missing: np.ndarray, cols: np.ndarray, d: int) -> float:
    """The common self-masking slope, shrunk by (1 − 2/z²)⁺ (0 where it is within √2 standard errors of 0)."""
    b, se = common_slope(mu, missing, cols, d)
    if not (math.isfinite(b) and math.isfinite(se) and b):  # e.g. no held-out cell: nothing to compare the gaps with
        return 0.0
    return b * max(0.0, 1 - SHRINK * (se / b) ** 2)


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


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(t, -30, 30)))
