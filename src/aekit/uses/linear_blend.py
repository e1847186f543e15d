"""`impute`'s linear stage: a linear autoencoder on each member's completed rows, blended in per column.

The ELU members fill the gaps; then, per member, a **linear autoencoder with a zero diagonal** (each cell
reconstructed from the other cells of its row and a bias, never from itself: EASE, Steck 2019, with the loss on
observed cells only) is fitted in closed form (ridge least squares, one output column at a time) on the member's
rows completed by its own fills: its training cells as they are, every other cell as the member filled it from its
training cells. Its fills are scored with the member's on the member's held-out cells, and each column keeps the
blend `w · linear + (1 - w) · network` whose summed held-out error over the members is lowest (`WEIGHTS`). Tables
whose columns are near-linear functions of each other (breast_cancer, diabetes) get most of the linear fill; the
others keep the networks' (w = 0 wherever the held-out cells do not prefer it).

>>> import numpy as np
>>> rows = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0], [4.0, 8.0]])
>>> w = fit_zero_diagonal(rows, rows, np.ones((4, 2), bool), ridge=1e-9)
>>> np.round(reconstruct(w, np.array([[5.0, 0.0], [0.0, 12.0]])), 3).tolist()   # each cell from the other only
[[0.0, 10.0], [6.0, 0.0]]
"""

from __future__ import annotations

import numpy as np

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the linear fill's share per column, chosen on held-out cells
RIDGE = 1.0  # the L2 penalty on the weights (columns are standardised; the bias is not penalised)
EXACT_LIMIT = 5e10  # rows × columns³ up to which each column gets its own fit (~seconds); above, one shared fit

__all__ = ["WEIGHTS", "RIDGE", "EXACT_LIMIT", "fit_zero_diagonal", "reconstruct", "linear_member", "blend_errors"]


def fit_zero_diagonal(rows: np.ndarray, target: np.ndarray, train: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """The (d + 1, d) weights W of a linear autoencoder `[rows, 1] @ W` with W[j, j] = 0 (the last row: biases):
    column j is the ridge least-squares fit of `target[:, j]` on the other columns of `rows`, over the rows where
    `train[:, j]` is true (cells without a training value there add nothing to the loss)."""
    n, d = rows.shape
    x = np.column_stack([rows, np.ones(n)])
    if n * d**3 > EXACT_LIMIT:  # a wide table (e.g. ratings of thousands of items): d fits would take minutes
        return _shared_fit(x, ridge)
    w = np.zeros((d + 1, d))
    for j in range(d):
        keep = np.r_[np.arange(j), np.arange(j + 1, d + 1)]  # every input but cell j itself
        xj = x[train[:, j]][:, keep]
        penalty = np.full(d, float(ridge))
        penalty[-1] = 0.0  # the bias
        w[keep, j] = np.linalg.solve(xj.T @ xj + np.diag(penalty), xj.T @ target[train[:, j], j])
    return w


def _shared_fit(x: np.ndarray, ridge: float) -> np.ndarray:
    """EASE's closed form (Steck 2019) for every column at once, from one inverse: the zero-diagonal ridge fit of
    each column of `x` (the rows with their ones column) on the others, over every row; column j's weights are
    -P[:, j] / P[j, j] with P = (xᵀx + penalty)⁻¹. It fits the rows as they are (training cells and the member's
    fills alike), where the per-column fits use only the training cells of each column as targets."""
    d = x.shape[1] - 1
    penalty = np.full(d + 1, float(ridge))
    penalty[-1] = 0.0  # the bias
    p = np.linalg.inv(x.T @ x + np.diag(penalty))
    w = -p[:, :d] / np.diag(p)[:d]
    w[np.arange(d), np.arange(d)] = 0.0
    return w


def reconstruct(w: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The linear autoencoder's output for `rows` (every cell from the others of its row)."""
    return rows @ w[:-1] + w[-1]


def linear_member(z, obs, train, train_pred, fills, ridge: float = RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """One member's linear fills of the table and its predictions of the held-out cells.

    `z`: standardised table (0 in the gaps); `obs`: observed cells; `train`: the member's training cells;
    `train_pred`: the member's network's values from its training cells (so held-out cells are filled as the gaps
    are); `fills`: its fills of the table from every observed cell. Fitted on the training rows completed by
    `train_pred`, so a held-out value never reaches the fit."""
    completed_train = np.where(train, z, train_pred)
    w = fit_zero_diagonal(completed_train, z, train, ridge)
    return reconstruct(w, np.where(obs, z, fills)), reconstruct(w, completed_train)


def blend_errors(linear: np.ndarray, network: np.ndarray, z: np.ndarray, held: np.ndarray, weights=WEIGHTS):
    """Squared error summed over the `held` cells of each column for each blend `w · linear + (1 - w) · network`,
    w in `weights`: (len(weights), d)."""
    rows = held.any(axis=1)  # only rows with a held-out cell count (and one blend at a time: no (5, rows, d) array)
    linear, network, z, held = linear[rows], network[rows], z[rows], held[rows]
    return np.stack([(np.square(w * linear + (1 - w) * network - z) * held).sum(axis=0) for w in weights])
