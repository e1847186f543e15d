"""Anomaly scoring (`aekit anomaly`): a row the model reconstructs badly is unlike what it was trained on.

The score of a row is its reconstruction error: the mean squared error over its features (``score="mse"``,
the default, any data range) or the mean binary cross-entropy (``score="bce"``, data in [0, 1]), taken in the
network's units: for a model with an input scaler, the scaled rows (standardised columns weigh alike). A row is
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
from aekit.errors import ConfigError, DataError, option
from aekit.models import Autoencoder
from aekit.uses.inputs import as_input, load_any_model

SCORES = ("mse", "bce")


@torch.no_grad()
def anomaly_scores(
    model: Autoencoder | str | os.PathLike,
    x: Any,
    *,
    score: str = "mse",
    batch_size: int = 4096,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Reconstruction error of each row of `x`, shape (n,): mean squared error, or mean BCE, over features, computed
    on `device` (default None: where the model is, the CPU for a file)."""
    if score not in SCORES:
        raise ConfigError(f"unknown score {score!r}; choose one of: {', '.join(SCORES)}")
    model, _ = load_any_model(model, device)
    xt = as_input(model, x, keep_memmap=True)  # a memmap is read a block at a time
    if score == "bce" and not model.scaled:
        lo, hi = _unit_range(xt)
        if lo < 0 or hi > 1:
            raise DataError("the 'bce' score needs values in [0, 1]; scale the data or use the 'mse' score")
    out = np.empty(
        xt.shape[0], dtype=np.float64
    )  # filled in place: a list of small results kept the heap from shrinking
    model._check_scaler()
    for start, xb in place_rows(xt, device_of(model), 0).blocks(batch_size):
        xb = model.scale_rows(xb)  # the network's units
        rb = model.reconstruct_net(xb)
        if score == "bce" and model.scaled and (float(xb.min()) < 0 or float(xb.max()) > 1):
            raise DataError(
                f"the 'bce' score needs values in [0, 1] as the network sees them (rows from {start} are "
                "not); use the 'mse' score"
            )
        if score == "mse":
            row = ((rb - xb) ** 2).mean(dim=1)
        else:
            p = rb.clamp(1e-7, 1 - 1e-7)
            row = -(xb * p.log() + (1 - xb) * (1 - p).log()).mean(dim=1)
        out[start : start + len(row)] = row.cpu().numpy()
    return out


def threshold_from(
    scores: Any, *, contamination: float | None = None, reference: Any = None, quantile: float | None = None
) -> float:
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
        raise ConfigError(
            f"a quantile threshold needs reference scores of normal rows; pass {option('reference')} (normal rows) "
            f"or use {option('contamination')}"
        )
    return float(np.quantile(np.asarray(reference), quantile))


def binary_labels(labels: Any, normal: Sequence[Any] | None = None) -> np.ndarray:
    """0 (normal) / 1 (anomaly) labels: `labels` already 0/1, or 1 wherever the label is not in `normal`."""
    y = np.asarray(labels).reshape(-1)
    if normal is not None:
        return (~np.isin(y, np.asarray(list(normal), dtype=y.dtype))).astype(np.int64)
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise DataError(
            f"labels hold {len(values)} distinct values, not 0/1; mark anomalies 1 and normal rows 0, "
            f"or name the normal labels ({option('normal', 3)})"
        )
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

    def _repr_html_(self) -> str:
        """A notebook's view: how many rows were scored and flagged, by which threshold, and the ROC-AUC."""
        from aekit.display import table

        n = len(self.scores)
        rows = [
            ("rows scored", n),
            ("threshold", float(self.threshold)),
            ("rule", self.rule),
            ("flagged", f"{self.n_flagged:,} ({self.n_flagged / max(n, 1):.1%})"),
            ("median score", float(np.median(self.scores)) if n else float("nan")),
        ]
        if self.labels is not None:
            rows.append(("labelled anomalies", int(self.labels.sum())))
            rows.append(("ROC-AUC", "n/a (one class)" if self.roc_auc is None else float(self.roc_auc)))
        return table(rows, caption="Anomaly scores")


def anomaly(
    model: Autoencoder | str | os.PathLike,
    x: Any,
    *,
    reference: Any = None,
    contamination: float | None = None,
    quantile: float | None = None,
    labels: Any = None,
    normal: Sequence[Any] | None = None,
    score: str = "mse",
    batch_size: int = 4096,
    device: str | torch.device | None = None,
) -> AnomalyResult:
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
    rule = (
        f"contamination {contamination:g}"
        if contamination is not None
        else f"quantile {quantile:g} of {len(ref_scores)} reference rows"
    )
    y = None if labels is None else binary_labels(labels, normal)
    if y is not None and len(y) != len(scores):
        raise DataError(f"{len(y)} labels for {len(scores)} rows; pass one label per row")
    auc = None if y is None else roc_auc(y, scores)
    return AnomalyResult(scores, threshold, (scores > threshold).astype(np.int64), rule, y, auc)


def validation_rows(config: dict[str, Any]) -> np.ndarray | np.memmap | None:
    """The validation rows a run was trained with, rebuilt from its config.json (None if it had none)."""
    from aekit.data.sources import recorded_run_data

    data = config.get("data") or {}
    if not data:
        return None
    seed = int((config.get("train") or {}).get("seed", 0))
    rd = recorded_run_data(data, seed)
    return rd.x_val  # a memmap's last rows stay on disk (read in blocks by `anomaly_scores`)


def write_scores(result: AnomalyResult, path: str | os.PathLike, *, names: Sequence[str] | None = None) -> Path:
    """A CSV with columns score, anomaly (0/1) and, when known, label (0/1); with `names` (an image folder's files)
    a first column, path."""
    from aekit.io import atomic_write_text

    head = ["score", "anomaly"] + (["label"] if result.labels is not None else [])
    cols = [result.scores, result.flags] + ([result.labels] if result.labels is not None else [])
    lines = [",".join(head)] + [",".join([f"{row[0]:.8g}", *(str(int(v)) for v in row[1:])]) for row in zip(*cols)]
    if names is not None:
        if len(names) != len(result.scores):
            raise DataError(f"{len(names)} names for {len(result.scores)} scores; pass one name per row")
        lines = [f"{cell},{line}" for cell, line in zip(_csv_cells(["path", *names]), lines)]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def _csv_cells(values: Sequence[str]) -> list[str]:
    """Each value as one CSV cell (quoted where it holds a comma, a quote or a line break)."""
    import csv
    import io

    out = []
    for v in values:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow([v])
        out.append(buf.getvalue())
    return out


# --------------------------------------------------------------------------- the anomaly recipe
MIN_STEPS = 300  # gradient steps the recipe takes at least, however few the normal rows


@dataclass
class Detector:
    """A model trained on normal rows and the codes of those rows: the anomaly recipe (`fit_detector`).

    ``score="code"``: a row's mean distance, in code space, to its `k` nearest normal rows (the recipe's score for
    images, where a conv encoder's pooled features make the neighbours tolerant of small shifts). ``"combined"``:
    that distance plus the reconstruction error, each as a z-score against the normal rows' own (the recipe's score
    for other tables)."""

    model: Autoencoder
    codes: np.ndarray  # (n, encoding_dim) codes of the normal training rows
    score_kind: str = "code"  # 'code' or 'combined'
    k: int = 5
    norm: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0)  # median and sd of the normal rows' two scores

    def distances(self, x: Any, *, leave_one_out: bool = False) -> np.ndarray:
        """Mean distance of each row's code to its `k` nearest normal codes (a normal row itself left out)."""
        from sklearn.neighbors import NearestNeighbors

        k = min(self.k + leave_one_out, len(self.codes))
        d = NearestNeighbors(n_neighbors=k).fit(self.codes).kneighbors(_codes(self.model, x))[0]
        return d[:, int(leave_one_out) :].mean(axis=1)

    def score(self, x: Any) -> np.ndarray:
        """Anomaly scores of rows `x` (higher is more anomalous)."""
        code = self.distances(x)
        if self.score_kind == "code":
            return code
        mc, sc, mr, sr = self.norm
        return (code - mc) / sc + (anomaly_scores(self.model, x) - mr) / sr


def _codes(model: Autoencoder, x: Any) -> np.ndarray:
    rows = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    return model.encode(rows)


def fit_detector(
    x: Any, *, image_shape: tuple[int, int, int] | None = None, seed: int = 0, **explicit: Any
) -> Detector:
    """Train the anomaly recipe (the kind 'anomaly') on normal rows `x` and keep their codes for scoring.

    Images (`image_shape`, or a square row length) get a conv autoencoder scored in code space; other tables a dense
    one scored by code distance and reconstruction error together. Rows outside [0, 1] are trained with the MSE loss and
    a linear output. `explicit` fields override the kind's presets (``epochs=5``)."""
    from aekit.config import replace
    from aekit.data.rows import as_rows
    from aekit.kinds import configure
    from aekit.training.loop import fit

    rows = as_rows(x, "x")
    unit = float(rows.min()) >= 0 and float(rows.max()) <= 1
    fields = {"input_dim": rows.shape[1], "seed": seed}
    if not unit:
        fields.update(loss="mse", output_activation="linear")
    if image_shape is not None:
        fields["image_shape"] = tuple(image_shape)
    model_cfg, train_cfg = configure("anomaly", **{**fields, **explicit})
    if "epochs" not in explicit:  # small tables: enough epochs for at least MIN_STEPS gradient steps
        steps = -(-len(rows) // train_cfg.batch_size)
        train_cfg = replace(train_cfg, epochs=max(train_cfg.epochs, -(-MIN_STEPS // steps)))
    model = Autoencoder(model_cfg)
    fit(model, rows, config=train_cfg, verbose=0)
    model.eval()
    det = Detector(model, _codes(model, rows), "code" if model_cfg.architecture == "conv" else "combined")
    if det.score_kind == "combined":  # z-scores against the normal rows' own (a sample of at most 2,000)
        sample = rows[np.linspace(0, len(rows) - 1, min(len(rows), 2000)).astype(int)]
        c, r = det.distances(sample, leave_one_out=True), anomaly_scores(model, sample)
        det.norm = (float(np.median(c)), float(np.std(c)) or 1.0, float(np.median(r)), float(np.std(r)) or 1.0)
    return det


__all__ = [
    "Detector",
    "fit_detector",
    "anomaly",
    "anomaly_scores",
    "threshold_from",
    "binary_labels",
    "roc_auc",
    "AnomalyResult",
    "write_scores",
    "validation_rows",
    "SCORES",
]
