"""The callback family's base: `Callback` (the hooks `fit` calls), `TrainState` (what `fit` mutates) and
Keras' `History`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
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
    generator: torch.Generator  # drives shuffling and corruption; lives on the training device
    history: History
    epoch: int = 0  # epochs completed
    step: int = 0  # gradient steps completed in total
    steps_per_epoch: int = 0
    stop_training: bool = False
    gradients: str = ""  # how fit's steps take the gradients: "analytic" (closed form) or "autograd"
    extra: dict[str, Any] = field(default_factory=dict)  # room for callbacks' own state

    def to(self, device: torch.device) -> TrainState:
        """Move the model, the optimizer's state and the generator to `device` (a checkpoint loads on the CPU).

        A generator moves with its state between devices of one kind (cuda:0 to cuda:1). Between kinds (CPU and
        CUDA) a generator's state means nothing to the other, so the new one is seeded from (seed, epoch): a run
        resumed on another kind of device shuffles and corrupts reproducibly, but not as the interrupted run would
        have. On the device it ran on, a resumed run is bitwise the uninterrupted one. Each callback moves what it
        keeps in `extra`. Nothing moves that is already there.
        """
        self.model.to(device)
        moves_step = any(g.get("fused") or g.get("capturable") for g in self.optimizer.param_groups)
        stale = any(
            isinstance(v, torch.Tensor) and v.device != p.device and (k != "step" or moves_step)
            for p, s in self.optimizer.state.items()
            for k, v in s.items()
        )
        if stale:  # load_state_dict puts each state tensor where its parameter is (a plain "step" stays on the CPU)
            self.optimizer.load_state_dict(self.optimizer.state_dict())
        if self.generator.device != device:
            old, self.generator = self.generator, torch.Generator(device)
            if old.device.type == device.type:
                self.generator.set_state(old.get_state())
            else:
                self.generator.manual_seed(seed_of(self.config.seed, self.epoch))
        return self


def seed_of(seed: int, epoch: int) -> int:
    """The seed of a generator started anew at `epoch` of a run seeded with `seed` (another kind of device)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


class Callback:
    """No-op hooks; subclass and override the ones you need. Per epoch `fit` calls on_epoch_begin, then for each
    step on_step_end and on_batch_end, then on_validation_begin and on_epoch_end."""

    def on_train_begin(self, state: TrainState) -> None: ...
    def on_epoch_begin(self, state: TrainState) -> None: ...

    def on_step_end(self, state: TrainState) -> None:
        """Right after each optimizer step (``state.step`` counts it), before any on_batch_end: for what must follow
        the weights step by step (the moving average)."""

    def on_batch_end(self, state: TrainState, batch: int, logs: dict[str, float]) -> None:
        """After each step. ``logs["loss"]`` is the batch's loss; reading it waits for the device (a GPU runs ahead
        of Python), so read it rarely (the progress bar reads one in 20)."""

    def on_validation_begin(self, state: TrainState) -> None:
        """After the epoch's last step, before validation (with or without validation data) and on_epoch_end; also
        when a step raised, before the error goes on, so that the model is left as `fit` leaves it."""

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...

    def on_run_end(self, path: Path, metrics: dict[str, float]) -> None:
        """Called by `aekit.train` / `aekit.resume` (not by `fit`) once the run folder at `path` is complete."""
