"""The scores behind `aekit anomaly`: a row's reconstruction error (`anomaly_scores`), and the anomaly recipe's
`Detector` (`fit_detector` trains it on normal rows; `run_detector` builds it from a run trained with
``--recipe anomaly``), which also scores a row by how far its code lies from the codes of normal rows.

Each of the detector's terms is standardised on held-out normal rows (the median and standard deviation of their
scores), so that terms in different units add up, and so that several models' scores average (an ensemble).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from aekit.data.rows import _unit_range, place_rows
from aekit.devices import device_of
from aekit.errors import ConfigError, DataError, option
from aekit.models import Autoencoder
from aekit.uses.inputs import as_input, load_any_model

SCORES = ("mse", "bce")
TERMS = ("code", "reconstruction")  # local outlier factor among the normal codes; the scaled reconstruction error
MEMBERS = {"conv": 1, "dense": 3}  # models a detector averages by default: a small table's are cheap
MAX_NORMAL = 10_000  # normal rows whose codes a detector keeps at most (an even sample of more)
MAX_NORM_ROWS = 2_000  # normal rows that standardise the terms at most
SCALE_FLOOR = 1.0  # a feature's error scale is at least this fraction of the median feature's


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
    out = np.empty(xt.shape[0], dtype=np.float64)  # filled in place: a list of small results kept the heap growing
    for start, xb, rb in _reconstructions(model, xt, batch_size):
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


def _reconstructions(model: Autoencoder, xt: Any, batch_size: int):
    """(first row, rows, their reconstructions) of `xt` a block at a time, in the network's units."""
    model._check_scaler()
    for start, xb in place_rows(xt, device_of(model), 0).blocks(batch_size):
        xb = model.scale_rows(xb)  # the network's units
        yield start, xb, model.reconstruct_net(xb)


@torch.no_grad()
def feature_errors(model: Autoencoder | str | os.PathLike, x: Any, *, batch_size: int = 4096) -> np.ndarray:
    """Absolute reconstruction error of each feature of each row of `x`, shape (n, features), in the network's
    units."""
    model, _ = load_any_model(model, None)
    xt = as_input(model, x, keep_memmap=True)
    out = np.empty(tuple(xt.shape[:1]) + (model.config.input_dim,), dtype=np.float32)
    for start, xb, rb in _reconstructions(model, xt, batch_size):
        out[start : start + len(rb)] = (rb - xb).abs().reshape(len(rb), -1).cpu().numpy()
    return out


@torch.no_grad()
def scaled_errors(model: Autoencoder, x: Any, scale: np.ndarray, *, batch_size: int = 4096) -> np.ndarray:
    """Each row's mean over features of its absolute reconstruction error divided by that feature's `scale` (the
    table recipe's reconstruction term: a feature that normal rows reconstruct poorly counts less), shape (n,)."""
    xt = as_input(model, x, keep_memmap=True)
    out = np.empty(xt.shape[0], dtype=np.float64)
    weight = torch.as_tensor(1.0 / scale, dtype=torch.float32, device=device_of(model))
    for start, xb, rb in _reconstructions(model, xt, batch_size):
        out[start : start + len(rb)] = ((rb - xb).abs().reshape(len(rb), -1) * weight).mean(dim=1).cpu().numpy()
    return out


def error_scale(errors: np.ndarray) -> np.ndarray:
    """Per feature, the mean absolute error of normal rows `errors` (n, features), raised to at least SCALE_FLOOR
    times the median feature's: features that normal rows reconstruct poorly (noisy ones) are weighed down, the
    others weigh the same (weighing up the closely reconstructed ones lost on development seeds; docs/uses.md)."""
    scale = errors.astype(np.float64).mean(axis=0)
    return np.maximum(scale, SCALE_FLOOR * float(np.median(scale)) + 1e-12)


@dataclass
class Detector:
    """Models trained on normal rows, the codes of those rows, and how each term is standardised: the anomaly recipe.

    A row's score is, averaged over `models`, the sum of its `terms`, each a z-score against held-out normal rows:
    ``"code"``, the local outlier factor of the row's code among the normal codes (`k` neighbours: how much farther
    the code lies from its nearest normal codes than they lie from theirs; images: a conv encoder's pooled features
    make the neighbours tolerant of small shifts); ``"reconstruction"``, its absolute reconstruction error per feature,
    each feature's divided by its `scale` (its mean on held-out normal rows, at least the median feature's), averaged
    over the features."""

    models: list[Autoencoder]
    codes: list[np.ndarray]  # per model: (n, encoding_dim) codes of the normal training rows
    terms: tuple[str, ...] = ("code",)
    k: int = 20
    norm: list[dict[str, tuple[float, float]]] = field(default_factory=list)  # per model: term -> (median, sd)
    scale: list[np.ndarray] = field(default_factory=list)  # per model: each feature's error scale (reconstruction)
    _lof: dict[int, Any] = field(default_factory=dict, repr=False)  # per model: the fitted LocalOutlierFactor

    @property
    def model(self) -> Autoencoder:
        return self.models[0]

    def outlier_factors(self, x: Any, member: int = 0) -> np.ndarray:
        """Local outlier factor of each row's code among the normal codes of model `member` (about 1 inside the
        normal rows' cloud, larger outside it); `x` None: the factors of the normal rows themselves, each left out
        of its own neighbours."""
        if member not in self._lof:
            from sklearn.neighbors import LocalOutlierFactor

            k = min(self.k, len(self.codes[member]) - 1)
            self._lof[member] = LocalOutlierFactor(n_neighbors=k, novelty=True).fit(self.codes[member])
        lof = self._lof[member]
        own = lof.negative_outlier_factor_ if x is None else lof.score_samples(_codes(self.models[member], x))
        return -own.astype(np.float64)

    def raw_terms(self, x: Any, member: int = 0, *, leave_one_out: bool = False) -> dict[str, np.ndarray]:
        """Each term's unstandardised score of rows `x` by model `member` (`leave_one_out`: `x` are the training rows;
        the code term is then each normal code's own factor, the code left out of its neighbours)."""
        out = {}
        for term in self.terms:
            if term == "code":
                out[term] = self.outlier_factors(None if leave_one_out else x, member)
            elif self.scale:
                out[term] = scaled_errors(self.models[member], x, self.scale[member])
            else:
                raise ConfigError("the reconstruction term needs each feature's error scale: call standardise_on first")
        return out

    def standardise_on(self, normal: Any, *, leave_one_out: bool = False) -> Detector:
        """Set each feature's error scale and each term's median and sd from normal rows `normal` (held out from
        training; with `leave_one_out`, the training rows: each row's own code is left out of its neighbours)."""
        normal = _even_sample(normal, MAX_NORM_ROWS)
        self.norm = []
        if "reconstruction" in self.terms:
            self.scale = [error_scale(feature_errors(m, normal)) for m in self.models]
        for i in range(len(self.models)):
            raw = self.raw_terms(normal, i, leave_one_out=leave_one_out)
            self.norm.append({t: (float(np.median(v)), float(np.std(v)) or 1.0) for t, v in raw.items()})
        return self

    def score(self, x: Any) -> np.ndarray:
        """Anomaly scores of rows `x` (higher is more anomalous)."""
        total = None
        for i in range(len(self.models)):
            for term, v in self.raw_terms(x, i).items():
                mid, sd = self.norm[i][term] if self.norm else (0.0, 1.0)
                z = (v - mid) / sd
                total = z if total is None else total + z
        return total / len(self.models)


def _even_sample(x: Any, n: int) -> Any:
    """At most `n` rows of `x`, evenly spaced (all of them when there are fewer)."""
    if len(x) <= n:
        return x
    return x[np.linspace(0, len(x) - 1, n).astype(int)]


def _codes(model: Autoencoder, x: Any) -> np.ndarray:
    from aekit.uses.encoding import encode

    return encode(model, x).astype(np.float32)


def _terms_for(model: Autoencoder) -> tuple[str, ...]:
    """The recipe's terms: the codes' local outlier factor for a conv model (images), the reconstruction error
    otherwise (on small tables it beat the code term and the two together on development seeds; docs/uses.md)."""
    return ("code",) if model.config.architecture == "conv" else ("reconstruction",)


def fit_detector(
    x: Any,
    *,
    validation: Any = None,
    val_split: float = 0.2,
    members: int | None = None,
    image_shape: tuple[int, int, int] | None = None,
    seed: int = 0,
    **explicit: Any,
) -> Detector:
    """Train the anomaly recipe (the kind 'anomaly') on normal rows `x` and keep their codes for scoring.

    Images (`image_shape`, or a square row length of values in [0, 1]) get a conv autoencoder scored in code space;
    other tables a dense one scored by reconstruction error. Rows outside [0, 1] are trained with the MSE loss and a
    linear output. The terms are standardised on `validation` (normal rows not trained on), by default a seeded
    `val_split` of `x` held out from training. `members` models with seeds ``seed, seed + 1, …`` are averaged (an
    ensemble; default MEMBERS: 1 conv, 3 dense). `explicit` fields override the kind's presets (``epochs=5``)."""
    from aekit.data.rows import as_rows
    from aekit.kinds import configure
    from aekit.training.loop import fit

    if members is not None and members < 1:
        raise ConfigError(f"{option('members')} must be at least 1, got {members}")
    rows = as_rows(x, "x").numpy()
    if validation is None:
        if not 0 < val_split < 1:
            raise ConfigError(f"{option('val_split')} must lie strictly between 0 and 1, got {val_split}")
        order = np.random.default_rng(seed).permutation(len(rows))
        n_val = max(1, int(round(val_split * len(rows))))
        if len(rows) - n_val < 2:
            raise DataError(f"{len(rows)} normal rows are too few to hold out validation rows; pass more rows")
        rows, validation = rows[np.sort(order[n_val:])], rows[np.sort(order[:n_val])]
    else:
        validation = as_rows(validation, "validation").numpy()
    unit = float(rows.min()) >= 0 and float(rows.max()) <= 1
    fields = {"input_dim": rows.shape[1]}
    if not unit:  # and not images (they lie in [0, 1]): a square row length (9 columns: 3×3) is a table
        fields.update(loss="mse", output_activation="linear", architecture="conv" if image_shape else "dense")
    if image_shape is not None:
        fields["image_shape"] = tuple(image_shape)
    models: list[Autoencoder] = []
    while len(models) < (members or 1):
        model_cfg, train_cfg = configure("anomaly", **{**fields, "seed": seed + len(models), **explicit})
        train_cfg = train_cfg.for_rows(len(rows))  # small tables: epochs for the recipe's least number of steps
        model = Autoencoder(model_cfg)
        fit(model, rows, config=train_cfg, verbose=0)
        models.append(model.eval())
        members = members or MEMBERS[model_cfg.architecture]
    det = Detector(models, [_codes(m, rows) for m in models], _terms_for(models[0]))
    return det.standardise_on(validation)


def run_detector(
    run: str | os.PathLike, *, device: str | torch.device | None = None, terms: tuple[str, ...] | None = None
) -> Detector:
    """The anomaly recipe's detector of a run folder: its model, the codes of its training rows (an even sample of
    at most MAX_NORMAL), the terms standardised on its validation rows (or, without any, on its training rows with
    each row left out of its own neighbours). `terms` default to the recipe's for the model."""
    from aekit.data.sources import recorded_run_data

    model, config = load_any_model(run, device)
    data = config.get("data") or {}
    if not data:
        raise ConfigError(
            f"{run}: the recipe score needs the run's training rows, read from its config.json; pass a run folder "
            f"(or score by reconstruction error: {option('score')} mse)"
        )
    rd = recorded_run_data(data, int((config.get("train") or {}).get("seed", 0)))
    normal = _even_sample(rd.x_train, MAX_NORMAL)
    terms = tuple(terms or _terms_for(model))
    det = Detector([model], [_codes(model, normal)], terms)
    if rd.x_val is not None and len(rd.x_val):
        return det.standardise_on(rd.x_val)
    return det.standardise_on(normal, leave_one_out=True)


__all__ = [
    "Detector",
    "fit_detector",
    "run_detector",
    "anomaly_scores",
    "feature_errors",
    "scaled_errors",
    "error_scale",
    "SCORES",
    "TERMS",
    "MAX_NORMAL",
]
