"""The labels of a run's rows for a conditional model (kind cvae): `aekit.train` counts the data's classes into the
model config, trains on the labels (`fit`'s ``labels``) and holds them while it measures and draws the run's files.

A named image set brings its labels (MNIST's digits), an image folder its class sub-folders; a table has none, and a
cvae on one is refused in one line.
"""

from __future__ import annotations

from aekit.conditioning import count_classes
from aekit.config import ModelConfig, replace
from aekit.data.sources import RunData
from aekit.errors import ConfigError, option


def with_classes(model_config: ModelConfig, rd: RunData) -> ModelConfig:
    """`model_config` with ``n_classes`` set to the data's number of classes, for a conditional model."""
    if not model_config.n_classes:
        return model_config
    if rd.y_train is None:
        raise ConfigError(
            f"{option('kind', 'cvae')} trains on class labels, and {rd.name or 'this data'} has none; use a named "
            "data set (mnist, fashion-mnist) or a folder of images with one sub-folder per class"
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


__all__ = ["with_classes", "fit_labels", "evaluation_labels", "holding_evaluation_labels"]
