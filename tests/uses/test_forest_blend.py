"""aekit.uses.forest_blend and `impute(..., method="auto")`: MissForest blended in per column by held-out cells."""

import numpy as np
import pytest

from aekit.errors import DataError
from aekit.uses import forest_blend
from aekit.uses.imputation import impute

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/uses/conftest.py


def stepped(rows=300, seed=0):
    """A generated table whose third column is a step function of the first (trees' ground), the second smooth."""
    r = np.random.default_rng(seed)
    a = r.normal(size=rows)
    truth = np.column_stack([a, np.sin(a) + 0.1 * r.normal(size=rows), 2.0 * (a > 0.3) + 0.05 * r.normal(size=rows)])
    hidden = r.random(truth.shape) < 0.15
    return truth, hidden


def test_forest_fill_keeps_observed_cells_and_fills_every_gap():
    truth, hidden = stepped(rows=80)
    filled = forest_blend.forest_fill(np.where(hidden, np.nan, truth), trees=5, seed=0)
    assert not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[~hidden], truth[~hidden])


def test_auto_gives_the_step_column_to_the_trees_and_keeps_the_autoencoders_fills_elsewhere():
    truth, hidden = stepped()
    gappy = np.where(hidden, np.nan, truth)
    kw = dict(epochs=80, members=2, seed=0, self_train=False, return_info=True)  # one phase: the trees fill col 2 best
    plain, info = impute(gappy, **kw)
    auto, info_auto = impute(gappy, method="auto", **kw)
    shares = info_auto.forest_weights
    assert info.forest_weights == () and len(shares) == 3
    assert set(shares) <= set(forest_blend.WEIGHTS) and shares[2] > 0
    err = lambda f: np.sqrt(np.mean((f - truth)[:, 2][hidden[:, 2]] ** 2))  # noqa: E731
    assert err(auto) < err(plain)
    np.testing.assert_array_equal(auto[~hidden], truth[~hidden])  # observed cells unchanged
    kept = [j for j, w in enumerate(shares) if w == 0]
    assert kept  # here: the first column, which the others predict only loosely
    np.testing.assert_array_equal(auto[:, kept], plain[:, kept])


def test_an_unknown_method_is_refused():
    truth, hidden = stepped(rows=20)
    with pytest.raises(DataError, match="unknown method 'forest'; choose one of: autoencoder, auto"):
        impute(np.where(hidden, np.nan, truth), method="forest")
