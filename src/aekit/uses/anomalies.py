"""Anomaly scoring (`aekit anomaly`): a row the model reconstructs badly is unlike what it was trained on.

The score of a row is its reconstruction error: the mean squared error over its features (``score="mse"``,
the default, any data range) or the mean binary cross-entropy (``score="bce"``, data in [0, 1]). A row is
flagged when its score is above a threshold, set either by a contamination rate (the top fraction of the
scored rows) or by a quantile of reference scores (normal rows: the run's validation data by default).
With labels (1 = anomaly, or a set of labels named normal) the ROC-AUC of the scores is reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from aekit.data.rows import _unit_range, place_rows
from aekit.devices import device_of
from aekit.errors import ConfigError, DataError
from aekit.models import Autoencoder
from aekit.uses.inputs import as_input, load_any_model

SCORES = ("mse", "bce")


@torch.no_grad()
def anomaly_scores(model: Autoencoder | str | os.PathLike, x: Any, *, score: str = "mse", batch_size: int = 4096,
                   device: str | torch.device | None = None) -> np.ndarray:
    """Reconstruction error of each row of `x`, shape (n,): mean squared error, or mean BCE, over features, computed
    on `device` (default None: where the model is, the CPU for a file)."""
    if score not in SCORES:
        raise ConfigError(f"unknown score {score!r}; choose one of: {', '.join(SCORES)}")
    model, _ = load_any_model(model, device)
    xt = as_input(model, x, keep_memmap=True)  # a memmap is read a block at a time
    if score == "bce":
        lo, hi = _unit_range(xt)
        if lo < 0 or hi > 1:
            raise DataError("the 'bce' score needs values in [0, 1]; scale the data or use the 'mse' score")
    out = np.empty(xt.shape[0], dtype=np.float64)  # filled in place: a list of small results kept the heap from shrinking
    for start, xb in place_rows(xt, device_of(model), 0).blocks(batch_size):
        rb = model(xb)
        if score == "mse":
            row = ((rb - xb) ** 2).mean(dim=1)
        else:
            p = rb.clamp(1e-7, 1 - 1e-7)
            row = -(xb * p.log() + (1 - xb) * (1 - p).log()).mean(dim=1)
        out[start:start + len(row)] = row.cpu().numpy()
    return out


def threshold_from(scores: Any, *, contamination: float | None = None, reference: Any = None,
                   quantile: float | None = None) -> float:
    """The score above which a row is flagged.

    ``contamination=c``: the (1 − c) quantile of `scores` itself, so about a fraction c is flagged.
    ``quantile=q``: the q quantile of `reference` (scores of normal rows).
    """
    if (contamination is None) == (quantile is None):
        raise ConfigError("give exactly one of contamination (a rate) or quantile (of reference scores)")
    if contamination is not None:
        if not 0 < contamination < 1:
            raise ConfigError(f"contamination must lie strictly between 0 and 1, got {contamination}")
        return float(np.quantile(np.asarray(scores), 1 - contamination))
    if not 0 < quantile <= 1:
        raise ConfigError(f"quantile must lie in (0, 1], got {quantile}")
    if reference is None or len(reference) == 0:
        raise ConfigError("a quantile threshold needs reference scores of normal rows; pass --reference FILE or use --contamination")
    return float(np.quantile(np.asarray(reference), quantile))


def binary_labels(labels: Any, normal: Sequence[Any] | None = None) -> np.ndarray:
    """0 (normal) / 1 (anomaly) labels: `labels` already 0/1, or 1 wherever the label is not in `normal`."""
    y = np.asarray(labels).reshape(-1)
    if normal is not None:
        return (~np.isin(y, np.asarray(list(normal), dtype=y.dtype))).astype(np.int64)
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise DataError(f"labels hold {len(values)} distinct values, not 0/1; mark anomalies 1 and normal rows 0, "
                        "or name the normal labels (--normal 3)")
    return y.astype(np.int64)


def roc_auc(anomalous: Any, scores: Any) -> float | None:
    """ROC-AUC of `scores` for 0/1 `anomalous` labels; None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(anomalous)
    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, np.asarray(scores)))


@dataclass
class AnomalyResult:
    scores: np.ndarray  # (n,) reconstruction error per row
    threshold: float
    flags: np.ndarray  # (n,) 1 where score > threshold
    rule: str  # how the threshold was set, e.g. 'contamination 0.05' or 'quantile 0.99 of 1000 reference rows'
    labels: np.ndarray | None  # (n,) 0/1 anomaly labels when given
    roc_auc: float | None  # when labels hold both classes

    @property
    def n_flagged(self) -> int:
        return int(self.flags.sum())


def anomaly(model: Autoencoder | str | os.PathLike, x: Any, *, reference: Any = None, contamination: float | None = None,
            quantile: float | None = None, labels: Any = None, normal: Sequence[Any] | None = None,
            score: str = "mse", batch_size: int = 4096, device: str | torch.device | None = None) -> AnomalyResult:
    """Score rows `x`, flag those above a threshold, and give the ROC-AUC when `labels` are known.

    Threshold: `contamination` (a rate), or `quantile` of the scores of `reference` rows (default 0.99
    when neither is given; `reference` defaults to the run's validation rows when `model` is a run folder).
    `labels` are 0/1 (1 = anomaly), or any labels with `normal` naming the normal ones. `device` runs the model
    (default None: where it is, the CPU for a file).
    """
    model_obj, config = load_any_model(model, device)
    scores = anomaly_scores(model_obj, x, score=score, batch_size=batch_size)
    if contamination is None and quantile is None:
        quantile = 0.99
    ref_scores = None
    if contamination is None:
        if reference is None and config:
            reference = validation_rows(config)
        if reference is not None:
            ref_scores = anomaly_scores(model_obj, reference, score=score, batch_size=batch_size)
    threshold = threshold_from(scores, contamination=contamination, reference=ref_scores, quantile=quantile)
    rule = (f"contamination {contamination:g}" if contamination is not None
            else f"quantile {quantile:g} of {len(ref_scores)} reference rows")
    y = None if labels is None else binary_labels(labels, normal)
    if y is not None and len(y) != len(scores):
        raise DataError(f"{len(y)} labels for {len(scores)} rows; pass one label per row")
    auc = None if y is None else roc_auc(y, scores)
    return AnomalyResult(scores, threshold, (scores > threshold).astype(np.int64), rule, y, auc)


def validation_rows(config: dict[str, Any]) -> np.ndarray | np.memmap | None:
    """The validation rows a run was trained with, rebuilt from its config.json (None if it had none)."""
    from aekit.data.sources import load_run_data

    data = config.get("data") or {}
    if not data:
        return None
    seed = int((config.get("train") or {}).get("seed", 0))
    rd = load_run_data(data.get("dataset") or "mnist", data.get("data"), val_data=data.get("val_data"),
                       data_dir=data.get("data_dir"), limit=data.get("limit"), val_split=data.get("val_split", 0.1), seed=seed)
    return rd.x_val  # a memmap's last rows stay on disk (read in blocks by `anomaly_scores`)


def write_scores(result: AnomalyResult, path: str | os.PathLike) -> Path:
    """A CSV with columns score, anomaly (0/1) and, when known, label (0/1)."""
    from aekit.io import atomic_write_text

    head = "score,anomaly" + (",label" if result.labels is not None else "")
    cols = [result.scores, result.flags] + ([result.labels] if result.labels is not None else [])
    lines = [head] + [",".join([f"{row[0]:.8g}", *(str(int(v)) for v in row[1:])]) for row in zip(*cols)]
    return atomic_write_text(path, "\n".join(lines) + "\n")


__all__ = ["anomaly", "anomaly_scores", "threshold_from", "binary_labels", "roc_auc", "AnomalyResult", "write_scores",
           "validation_rows", "SCORES"]
