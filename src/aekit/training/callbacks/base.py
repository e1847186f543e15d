"""The callback family's base: `Callback` (the hooks `fit` calls), `TrainState` (what `fit` mutates) and
Keras' `History`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aekit.config import TrainConfig
from aekit.history import History
from aekit.models import Autoencoder


@dataclass
class TrainState:
    """Everything `fit` mutates; callbacks read it (and may set `stop_training`)."""

    model: Autoencoder
    optimizer: Any  # aekit.training.optimizers or any torch.optim.Optimizer (the same interface)
    config: TrainConfig
    generator: torch.Generator  # drives shuffling and corruption
    history: History
    epoch: int = 0  # epochs completed
    step: int = 0  # gradient steps completed in total
    steps_per_epoch: int = 0
    stop_training: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # room for callbacks' own state


class Callback:
    """No-op hooks; subclass and override the ones you need."""

    def on_train_begin(self, state: TrainState) -> None: ...
    def on_epoch_begin(self, state: TrainState) -> None: ...
    def on_batch_end(self, state: TrainState, batch: int, logs: dict[str, float]) -> None: ...
    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...

    def on_run_end(self, path: Path, metrics: dict[str, float]) -> None:
        """Called by `aekit.train` / `aekit.resume` (not by `fit`) once the run folder at `path` is complete."""
