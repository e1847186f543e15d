"""Input scaling kept in the model: per-column statistics of the training rows, and the scaler they give.

A model built with ``ModelConfig(scale="standard")`` or ``"minmax"`` holds two buffers, ``input_offset`` and
``input_scale``, saved in its model file: the network sees ``(x - offset) / scale``, and every use (encode,
reconstruct, anomaly, the ONNX graphs, the scikit-learn transformer) takes and returns rows in the user's units.
``scale="auto"`` (the default of `aekit.train` and ``aekit train``) is decided from the training rows: none when
every value lies in [0, 1] (images: the Keras tutorial's path, unchanged), else standard.

- standard: offset the column's mean, scale its standard deviation (population, as scikit-learn's StandardScaler);
- minmax: offset the column's minimum, scale its range, over the training and validation rows (both in [0, 1]);
- a constant column (min = max) keeps scale 1, so nothing is divided by zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aekit.errors import ConfigError

SCALES = ("auto", "standard", "minmax", "none")  # what train() accepts; a model stores one of the last three


@dataclass
class ColumnStats:
    """Count, mean, sum of squared deviations, min and max of each column (float64), merged block by block."""

    n: int
    mean: np.ndarray
    m2: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def of(cls, block: np.ndarray) -> "ColumnStats":
        b = np.asarray(block, dtype=np.float64)
        mean = b.mean(axis=0)
        return cls(len(b), mean, ((b - mean) ** 2).sum(axis=0), b.min(axis=0), b.max(axis=0))

    def merge(self, other: "ColumnStats") -> "ColumnStats":
        """Both blocks' statistics (Chan et al.'s pairwise update: no loss of precision on large means)."""
        n = self.n + other.n
        delta = other.mean - self.mean
        return ColumnStats(
            n,
            self.mean + delta * other.n / n,
            self.m2 + other.m2 + delta**2 * self.n * other.n / n,
            np.minimum(self.min, other.min),
            np.maximum(self.max, other.max),
        )

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / self.n)

    @property
    def in_unit_range(self) -> bool:
        return bool(self.min.min() >= 0 and self.max.max() <= 1)


def resolve_scale(scale: str, stats: ColumnStats | None, loss_given_bce: bool = False) -> str:
    """The scale a model stores: `scale` itself, or for 'auto' none when the rows lie in [0, 1] (or when no rows
    were scanned: a named image set) and standard otherwise, unless the caller chose the 'bce' loss, which then
    meets the data as they are (and says how to scale them)."""
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; choose one of: {', '.join(SCALES)}")
    if scale != "auto":
        return scale
    if stats is None or stats.in_unit_range or loss_given_bce:
        return "none"
    return "standard"


def scaler(scale: str, stats: ColumnStats) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) as float32 columns for 'standard' or 'minmax' from `stats`; constant columns get scale 1."""
    constant = stats.max <= stats.min
    if scale == "standard":
        offset, spread = stats.mean, stats.std
    elif scale == "minmax":
        offset, spread = stats.min, stats.max - stats.min
    else:
        raise ConfigError(f"no scaler for scale {scale!r}; choose standard or minmax")
    spread = np.where(constant | ~(spread > 0), 1.0, spread)
    return offset.astype(np.float32), spread.astype(np.float32)


__all__ = ["SCALES", "ColumnStats", "resolve_scale", "scaler"]
