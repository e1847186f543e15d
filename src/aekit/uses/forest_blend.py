"""`impute(method="auto")`: MissForest's fills blended into the autoencoder's per column, chosen on held-out cells.

MissForest (Stekhoven & Bühlmann 2012) as scikit-learn builds it: `IterativeImputer` with an `ExtraTreesRegressor`
(50 trees, at least 2 rows a leaf, 5 rounds), the benchmark's baseline. It is fitted twice: once on member 0's
training cells, to predict member 0's held-out cells, and once on every observed cell, to fill the gaps. Each column
keeps the blend `w · forest + (1 - w) · autoencoder` (w in `WEIGHTS`) whose error on those held-out cells is lowest,
so a column goes to the trees only where they predicted cells that neither model was fitted on better. This is a
convenience for users, not the autoencoder: issue 23 counts the autoencoder's fills alone.

>>> import numpy as np
>>> z = np.array([[0.0, 1.0], [1.0, np.nan], [2.0, 5.0], [3.0, 7.0]])
>>> bool(np.isnan(forest_fill(z, trees=5, seed=0)).any())
False
"""

from __future__ import annotations

import warnings

import numpy as np

from aekit.uses import linear_blend

WEIGHTS = (0.0, 0.5, 1.0)  # the forest's share per column, chosen on member 0's held-out cells
TREES = 50  # trees per column's forest (the benchmark's MissForest)

__all__ = ["WEIGHTS", "TREES", "missforest", "forest_fill", "forest_shares"]


def missforest(*, trees: int = TREES, seed: int = 0):
    """MissForest as scikit-learn builds it, unfitted: `IterativeImputer` with an `ExtraTreesRegressor` (`trees`
    trees, at least 2 rows a leaf), 5 rounds; the benchmark's baseline (benchmarks/impute.py) is this one."""
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (IterativeImputer is experimental)
    from sklearn.impute import IterativeImputer

    forest = ExtraTreesRegressor(n_estimators=trees, min_samples_leaf=2, n_jobs=1, random_state=seed)
    return IterativeImputer(forest, max_iter=5, random_state=seed, keep_empty_features=True)


def forest_fill(z: np.ndarray, *, trees: int = TREES, seed: int = 0) -> np.ndarray:
    """The table `z` (NaN in the gaps) with its gaps filled by MissForest; observed cells as they are."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # "Early stopping criterion not reached": 5 rounds, as MissForest's benchmark
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        return missforest(trees=trees, seed=seed).fit_transform(z)


def forest_shares(zn, obs, train, held, autoencoder_held, autoencoder_fills, seed: int = 0):
    """The forest's share per column and the blended fills of the whole table, both in standardised units.

    `zn`: the standardised table (any finite value in the gaps); `obs`: observed cells; `train` and `held`: member 0's
    training and held-out cells; `autoencoder_held`: the autoencoder's values of every cell from member 0's training
    cells (its held-out cells filled as the gaps are); `autoencoder_fills`: its fills of the table."""
    forest_held = forest_fill(np.where(train, zn, np.nan), seed=seed)
    errors = linear_blend.blend_errors(forest_held, autoencoder_held, zn, held, WEIGHTS)
    share = np.asarray(WEIGHTS)[np.argmin(errors, axis=0)]  # 0 where a column has no held-out cell (ties: the first)
    if not share.any():
        return share, autoencoder_fills
    fills = forest_fill(np.where(obs, zn, np.nan), seed=seed)
    return share, (1 - share) * autoencoder_fills + share * fills
