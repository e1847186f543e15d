"""The self-masking slope and spreads (uses/self_masking.py) on generated gaps, checked against scikit-learn."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from aekit.uses import self_masking


def generated_gaps(b, n=3000, intercepts=(-1.0, 0.0, 0.5), seed=0):
    """Cells of three columns: μ ~ N(0, 1), missing with probability σ(a_column + b·μ)."""
    r = np.random.default_rng(seed)
    cols = r.integers(0, len(intercepts), n)
    mu = r.normal(size=n)
    missing = (r.random(n) < 1 / (1 + np.exp(-(np.asarray(intercepts)[cols] + b * mu)))).astype(float)
    return mu, missing, cols


@pytest.mark.parametrize("b", [-1.0, 0.3, 1.5])
def test_the_common_slope_is_scikit_learns_logistic_regression_and_finds_the_generated_one(b):
    mu, missing, cols = generated_gaps(b)
    got, se = self_masking.common_slope(mu, missing, cols, 3)
    features = np.column_stack([np.eye(3)[cols], mu])  # an intercept per column, one slope
    want = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-10, max_iter=1000).fit(features, missing)
    assert got == pytest.approx(want.coef_[0, 3], abs=1e-4)
    assert abs(got - b) < 3 * se and 0 < se < 0.1


@pytest.mark.parametrize("n, seed", [(400, 0), (40, 0), (40, 2), (40, 3)])
def test_the_slope_is_shrunk_by_its_noise_to_zero_within_root_two_standard_errors(n, seed):
    mu, missing, cols = generated_gaps(0.3, n=n, seed=seed)
    b, se = self_masking.common_slope(mu, missing, cols, 3)
    assert self_masking.slope(mu, missing, cols, 3) == pytest.approx(b * max(0.0, 1 - 2 * (se / b) ** 2), abs=1e-12)


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
