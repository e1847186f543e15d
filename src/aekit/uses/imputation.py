"""Filling missing values with an autoencoder (MIDA, Gondara & Wang 2018; AutoRec, Sedhain et al. 2015).

Columns are standardised over their observed cells, missing cells read as the column mean (0), and a dense
autoencoder learns to reconstruct the observed cells from rows in which a random 30% of them are hidden as well (input
dropout), with the loss taken over observed cells only; beside the values it is fed the mask of the cells it sees, so
a missing cell and an observed mean are told apart. So it learns to predict a cell from the others, which is what
filling a gap asks. A tenth of the observed cells is held out from training to stop early and to estimate the error.
Then each network goes on learning from the rows it completed, its fills read as observed (`self_train`), and a
fresh network of the same seed learns from every observed cell, held-out ones too, for as many epochs as the first
needed (scaled by the cells gained), and fills the gaps in its place (`refit`). After that, each network reads its
own fills once more as if they were observed and fills again (`refeed`), in the columns where that lowers the error
on its held-out cells. Five such networks (`members`; 15 on a table of under 100 rows), each from its own seed
and holding out its own tenth, are averaged. Beside each network, a linear autoencoder with a zero diagonal is fitted
on the rows that network completed, and its fills are blended in per column by the held-out cells
(`aekit.uses.linear_blend`). With `variational=True` a MIWAE's fills (`aekit.uses.miwae`), with `method="auto"`
MissForest's (`aekit.uses.forest_blend`), are blended in the same way. Where the gaps are likelier at high (or low)
values than the fills explain, `self_masking` then moves each column's fills by the tilt that a self-masking
model of the gaps implies (`aekit.uses.self_masking`). Fills stay within each column's observed range (`clip`); the
returned table keeps every observed cell exactly.

>>> import numpy as np
>>> x = np.array([[1.0, 2.0], [2.0, np.nan], [3.0, 6.0], [4.0, 8.0]])
>>> filled = impute(x, epochs=5, members=2)
>>> filled.shape, bool(np.isnan(filled).any()), float(filled[0, 0])
((4, 2), False, 1.0)

The networks' training loop (and why it is not `aekit.fit`'s) is in `aekit.uses.imputer_training`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from aekit.config import ModelConfig, TrainConfig
from aekit.devices import resolve_device
from aekit.errors import DataError, option
from aekit.training.callbacks.base import Callback
from aekit.uses import forest_blend, linear_blend, miwae, self_masking
from aekit.uses.imputer_training import fill, fit_member, refit_member
from aekit.uses.ratings import read_ratings
from aekit.uses.tables import as_table, check_bounds, column_scales, is_frame, like_frame

VARIATIONAL_WEIGHTS = (0.0, 0.25, 0.5)  # `variational`: the MIWAE's share per column, chosen on held-out cells
DEEP_ROWS = 1000  # from this many rows on, the default network has two hidden layers (`default_hidden`)

__all__ = ["impute", "ImputeInfo", "read_ratings", "default_hidden", "default_batch_size", "default_members"]


@dataclass(frozen=True)
class ImputeInfo:
    """What `impute(..., return_info=True)` reports beside the filled table."""

    cells_filled: int  # missing cells that were filled
    holdout_rmse: float  # mean RMSE of the members with held-out cells, in standard deviations of a column (nan: none)
    # (of the fills kept: re-feeding and the linear share chosen per column on those same cells: slightly optimistic;
    # with `refit`, of the held-out networks, where the refits that fill the gaps learnt from 1/0.9 the cells)
    epochs: int  # epochs the first member trained, both phases (early stopping may end each before `epochs`)
    best_epoch: int  # the epoch whose weights the first member filled with
    hidden: tuple[int, ...]  # the hidden sizes used (input → code)
    history: dict[str, list[float]] = field(default_factory=dict)  # member 0's per-epoch loss and val_rmse
    members: int = 1  # networks averaged
    member_rmse: tuple[float, ...] = ()  # each member's RMSE on its own held-out cells (holdout_rmse: their mean)
    batch_size: int = 0  # rows per batch (by default from the table's rows: `default_batch_size`)
    linear_weights: tuple[float, ...] = ()  # per column, the linear autoencoder's share of the fill (() : linear off)
    variational_weights: tuple[float, ...] = ()  # per column, the MIWAE's share of the fill (() : variational off)
    forest_weights: tuple[float, ...] = ()  # per column, MissForest's share of the fill (() : method="autoencoder")
    self_train_epochs: int = 0  # of `epochs`, those the first member learned from its completed rows (`self_train`)
    refit_epochs: int = 0  # epochs of the first member's refit on every observed cell, both phases (0: no `refit`)
    self_masking_slope: float = 0.0  # logit of a gap per standard deviation of its own value, shrunk (0: none found)
    self_masking_shift: tuple[float, ...] = ()  # per column, what was added to its fills, in its units (() : off)


def default_hidden(n_columns: int, n_rows: int = 0) -> tuple[int, ...]:
    """The default layers for `n_columns` and `n_rows`: a hidden layer of 6×columns up to 192 units (never under
    2×columns, nor under 24) and a code of half that (overcomplete, as MIDA's; input dropout, not a bottleneck,
    keeps it from copying its input); from 1,000 rows on, a second hidden layer of the same width before the code.
    Chosen on the benchmark's development seeds (100-102) with five members: on breast_cancer (30 columns) 2×/1× was
    5% worse than 6×/3×; on the generated ratings (80 columns) 2×/1× was 1% better than 6×/3× and seven times
    faster; on digits (1,797 rows) the second layer cut the gap to MissForest by 1.7 points at the same time, where
    on wine (178 rows) a wider layer was worse. A wide table (over 96 columns: its layer is 2×columns, past the 192
    cap, e.g. MovieLens-1M's 6,040 users × 3,706 items) keeps one hidden layer: a second of that width would square
    it (13.7 M more weights there), and the second layer was only measured at widths up to 192."""
    width = max(24, min(6 * n_columns, max(2 * n_columns, 192)))
    deep = n_rows >= DEEP_ROWS and width <= 192
    return (width,) * (2 if deep else 1) + (max(12, width // 2),)


def default_batch_size(n_rows: int) -> int:
    """The default batch: about 12 steps an epoch, within 16-32 rows (a 178-row table took 3 steps an epoch at 64,
    and 16 was 1-3% better on the development seeds; from 384 rows on it stays 32, where 64 was about a point worse
    on breast_cancer's 569 rows and digits' 1,797, and 16 no better: docs/impute.md, round 7)."""
    return int(min(32, max(16, n_rows // 12)))


def default_members(n_rows: int) -> int:
    """The default networks averaged: 5, and 15 on a table of under 100 rows, where one network's fills vary most with
    its seed and fifteen still take seconds (on tables of 20-60 rows the average of 15 was better than that of 5 on
    the development seeds: docs/impute.md, round 13)."""
    return 15 if n_rows < 100 else 5


def impute(
    x: Any,
    *,
    hidden: Sequence[int] | None = None,
    epochs: int = 600,
    dropout: float = 0.3,
    batch_size: int | None = None,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int = 60,
    val_fraction: float = 0.1,
    activation: str = "elu",
    mask_input: bool = True,
    members: int | None = None,
    refeed: int = 1,
    self_train: bool = True,
    refit: bool = True,
    self_masking: bool = True,
    linear: bool = True,
    variational: bool = False,
    method: str = "autoencoder",
    bounds: tuple[float, float] | None = None,
    clip: bool = True,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    return_info: bool = False,
    columns: Sequence[str] | None = None,
    device: str | torch.device | None = None,
):
    """Fill the NaN cells of a numeric table with an autoencoder; observed cells come back unchanged.

    `hidden`: layer sizes from input to code (the last is the code; default `default_hidden(columns, rows)`).
    `dropout`: the fraction of observed cells also hidden from the input in each batch. `batch_size`: rows per
    step (default `default_batch_size(rows)`: about 12 steps an epoch, within 16-32).
    `epochs`: the most epochs of each training phase (two with `self_train`).
    `weight_decay`: the L2 penalty λ/2·Σw². `patience`: epochs without a better held-out RMSE before
    stopping (0: train all `epochs`). `val_fraction`: the share of observed cells held out for that.
    `members`: networks trained and averaged, each from its own seed (member 0 from `seed`) and holding out its
    own cells; one network's fills vary a lot with the seed on small tables, and the average is steadier (default
    `default_members(rows)`: 5, and 15 on a table of under 100 rows, where they take seconds).
    `refeed`: rounds in which each trained network reads its own fills as observed cells (the mask says seen)
    and fills the gaps again, kept in the columns where that lowers the error on the member's held-out cells
    (0: one pass; 2 or more drifted and were worse on the development seeds).
    `self_train`: after its first training, each network goes on learning from the rows it completed (its
    training cells as observed, the other cells as it filled them, the mask saying seen), stopped by its held-out
    cells re-fed as the gaps are, and keeps the weights that fill those best (`aekit.uses.imputer_training`; False:
    one phase; on the development seeds it lowered the error on 13 of 15 cases, docs/impute.md round 8).
    `refit`: then each member trains a fresh network of its seed on every observed cell, its held-out ones too, for
    its best epochs of each phase × 1/(1 - `val_fraction`), and that network fills the gaps; the held-out network
    still chooses the re-fed columns and the linear share and gives `holdout_rmse` (False: the held-out network
    fills; refit costs 1.6-1.9× the time, and gained 0.5 point on wine and 2.8 on digits at MCAR 10% on the
    development seeds, docs/impute.md round 9).
    `self_masking`: allow for gaps likelier where the cell's own value is high (or low; missing not at random, e.g.
    incomes left blank when high): a logistic regression of "missing" on the fills, over the gaps and the members'
    held-out cells and beside each column's two likeliest driver columns (so that gaps driven by another column's
    value do not count), gives one slope for every column, and each column's fills move by slope × its held-out
    residuals' variance (`aekit.uses.self_masking`). The regression is Firth-penalised (finite on a small table) and
    the slope shrunk by (1 − ln(n)/χ²)⁺ over its n cells, χ² its likelihood ratio (BIC's price of a parameter), so
    where the gaps do not clearly follow the values it is 0 and nothing moves (under MCAR a chance slope passes 4% of
    the time over 70 cells, 0.7% over 1,300). False: never shift (docs/impute.md, rounds 11 to 13).
    `linear`: also fit, per member, a linear autoencoder with a zero diagonal (each cell from the other cells of
    its row) on the rows the member completed, and blend its fills into the networks' per column by a weight in
    0, ¼, ½, ¾, 1 chosen on the members' held-out cells (`aekit.uses.linear_blend`; False: the networks alone).
    `variational`: also train a MIWAE (a VAE on the observed cells whose fills are importance-weighted means;
    `aekit.uses.miwae`) on member 0's training cells and blend its fills in per column by a share in 0, ¼, ½ chosen
    on member 0's held-out cells (off by default: on the development seeds it helped the generated ratings and wine,
    hurt breast_cancer, and costs 1.5-2.5× the time; docs/impute.md, round 6).
    `method`: "autoencoder" (the fills above) or "auto": also fit MissForest (scikit-learn's IterativeImputer with
    extra trees) and blend its fills in per column by a share in 0, ½, 1 chosen on member 0's held-out cells
    (`aekit.uses.forest_blend`; a convenience: the trees where they predict held-out cells better).
    `mask_input`: also feed the network which cells it sees (a missing cell reads 0, the column mean;
    the mask tells it apart from an observed mean). `clip`: keep each column's fills within the range of its
    observed cells (False: as the networks give them). `bounds`: (low, high) clips the filled cells
    (ratings 1–5). `columns`: names used in messages. `callbacks`: aekit Callbacks (logs: loss, val_rmse), which
    see each member's training in turn.
    Returns the filled array (float32 stays float32, anything else becomes float64), and with
    `return_info` also an :class:`ImputeInfo`. A pandas DataFrame gives a DataFrame with its columns and index.
    """
    frame = x if is_frame(x) else None
    if frame is not None:
        text = [str(c) for c in frame.columns[[k not in "biuf" for k in frame.dtypes.map(lambda d: d.kind)]]]
        if text:
            raise DataError(f"column {text[0]!r} of the DataFrame is not numeric; convert it to numbers or drop it")
        columns = [str(c) for c in frame.columns] if columns is None else columns
        single = all(str(d).lower() == "float32" for d in frame.dtypes)  # pandas' nullable Float32 too
        x = frame.to_numpy(dtype=np.float32 if single else np.float64, na_value=np.nan)  # pd.NA (nullable columns) too
    device = torch.device("cpu") if device is None else resolve_device(device)
    a = as_table(x)
    dtype = (
        a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    )  # float32 in, float32 out: observed cells identical
    a = a.astype(np.float64)
    n, d = a.shape
    names = list(columns) if columns is not None else [str(j) for j in range(d)]
    if len(names) != d:
        raise DataError(
            f"{option('columns')} names {len(names)} columns but the table has {d}; pass one name per column"
        )
    check_bounds(bounds)
    obs = ~np.isnan(a)
    empty = np.flatnonzero(~obs.any(axis=0))
    if empty.size:
        raise DataError(
            f"column {names[empty[0]]!r} has no observed value, so nothing can predict it; drop that column"
        )
    hidden = tuple(hidden) if hidden else default_hidden(d, n)
    if any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in hidden):
        sizes = ",".join(str(h) for h in hidden)
        raise DataError(f"{option('hidden')} sizes must be whole numbers ≥ 1 (input → code), got {sizes}; e.g. 64,32")
    if not 0 <= dropout < 1:
        raise DataError(f"{option('dropout')} must lie in [0, 1), got {dropout}; 0.3 is the default")
    members = default_members(n) if members is None else members
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise DataError(
            f"{option('members')} must be a whole number of at least 1, got {members}; leave it out for "
            f"the default (5; 15 under 100 rows)"
        )
    if isinstance(refeed, bool) or not isinstance(refeed, int) or refeed < 0:
        raise DataError(f"{option('refeed')} must be a whole number of at least 0, got {refeed}; 1 is the default")
    if method not in ("autoencoder", "auto"):
        raise DataError(f"unknown {option('method')} {method!r}; choose one of: autoencoder, auto")
    batch_size = default_batch_size(n) if batch_size is None else batch_size
    if not 0 <= val_fraction < 1:
        raise DataError(f"{option('val_fraction')} must lie in [0, 1), got {val_fraction}")
    # The configs validate the sizes, activation and training numbers with aekit's usual messages.
    mcfg = ModelConfig(
        input_dim=2 * d if mask_input else d,
        hidden=hidden[:-1],
        encoding_dim=hidden[-1],
        activation=activation,
        code_activation=activation,
        output_activation="linear",
        seed=seed,
    )
    tcfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        optimizer="adam",
        lr=lr,
        loss="mse",
        seed=seed,
        weight_decay=weight_decay,
        noise="masking" if dropout else "none",
        noise_level=dropout,
        patience=patience,
    )
    missing = int((~obs).sum())
    if missing == 0:
        info = ImputeInfo(0, math.nan, 0, 0, hidden, {}, members, (), batch_size)
        filled = like_frame(frame, a.astype(dtype))
        return (filled, info) if return_info else filled

    mean, scale = column_scales(a)
    z = torch.from_numpy(np.where(obs, (a - mean) / scale, 0.0).astype(np.float32)).to(device)
    seen = torch.from_numpy(obs).to(device)
    zn = z.double().cpu().numpy()
    preds, runs, lins, errors, counts, refits = [], [], [], [], [], []  # errors: per member, (blends, columns)
    heldout = []  # `self_masking`: per member, its held-out cells' rows and columns, the network's and linear fills
    for k in range(members):
        s = seed if k == 0 else _member_seed(seed, k)  # member 0 is the single network `members=1` trains
        rng = np.random.default_rng([s, 1])  # its held-out cells; never the same stream as a caller's seed
        held = obs & (rng.random(a.shape) < val_fraction)
        held[:, obs.sum(axis=0) - held.sum(axis=0) < 1] = False  # every column keeps an observed training cell
        cfgs = (dataclasses.replace(mcfg, seed=s), dataclasses.replace(tcfg, seed=s))
        model, run = fit_member(z, obs & ~held, held, *cfgs, mask_input, self_train, callbacks, device)
        scorer, train = model, torch.from_numpy(obs & ~held).to(device)
        refits.append((0, 0))
        if refit and held.any():  # each phase's best epochs, scaled by the cells gained (all observed: 1/0.9 as many)
            refits[-1] = tuple(round(e / (1 - val_fraction)) for e in run[4])
            model = refit_member(z, obs, *cfgs, refits[-1], mask_input, device)
        pred, held_pred = fill(model, z, seen, train, held, refeed, mask_input, scorer)
        lin = linear_blend.linear_member(zn, obs, obs & ~held, held_pred, pred) if linear else (pred, held_pred)
        preds.append(pred)
        lins.append(lin[0])
        errors.append(linear_blend.blend_errors(lin[1], held_pred, zn, held))
        if self_masking:
            rows, cols = np.nonzero(held)
            heldout.append((rows, cols, held_pred[rows, cols], lin[1][rows, cols]))
        if k == 0:  # member 0's held-out cells choose the MIWAE's and the forest's shares; one MIWAE on its cells
            member0 = (held, held_pred, lin[1])
            vae = _variational(z, seen, obs & ~held, held, s, device) if variational else None
        runs.append(run)
        counts.append(int(held.sum()))
    pick = np.argmin(np.sum(errors, axis=0), axis=0)  # per column: the blend with the least held-out error (0: none)
    share = np.asarray(linear_blend.WEIGHTS)[pick]
    pred = (1 - share) * np.mean(preds, axis=0) + share * np.mean(lins, axis=0)
    vshare, fshare = np.zeros(0), np.zeros(0)
    held, net, lin = member0
    mine = (1 - share) * net + share * lin  # member 0's values of its held-out cells, blended as the fills are
    if variational:  # the MIWAE's share per column, chosen on member 0's held-out cells (0 where there are none)
        verr = linear_blend.blend_errors(vae[1], mine, zn, held, VARIATIONAL_WEIGHTS)
        vshare = np.asarray(VARIATIONAL_WEIGHTS)[np.argmin(verr, axis=0)]
        pred, mine = (1 - vshare) * pred + vshare * vae[0], (1 - vshare) * mine + vshare * vae[1]
    if method == "auto":  # MissForest's share per column, chosen on the same cells
        fshare, pred = forest_blend.forest_shares(zn, obs, obs & ~held, held, mine, pred, seed)
    masking = (0.0, ())  # the slope, and each column's shift in its units (`ImputeInfo`)
    if self_masking:  # gaps likelier where the value is high (or low): each column's fills shifted by the tilt
        shift, slope = _self_masking_shift(zn, obs, pred, share, heldout)
        pred = pred + shift
        masking = (slope, tuple(float(v) for v in shift * scale))
    scores = [math.sqrt(e[pick, np.arange(d)].sum() / c) if c else math.nan for e, c in zip(errors, counts)]
    fills = pred * scale + mean
    if clip:  # each column's fills within its observed range, as a tree's (a pixel is never below 0 nor above 16)
        fills = np.clip(fills, np.nanmin(a, axis=0), np.nanmax(a, axis=0))
    filled = np.where(obs, a, fills).astype(dtype)
    if bounds is not None:
        filled[~obs] = np.clip(filled[~obs], bounds[0], bounds[1])
    epochs_run, best_epoch, history, second, _ = runs[0]
    measured = [v for v in scores if not math.isnan(v)]  # a tiny table may leave a member no held-out cell
    holdout = float(np.mean(measured)) if measured else math.nan
    shares = tuple(float(v) for v in share) if linear else ()
    vshares, fshares = tuple(float(v) for v in vshare), tuple(float(v) for v in fshare)
    run_info = (epochs_run, best_epoch, hidden, history, members, tuple(scores), batch_size, shares, vshares, fshares)
    filled, info = like_frame(frame, filled), ImputeInfo(missing, holdout, *run_info, second, sum(refits[0]), *masking)
    return (filled, info) if return_info else filled


def _self_masking_shift(zn, obs, pred, share, heldout) -> tuple[np.ndarray, float]:
    """Per column, the shift of the fills under self-masking gaps (`aekit.uses.self_masking`; standard deviations),
    and the common slope: from the members' blended fills of their held-out cells and the fills of the gaps."""
    d = zn.shape[1]
    rows, cols, net, lin = (np.concatenate(v) for v in zip(*heldout))
    mu = (1 - share[cols]) * net + share[cols] * lin
    gap_rows, gap_cols = np.nonzero(~obs)
    values = np.concatenate([mu, pred[gap_rows, gap_cols]])
    missing = np.concatenate([np.zeros(mu.size), np.ones(gap_rows.size)])
    rows_all, cols_all = np.concatenate([rows, gap_rows]), np.concatenate([cols, gap_cols])
    others = self_masking.drivers(np.where(obs, zn, pred), rows_all, cols_all)
    slope = self_masking.slope(values, missing, cols_all, d, others) if mu.size else 0.0
    if slope == 0.0:
        return np.zeros(d), 0.0
    return slope * self_masking.spreads(zn[rows, cols] - mu, cols, d), slope


def _variational(z, seen, train, held, seed, device) -> tuple[np.ndarray, np.ndarray]:
    """A MIWAE (`aekit.uses.miwae`) trained on the `train` cells: its fills of the table from every `seen` cell,
    and its values of every cell from the training cells (so its held-out cells are filled as the gaps are)."""
    train_t = torch.from_numpy(train).to(device)
    model = miwae.fit(z, train_t, torch.from_numpy(held).to(device), seed=seed)
    return tuple(miwae.fill(model, z, m, seed).double().cpu().numpy() for m in (seen, train_t))


def _member_seed(seed: int, k: int) -> int:
    """Member k's seed (k ≥ 1): drawn from (seed, k), so no member of one seed is a member of another seed."""
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0] & 0x7FFFFFFF)
