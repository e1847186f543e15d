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

One slope serves every column (each has its own intercept; in standard deviations of each column), fitted with Firth's
penalty (see `common_slope`) and shrunk by (1 − ln(n)/χ²)⁺ over the n cells of the regression, χ² its penalised
likelihood ratio against no slope: a slope that would not lower the BIC (χ² ≤ ln n) is taken as 0, so gaps that do
not depend on the values (MCAR) leave the fills alone (a chance slope passes about 4% of the time over 70 cells, 0.7%
over 1,300, fewer over more). σ is each column's median absolute held-out residual × 1.4826, the Gaussian's σ read
from the bulk of the residuals: a few large misses (ink where the network saw none in a digit) say little about every
row.

Gaps that depend on *another* column's value (MAR: a test ordered when another reading is high) the imputer already
handles, but they follow μ too wherever that column predicts this one. So each column's regression also takes, with
weights of its own, the values of the DRIVERS other columns that go most with it (its likeliest drivers), and b is
the slope on μ beyond them: under MAR it falls to about 0, under self-masking it stays (μ predicts x better than any
one or two columns). The drivers may only explain gaps away: the slope kept is the smaller in size of the slope
beside them and the slope on μ alone, 0 where the two disagree in sign. This is still a model: gaps driven by columns
it does not take, or by what no column shows, can read as self-masking; the shrink keeps the slope at 0 unless the
gaps follow the fills beyond what the drivers explain by a clear margin. `self_masking=False` in `aekit.impute` turns
it off.
"""

from __future__ import annotations

import math

import numpy as np

STEPS = 200  # the most Newton steps of each logistic fit (it stops once they move nothing by TOLERANCE)
TOLERANCE = 1e-8  # a step that moves no weight by more (logits per unit) ends the fit
RISE = 1e-10  # as does one that raises the penalised log-likelihood by less, relative to its size
MAX_STEP = 5.0  # the most any weight moves in one step (logistf's maxstep): Firth's steps may overshoot
HALVINGS = 30  # a step is halved until the penalised log-likelihood rises, at most this often
RIDGE = 1e-6  # added to each Hessian's diagonal, so a column with one class only stays finite
DRIVERS = 2  # other columns per column whose values may explain its gaps instead (gaps at random given them: MAR)
MAD_TO_SD = 1.4826  # a Gaussian's σ over its median absolute deviation


def common_slope(
    mu: np.ndarray, missing: np.ndarray, cols: np.ndarray, d: int, others: np.ndarray | None = None
) -> tuple[float, float]:
    """One slope b for every column, and its standard error, in logit P(missing) = a_j + c_j·others + b·μ: each
    column j its own intercept and, with `others` (cells × k), its own weights of k other values of the cell's row.
    Fitted with Firth's penalty, ½·log det of the Fisher information (the Jeffreys prior; Firth 1993, Heinze &
    Schemper 2002): on a small table the per-column parameters come close to separating the gaps from the held-out
    cells and the plain maximum likelihood runs far out (b = 19 ± 7 over a 20-row table's 59 cells); Firth's estimate
    stays finite and loses the small-sample bias, and over many cells it is the plain one."""
    b, se, _ = _fit(mu, missing, cols, d, _design(mu, others), free=True)
    return b, se


def slope(mu: np.ndarray, missing: np.ndarray, cols: np.ndarray, d: int, others: np.ndarray | None = None) -> float:
    """The common self-masking slope, shrunk by (1 − ln(n)/χ²)⁺ over the n cells, χ² the penalised likelihood ratio
    of the slope against none (Heinze & Schemper's test; over many cells it is the Wald z²): 0 where χ² ≤ ln(n),
    i.e. where the slope does not lower the BIC. With `others`, the smaller in size of the slope beside them and the
    slope on μ alone, and 0 where the two disagree in sign: the drivers are there to explain gaps away, never to make
    a slope; on a small table μ and its drivers are nearly collinear and the fit can play one against the other
    (−4.4 ± 1.6 beside them against −0.4 ± 0.4 alone, for a 20-row table's gaps at random)."""
    beside = _shrunk(mu, missing, cols, d, others)
    if others is None or beside == 0.0:
        return beside
    alone = _shrunk(mu, missing, cols, d, None)
    return math.copysign(min(abs(alone), abs(beside)), beside) if alone * beside > 0 else 0.0


def _shrunk(mu, missing, cols, d, others) -> float:
    x = _design(mu, others)
    b, se, full = _fit(mu, missing, cols, d, x, free=True)
    if not (math.isfinite(b) and math.isfinite(se) and b):  # e.g. no held-out cell: nothing to compare the gaps with
        return 0.0
    chi2 = 2 * (full - _fit(mu, missing, cols, d, x, free=False)[2])
    return b * max(0.0, 1 - math.log(mu.size) / chi2) if chi2 > 0 else 0.0


def _design(mu: np.ndarray, others: np.ndarray | None) -> np.ndarray:
    return np.ones((mu.size, 1)) if others is None else np.column_stack([np.ones(mu.size), others])


def _fit(mu, missing, cols, d, x, free: bool) -> tuple[float, float, float]:
    """Firth-penalised Newton steps for the per-column weights θ (cells' rows of `x`) and, if `free`, the slope b
    (else b = 0: the restricted fit of the likelihood-ratio test, penalised by the full model's information, as
    logistf does), each step at most MAX_STEP and halved until the penalised log-likelihood rises. Returns b, its
    standard error and the penalised log-likelihood."""
    theta, b = np.zeros((d, x.shape[1])), 0.0
    at = _Point(mu, missing, cols, d, x, theta, b)
    for _ in range(STEPS):
        d_theta, d_b = at.step(free)
        scale = min(1.0, MAX_STEP / max(float(np.abs(d_theta).max()), abs(d_b), 1e-300))
        for _ in range(HALVINGS):
            trial = _Point(mu, missing, cols, d, x, theta + scale * d_theta, b + scale * d_b)
            if trial.penalised >= at.penalised:
                break
            scale /= 2
        else:
            break  # no step uphill: at the top, up to rounding
        rise, (theta, b, at) = trial.penalised - at.penalised, (theta + scale * d_theta, b + scale * d_b, trial)
        if scale * max(float(np.abs(d_theta).max()), abs(d_b)) < TOLERANCE or rise < RISE * (1 + abs(at.penalised)):
            break  # (weights a column's cells never weigh, e.g. of a driver that is 0 there, may wander: no matter)
    return b, float(np.sqrt(1 / at.schur)), at.penalised


class _Point:
    """The fit at (θ, b): probabilities, the Fisher information as a block arrow (a (k × k) block per column, the slope
    on the edge: solved in O(columns·k³)), each cell's leverage through it, and the penalised log-likelihood."""

    def __init__(self, mu, missing, cols, d, x, theta, b):
        k = x.shape[1]
        self.mu, self.missing, self.cols, self.x = mu, missing, cols, x
        eta = (x * theta[cols]).sum(axis=1) + b * mu
        self.p = p = _sigmoid(eta)
        self.w = w = p * (1 - p)
        blocks = np.empty((d, k, k))
        for i in range(k):  # per-column sums by bincount: no (cells, k, k) temporary, one pass over the cells each
            for j in range(i, k):
                blocks[:, i, j] = blocks[:, j, i] = np.bincount(cols, w * x[:, i] * x[:, j], d)
        blocks += RIDGE * np.eye(k)
        self.inverse = np.linalg.inv(blocks)
        self.edge = np.column_stack([np.bincount(cols, w * mu * x[:, i], d) for i in range(k)])
        self.ie = np.einsum("dij,dj->di", self.inverse, self.edge)
        self.schur = float((w * mu * mu).sum()) + RIDGE - float((self.edge * self.ie).sum())
        loglik = -float(np.logaddexp(0, np.where(missing > 0, -eta, eta)).sum())
        logdet = float(np.linalg.slogdet(blocks)[1].sum()) + math.log(max(self.schur, 1e-300))
        self.penalised = loglik + 0.5 * logdet  # Σ log-likelihood + ½ log det(information): Jeffreys' prior

    def step(self, free: bool) -> tuple[np.ndarray, float]:
        """The Newton step for Firth's modified score (each cell's residual + h·(½ − p), h its leverage)."""
        x, mu, cols, k = self.x, self.mu, self.cols, self.x.shape[1]
        quad = sum(x[:, i] * x[:, j] * self.inverse[cols, i, j] for i in range(k) for j in range(k))
        h = self.w * (quad + (mu - (x * self.ie[cols]).sum(axis=1)) ** 2 / self.schur)  # w·zᵀ(information)⁻¹z
        g = self.missing - self.p + h * (0.5 - self.p)
        grad = np.column_stack([np.bincount(cols, g * x[:, i], len(self.ie)) for i in range(k)])
        ig = np.einsum("dij,dj->di", self.inverse, grad)
        if not free:
            return ig, 0.0
        step = (float((g * mu).sum()) - float((self.edge * ig).sum())) / self.schur
        return ig - self.ie * step, step


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
