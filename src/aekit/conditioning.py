"""Label conditioning (the conditional VAE, kind `cvae`): ``ModelConfig.n_classes`` > 0 joins a label's one-hot to
the encoder's input and to the decoder's input (dense models).

The labels of the rows at hand sit in the model's `LabelSlot` (``model.labels``) while the encoder and decoder run:
``with model.conditioned(labels): …`` around any use, ``model.encode(x, labels=…)`` for one call, or, in training,
`Batches` filling it batch by batch. A `JoinLabels` layer at the head of the encoder and of the decoder reads it, so
that every path through the network (the loss terms, the likelihood, sampling) needs no label argument of its own.
A conditional model run without labels is refused in one line.

>>> slot = LabelSlot(3)
>>> with slot.holding([2, 0]):
...     JoinLabels(slot)(torch.zeros(2, 1)).tolist()
[[0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]]
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from aekit.errors import DataError, option


def one_hot(labels: Any, n_classes: int, what: str = "labels") -> torch.Tensor:
    """Whole-number labels 0 … n_classes − 1 as float32 one-hot rows (n, n_classes); a one-hot tensor passes."""
    if isinstance(labels, torch.Tensor) and labels.ndim == 2 and labels.shape[1] == n_classes:
        return labels.float()
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    y = y.reshape(-1)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu" or y.dtype == bool:
        raise DataError(
            f"{what} must be whole-number class indices 0…{n_classes - 1}, got dtype {y.dtype}; "
            "map class names to indices first"
        )
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        raise DataError(
            f"label {int(y[bad][0])} is outside this model's classes 0…{n_classes - 1}; "
            f"pass labels in 0…{n_classes - 1}"
        )
    return torch.nn.functional.one_hot(torch.from_numpy(y.astype(np.int64)), n_classes).float()


def count_classes(labels: Any, classes: list | None = None) -> int:
    """The number of classes of a data set's labels: its class names, else the largest label + 1."""
    if classes:
        return len(classes)
    y = np.asarray(labels).reshape(-1)
    if y.dtype.kind not in "iu" or len(y) == 0 or y.min() < 0:
        raise DataError("the data's labels are not whole-number class indices ≥ 0; a cvae needs class indices")
    return int(y.max()) + 1


class LabelSlot:
    """The one-hot labels (n, n_classes) of the rows the model is working on, or None (a plain Python object, not a
    module: it holds no weights and is not saved)."""

    def __init__(self, n_classes: int) -> None:
        self.n_classes = n_classes
        self.onehot: torch.Tensor | None = None
        self.stream: torch.Tensor | None = None  # labels of a sequence of rows met in blocks (`holding(stream=True)`)
        self.cursor = 0

    def set(self, labels: Any) -> None:
        self.onehot = None if labels is None else one_hot(labels, self.n_classes)

    def labels_for(self, rows: int, encoder: bool) -> torch.Tensor | None:
        """The one-hot labels for `rows` rows entering the encoder (`encoder`) or the decoder: those held, or in a
        stream the next `rows` for the encoder (from the stream's start again when they would run past its end),
        and for the decoder the block the encoder took last."""
        if self.stream is not None and encoder:
            if self.cursor + rows > len(self.stream):
                self.cursor = 0
            self.onehot = self.stream[self.cursor : self.cursor + rows]
            self.cursor += rows
        return self.onehot

    def first(self, n: int) -> None:
        """Keep the stream's first `n` labels: the rows of the pass are the first `n` of those it was given."""
        if self.stream is not None:
            self.stream, self.cursor = self.stream[:n], 0

    @contextlib.contextmanager
    def holding(self, labels: Any, stream: bool = False) -> Iterator[None]:
        """The slot holds `labels` (None: leaves it as it is) within the block, and what it held before after it.
        With `stream`, the labels are those of rows that the encoder meets in order, block by block, from the first
        (as a report's figures and a run's metrics read the evaluation rows); the decoder then uses the block's."""
        before = self.onehot, self.stream, self.cursor
        if labels is not None and stream:
            self.onehot, self.stream, self.cursor = None, one_hot(labels, self.n_classes), 0
        elif labels is not None:
            self.set(labels)
            self.stream = None
        try:
            yield
        finally:
            self.onehot, self.stream, self.cursor = before


class JoinLabels(nn.Module):
    """Concatenates the slot's one-hot labels to its input rows (repeated when the rows are k draws per label row,
    as the importance-weighted bound's are)."""

    def __init__(self, slot: LabelSlot, encoder: bool = True) -> None:
        super().__init__()
        self.slot, self.encoder = slot, encoder

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        y = self.slot.labels_for(h.shape[0], self.encoder)
        if y is None:
            raise DataError(
                f"this model is conditioned on {self.slot.n_classes} class labels (a cvae); pass the rows' labels "
                f"({option('labels')}, or the data set's own labels)"
            )
        if y.shape[0] != h.shape[0]:
            if y.shape[0] == 0 or h.shape[0] % y.shape[0]:
                raise DataError(f"{y.shape[0]} labels for {h.shape[0]} rows; pass one label per row")
            y = y.repeat(h.shape[0] // y.shape[0], 1)
        return torch.cat([h, y.to(h.device, h.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"n_classes={self.slot.n_classes}"


def cycling_labels(n: int, n_classes: int, label: int | None = None) -> np.ndarray:
    """`n` labels: all `label`, or 0, 1, …, n_classes − 1, 0, 1, … (one of each class in turn)."""
    if label is None:
        return np.arange(n) % n_classes
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < n_classes:
        raise DataError(f"label {label!r} is outside this model's classes 0…{n_classes - 1}; pass one of them")
    return np.full(n, int(label))


__all__ = ["one_hot", "count_classes", "LabelSlot", "JoinLabels", "cycling_labels"]
