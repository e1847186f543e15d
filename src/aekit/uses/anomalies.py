"""Anomaly scoring (`aekit anomaly`): a row unlike the normal rows a model was trained on scores high.

The score of a row (``score=``):

- ``"auto"`` (the default): ``"recipe"`` for a run trained with the anomaly recipe (``aekit train --recipe
  anomaly``, the kind 'anomaly' in its config.json), else ``"mse"``;
- ``"recipe"``: the anomaly recipe's score (`aekit.uses.detector.run_detector`): for a conv model (images) the local
  outlier factor of the row's code among the codes of the run's training rows, for a dense one (tables) its
  reconstruction error, each feature's divided by its scale on the run's validation rows; standardised on them;
- ``"mse"`` / ``"bce"``: the reconstruction error, mean squared error over the features (any data range) or mean
  binary cross-entropy (data in [0, 1]), in the network's units (for a model with an input scaler, the scaled rows).

A row is flagged when its score is above a threshold, set either by a contamination rate (the top fraction of the
scored rows) or by a quantile of reference scores (normal rows: the run's validation data by default).
With labels (1 = anomaly, or a set of labels named normal) the ROC-AUC of the scores is reported.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from aekit.config_checks import positive_int
from aekit.errors import AekitWarning, ConfigError, DataError, option
from aekit.models import Autoencoder
from aekit.uses.detector import SCORES, Detector, anomaly_scores, fit_detector, run_detector
from aekit.uses.inputs import load_any_model

SCORE_CHOICES = ("auto", "recipe", *SCORES)  # what `anomaly(score=...)` and `aekit anomaly --score` take
MIN_REFERENCE = 20  # reference rows below which a quantile threshold is one or two rows' scores: a warning


def threshold_from(
    scores: Any, *, contamination: float | None = None, reference: Any = None, quantile: float | None = None
) -> float:
    """The score above which a row is flagged.

    ``contamination=c``: the (1 − c) quantile of `scores` itself, so about a fraction c is flagged.
    ``quantile=q``: the q quantile of `reference` (scores of normal rows).
    """
    if (contamination is None) == (quantile is None):
        raise ConfigError(
            f"give exactly one of {option('contamination')} (a rate) or {option('quantile')} (of reference scores)"
        )
    if contamination is not None:
        if not 0 < contamination < 1:
            raise ConfigError(f"{option('contamination')} must lie strictly between 0 and 1, got {contamination}")
        return float(np.quantile(np.asarray(scores), 1 - contamination))
    if not 0 < quantile <= 1:
        raise ConfigError(f"{option('quantile')} must lie in (0, 1], got {quantile}")
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
        anomalous = (~np.isin(y, np.asarray(list(normal), dtype=y.dtype))).astype(np.int64)
        if y.size and anomalous.all():  # every row an anomaly: a typo or a label from another data set
            shown = ", ".join(map(str, np.unique(y)[:10].tolist())) + (", …" if np.unique(y).size > 10 else "")
            raise DataError(
                f"no row has the normal label(s) {', '.join(map(str, normal))}: every row would count as an anomaly; "
                f"these rows' labels are {shown}, so name one of them ({option('normal')})"
            )
        return anomalous
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
    scores: np.ndarray  # (n,) score per row: reconstruction error, or the recipe's score
    threshold: float
    flags: np.ndarray  # (n,) 1 where score > threshold
    rule: str  # how the threshold was set, e.g. 'contamination 0.05' or 'quantile 0.99 of 1000 reference rows'
    labels: np.ndarray | None  # (n,) 0/1 anomaly labels when given
    roc_auc: float | None  # when labels hold both classes
    score: str = "mse"  # what the scores are: 'recipe' (the anomaly recipe's), 'mse' or 'bce'

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
            ("score", self.score),
            ("rule", self.rule),
            ("flagged", f"{self.n_flagged:,} ({self.n_flagged / max(n, 1):.1%})"),
            ("median score", float(np.median(self.scores)) if n else float("nan")),
        ]
        if self.labels is not None:
            rows.append(("labelled anomalies", int(self.labels.sum())))
            rows.append(("ROC-AUC", "n/a (one class)" if self.roc_auc is None else float(self.roc_auc)))
        return table(rows, caption="Anomaly scores")


def anomaly(
    model: Autoencoder | Detector | str | os.PathLike,
    x: Any,
    *,
    reference: Any = None,
    contamination: float | None = None,
    quantile: float | None = None,
    labels: Any = None,
    normal: Sequence[Any] | None = None,
    score: str = "auto",
    batch_size: int = 4096,
    device: str | torch.device | None = None,
) -> AnomalyResult:
    """Score rows `x`, flag those above a threshold, and give the ROC-AUC when `labels` are known.

    `model`: a run folder, a .safetensors file, an Autoencoder, or a `Detector` (from `fit_detector`: scored by it).
    `score`: 'auto' (the recipe's score for a run trained with ``--recipe anomaly``, else 'mse'), 'recipe',
    'mse' or 'bce' (module docstring). Threshold: `contamination` (a rate), or `quantile` of the scores of
    `reference` rows (default 0.99 when neither is given; `reference` defaults to the run's validation rows when
    `model` is a run folder). `labels` are 0/1 (1 = anomaly), or any labels with `normal` naming the normal ones.
    `device` runs the model (default None: where it is, the CPU for a file).
    """
    if score not in SCORE_CHOICES:
        raise ConfigError(f"unknown score {score!r}; choose one of: {', '.join(SCORE_CHOICES)}")
    positive_int("batch_size", batch_size)  # as encode's and denoise's (2.5 was a TypeError, -1 the default)
    if normal is not None and labels is None:  # it only turns labels into 0/1: without labels it would do nothing
        raise ConfigError(
            f"{option('normal')} names the labels of the normal rows, but these rows have no labels; pass "
            f"{option('labels')} (one label per row) or rows that bring their own, or drop {option('normal')}"
        )
    if isinstance(model, Detector):
        det, config, score = model, {}, "recipe"
    else:
        model_obj, config = load_any_model(model, device)
        if score == "auto":
            score = "recipe" if config.get("kind") == "anomaly" else "mse"
        if score == "recipe" and not config:
            raise ConfigError(
                f"the recipe score needs a run folder (its training rows) or a Detector (fit_detector); "
                f"pass one, or {option('score')} mse"
            )
        det = run_detector(model, device=device) if score == "recipe" else None
    if det is not None:
        scorer = det.score
    else:
        scorer = lambda rows: anomaly_scores(model_obj, rows, score=score, batch_size=batch_size)  # noqa: E731
    scores = scorer(x)
    if contamination is None and quantile is None:
        quantile = 0.99
    ref_scores = None
    if contamination is None:
        if reference is None and config:
            reference = validation_rows(config)
        if reference is not None:
            ref_scores = scorer(reference)
    threshold = threshold_from(scores, contamination=contamination, reference=ref_scores, quantile=quantile)
    if contamination is None:
        n_ref = len(ref_scores)
        rule = f"quantile {quantile:g} of {n_ref} reference row{'s' * (n_ref != 1)}"
        if n_ref < MIN_REFERENCE:  # 6 normal rows held out 1: its score was the threshold, half the normal rows flagged
            warnings.warn(
                f"the threshold is the {quantile:g} quantile of the scores of only {n_ref} reference "
                f"row{'s' * (n_ref != 1)}, so it is unreliable (normal rows may be flagged); pass at least "
                f"{MIN_REFERENCE} normal rows ({option('reference')}, or train on more), or flag a fraction of the "
                f"rows instead ({option('contamination')})",
                AekitWarning,
                stacklevel=2,
            )
    else:
        rule = f"contamination {contamination:g}"
    y = None if labels is None else binary_labels(labels, normal)
    if y is not None and len(y) != len(scores):
        raise DataError(f"{len(y)} labels for {len(scores)} rows; pass one label per row")
    auc = None if y is None else roc_auc(y, scores)
    return AnomalyResult(scores, threshold, (scores > threshold).astype(np.int64), rule, y, auc, score)


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

    if Path(path).suffix.lower() != ".csv":
        raise DataError(f"{path}: the scores are written as CSV; name the output .csv")
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


__all__ = [
    "Detector",
    "fit_detector",
    "run_detector",
    "SCORE_CHOICES",
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
