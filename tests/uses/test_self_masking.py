"""The self-masking slope and spreads (uses/self_masking.py) on generated gaps, checked against scikit-learn."""

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

from aekit.uses import self_masking


def generated_gaps(b, n=3000, intercepts=(-1.0, 0.0, 0.5), seed=0):
    """Cells of three columns: μ ~ N(0, 1), missing with probability σ(a_column + b·μ)."""
    r = np.random.default_rng(seed)
    cols = r.integers(0, len(intercepts), n)
    mu = r.normal(size=n)
    missing = (r.random(n) < 1 / (1 + np.exp(-(np.asarray(intercepts)[cols] + b * mu)))).astype(float)
    return mu, missing, cols


def penalised_optimum(mu, missing, cols, d, others, free=True):
    """The reference: scipy's optimiser on the dense design, maximising Σ log-likelihood + ½ log det(ZᵀWZ), Z the
    full model's design (with free=False the slope is held at 0 and the penalty is still the full model's)."""
    x = np.column_stack([np.ones(mu.size), others])
    k = x.shape[1]
    z = np.zeros((mu.size, d * k + 1))
    for j in range(k):
        z[np.arange(mu.size), cols * k + j] = x[:, j]
    z[:, -1] = mu

    def loss(beta):
        beta = beta if free else np.append(beta, 0.0)
        eta = z @ beta
        p = 1 / (1 + np.exp(-eta))
        info = z.T @ (z * (p * (1 - p))[:, None])
        return np.logaddexp(0, np.where(missing > 0, -eta, eta)).sum() - 0.5 * np.linalg.slogdet(info)[1]

    size = d * k + 1 if free else d * k
    res = minimize(loss, np.zeros(size), method="BFGS", options={"gtol": 1e-9, "maxiter": 10_000})
    return (res.x[-1] if free else 0.0), -res.fun


def shrunk_reference(mu, missing, cols, d, others):
    b, full = penalised_optimum(mu, missing, cols, d, others)
    chi2 = 2 * (full - penalised_optimum(mu, missing, cols, d, others, free=False)[1])
    return b, b * max(0.0, 1 - np.log(mu.size) / chi2)


@pytest.mark.parametrize("n, seed", [(60, 224), (60, 0), (300, 1), (300, 5)])
def test_the_slope_and_its_likelihood_ratio_are_firths_penalised_maximum_likelihood(n, seed):
    """Against scipy's optimiser on the dense design: the slope, and χ² of the slope against none, each restricted fit
    penalised by the full model's information (Heinze & Schemper); the slope kept is the smaller in size of the one
    beside the drivers and the one on μ alone (0 where their signs differ). 60 cells of 6 columns with 2 driver values
    each (19 weights; seed 224 is one where plain maximum likelihood runs to 7.1 ± 3.9), and 300 with a real slope."""
    r = np.random.default_rng(seed)
    d = 6
    cols, mu, others = r.integers(0, d, n), r.normal(size=n), r.normal(size=(n, 2))
    missing = (r.random(n) < 1 / (1 + np.exp(0.7 - (n > 100) * mu))).astype(float)
    b, _ = self_masking.common_slope(mu, missing, cols, d, others)
    want_b, beside = shrunk_reference(mu, missing, cols, d, others)
    _, alone = shrunk_reference(mu, missing, cols, d, np.empty((n, 0)))
    assert b == pytest.approx(want_b, abs=1e-4)
    want = np.sign(beside) * min(abs(alone), abs(beside)) if alone * beside > 0 else 0.0
    assert self_masking.slope(mu, missing, cols, d, others) == pytest.approx(want, abs=1e-4)
    if n > 100:  # gaps that do follow μ: a slope found both ways
        assert want > 0.5


@pytest.mark.parametrize("b", [-1.0, 0.3, 1.5])
def test_over_many_cells_the_slope_is_scikit_learns_plain_logistic_regression_and_finds_the_generated_one(b):
    mu, missing, cols = generated_gaps(b)
    got, se = self_masking.common_slope(mu, missing, cols, 3)
    features = np.column_stack([np.eye(3)[cols], mu])  # an intercept per column, one slope
    want = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-10, max_iter=1000).fit(features, missing)
    assert got == pytest.approx(want.coef_[0, 3], abs=0.1 * se)  # Firth's correction is O(1/n): 3,000 cells
    assert abs(got - b) < 3 * se and 0 < se < 0.1


def test_small_regressions_of_gaps_at_random_give_no_large_slope():
    """300 generated MCAR regressions of 60 cells, 6 columns, 2 driver values each (19 weights for ~20 gaps): plain
    maximum likelihood with the Wald z let slopes of 6 million through (5 in 1,000 beyond 1); Firth's fit with its
    likelihood ratio passes about the BIC's nominal 4.3% and never far."""
    slopes = []
    for s in range(300):
        r = np.random.default_rng(s)
        cols, mu, others = r.integers(0, 6, 60), r.normal(size=60), r.normal(size=(60, 2))
        missing = (r.random(60) < 1 / (1 + np.exp(0.7))).astype(float)
        slopes.append(self_masking.slope(mu, missing, cols, 6, others))
    slopes = np.abs(slopes)
    assert slopes.max() < 1.5 and (slopes > 0).sum() <= 25


@pytest.mark.parametrize("n", [80, 1500])
def test_gaps_that_do_not_follow_the_values_rarely_pass_the_shrink_and_a_real_slope_does(n):
    """Under MCAR a chance slope passes the BIC's bar (|z| > √ln n) about 2·(1 − Φ(√ln n)) of the time: 3.6% over 80
    cells, 0.7% over 1,500 (AIC's bar, |z| > √2, would pass 16%). A slope of 0.5 over 1,500 cells passes."""
    passed = [self_masking.slope(*generated_gaps(0.0, n=n, seed=s), 3) != 0.0 for s in range(200)]
    assert sum(passed) <= 14  # 200 tables: 7 expected over 80 cells, 1 over 1,500; 32 with AIC's bar
    assert self_masking.slope(*generated_gaps(0.5, n=1500, seed=1), 3) > 0.3


def test_the_slope_is_zero_where_the_gaps_do_not_follow_the_values():
    mu, _, cols = generated_gaps(0.0)
    twice = np.repeat(mu, 2), np.tile([0.0, 1.0], mu.size), np.repeat(cols, 2)  # each value once missing, once not
    assert self_masking.slope(*twice, 3) == 0.0


def test_no_observed_cell_to_compare_with_gives_no_slope():
    mu = np.linspace(-1, 1, 30)
    assert self_masking.slope(mu, np.ones(30), np.zeros(30, dtype=int), 1) == 0.0


def test_spreads_read_a_gaussians_variance_and_not_a_few_large_misses():
    r = np.random.default_rng(3)
    plain, spiked = 2 * r.normal(size=4000), 2 * r.normal(size=4000)
    spiked[:200] = 50.0  # 5% far misses
    cols = np.repeat([1, 0], 4000)  # column 2 has no residual
    got = self_masking.spreads(np.concatenate([plain, spiked]), cols, 3)
    assert got[1] == pytest.approx(4.0, rel=0.1) and got[0] == pytest.approx(4.0, rel=0.3) and got[2] == 0.0
    assert np.var(spiked) > 100  # the plain variance would not have been


def test_drivers_are_the_columns_that_go_most_with_each_column_never_itself():
    r = np.random.default_rng(4)
    t = r.normal(size=(200, 4))
    t[:, 2] = -2 * t[:, 0] + 0.1 * t[:, 3]  # columns 0 and 2 go together (negatively)
    t[:, 1] = 5.0  # a constant column goes with nothing
    rows, cols = np.array([0, 1, 2]), np.array([0, 2, 1])
    got = self_masking.drivers(t, rows, cols)
    assert got.shape == (3, min(self_masking.DRIVERS, 3))
    assert got[0, 0] == t[0, 2] and got[1, 0] == t[1, 0]  # column 0's likeliest driver is 2, and 2's is 0
    if self_masking.DRIVERS >= 2:  # then column 3, which goes with column 0 a little, before the constant one
        assert got[0, 1] == t[0, 3]
    assert self_masking.drivers(t[:, :1], rows, np.zeros(3, dtype=int)) is None  # one column: nothing else


@pytest.mark.parametrize("driven_by", ["another column (MAR)", "its own value (self-masking)"])
def test_the_slope_beside_the_drivers_is_zero_for_gaps_at_random_given_them_and_stays_for_self_masking(driven_by):
    """x and a driver column k that goes with it (r 0.8); μ, the fill, predicts x better than k alone. Gaps driven by
    k's value: the slope on μ alone is large, beside k about 0. Gaps driven by x itself: it stays beside k."""
    r = np.random.default_rng(5)
    n = 6000
    x = r.normal(size=n)
    k = 0.8 * x + 0.6 * r.normal(size=n)
    mu = 0.95 * x + np.sqrt(1 - 0.95**2) * r.normal(size=n)
    cause = k if driven_by.startswith("another") else x
    missing = (r.random(n) < 1 / (1 + np.exp(-(-1.0 + 1.5 * cause)))).astype(float)
    cols = np.zeros(n, dtype=int)
    alone, beside = self_masking.slope(mu, missing, cols, 1), self_masking.slope(mu, missing, cols, 1, k[:, None])
    assert alone > 0.8
    if driven_by.startswith("another"):
        assert abs(beside) < 0.15
    else:
        assert beside > 0.8
