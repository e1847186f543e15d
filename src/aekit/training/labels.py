"""The labels of the rows for a conditional model (kind cvae): `fit` checks them and places them as one-hot rows
(`label_rows`); `aekit.train` counts the data's classes into the model config, trains on the labels and holds them
while it measures and draws the run's files.

A named image set brings its labels (MNIST's digits), an image folder its class sub-folders; a table has none, and a
cvae on one is refused in one line.
"""

from __future__ import annotations

from typing import Any

import torch

from aekit.conditioning import count_classes, one_hot
from aekit.config import ModelConfig, replace
from aekit.data.sources import RunData
from aekit.errors import ConfigError, DataError, option


def with_classes(model_config: ModelConfig, rd: RunData) -> ModelConfig:
    """`model_config` with ``n_classes`` set to the data's number of classes, for a conditional model."""
    if not model_config.n_classes:
        return model_config
    if rd.y_train is None:
        raise ConfigError(
            f"{option('kind', 'cvae')} trains on class labels, and {rd.name or 'this data'} has none; use a named "
            "data set (mnist, fashion-mnist) or a folder of images with one sub-folder per class (every image in "
            "one: a single image directly in the folder leaves the whole folder without labels)"
        )
    classes = (rd.images or {}).get("classes")
    return replace(model_config, n_classes=count_classes(rd.y_train, classes))


def fit_labels(model, rd: RunData) -> dict:
    """`fit`'s keyword arguments for the run's labels: {} for a plain model."""
    if not model.conditional:
        return {}
    return {"labels": rd.y_train, "validation_labels": rd.y_val if rd.x_val is not None else None}


def evaluation_labels(model, rd: RunData):
    """The labels of the run's evaluation rows (the validation rows, else the training rows) for a conditional
    model; None for a plain one."""
    if not model.conditional:
        return None
    return rd.y_val if rd.x_val is not None else rd.y_train


def holding_evaluation_labels(model, rd: RunData):
    """A context holding `evaluation_labels` as a stream, for the run's metrics and figures (a plain model: none)."""
    return model.conditioned(evaluation_labels(model, rd), stream=True)


def label_rows(model, labels: Any, x: Any, device: torch.device) -> torch.Tensor | None:
    """A conditional model's labels of the rows `x` as one-hot rows (float32) on `device`;
    None for a plain model. Refused in one line: labels missing, out of range, or one per row not."""
    if x is None:
        return None
    x = x[0] if isinstance(x, tuple) else x
    if not model.conditional:
        if labels is not None:
            raise DataError(
                f"{option('labels')} were given but this model is not conditioned on labels; "
                f"drop them or train {option('kind', 'cvae')}"
            )
        return None
    if labels is None:
        raise DataError(
            f"this model is conditioned on {model.config.n_classes} class labels (a cvae) and trains on them; pass "
            f"{option('labels')} (one class index per row; `aekit train` takes a named data set's or an image "
            "folder's sub-folder labels)"
        )
    onehot = one_hot(labels, model.config.n_classes, option("labels"))
    if len(onehot) != x.shape[0]:
        raise DataError(f"{len(onehot)} labels for {x.shape[0]} rows; pass one label per row")
    return onehot.to(device)


def split_labels(labels: Any, validation_labels: Any, n: int) -> tuple[Any, Any]:
    """`validation_split`'s cut of the labels: the first `n` train, the rest validate."""
    if labels is None or validation_labels is not None:
        return labels, validation_labels
    return labels[:n], labels[n:]


def conditional_jacobian(model, xs: torch.Tensor, seed: int) -> dict:
    """A cvae's encoder Jacobian norm on the rows `xs`, each with its label (the first of the evaluation rows' labels
    held as a stream): Hutchinson's estimate, 8 projections, in one block."""
    from aekit.jacobians import jacobian_norm

    rows = len(xs)
    with model.labels.holding(model.labels.stream[:rows]):
        norm = jacobian_norm(model, xs, rows, method="hutchinson", projections=8, seed=seed)
    how = f"Hutchinson estimate, 8 random ±1 projections per row, {rows} rows with their labels"
    return {"jacobian_norm": norm, "jacobian_norm_method": how, "jacobian_rows": rows}


__all__ = [
    "conditional_jacobian",
    "label_rows",
    "split_labels",
    "with_classes",
    "fit_labels",
    "evaluation_labels",
    "holding_evaluation_labels",
]
