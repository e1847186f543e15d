"""Callbacks that keep or end a run: `Checkpoint` (the state after every epoch, the best model) and
`EarlyStopping` (Keras' rule)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from aekit.config import TrainConfig
from aekit.io import model_bytes
from aekit.training.callbacks.base import Callback, TrainState
from aekit.training.checkpoint import BEST, LAST, BackgroundWrites, _signals_deferred, checkpoint_bytes


def _monitored(logs: dict[str, float], monitor: str) -> tuple[str, float]:
    key = monitor if monitor in logs else "loss"
    return key, float(logs[key])


class Checkpoint(Callback):
    """Saves the training state after every epoch (``folder/last.safetensors``) and, with `keep_best`, the
    model of the epoch with the lowest `monitor` value (``folder/best.safetensors``, a model file).

    `monitor` falls back to ``loss`` when there is no validation data. Put it after any callback that
    changes the state at the end of an epoch (fit puts `EarlyStopping` first for this reason).
    Both files are written whole at the end of the epoch (a temporary name, renamed into place); their fsyncs,
    most of the cost, run in a thread of their own while the next epoch trains (`BackgroundWrites`).
    `wait()` (called at the end of training) returns once they are on the disk; `saved_epoch` is the epoch of
    the last checkpoint written.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        keep_best: bool = True,
        monitor: str = "val_loss",
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.folder, self.keep_best, self.monitor, self.meta = Path(folder), keep_best, monitor, meta
        self.saved_epoch: int | None = None  # the epoch of the last checkpoint this callback wrote
        self._writes = BackgroundWrites("aekit-checkpoint")

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        self.wait()  # the previous epoch's files are on the disk (a flush that failed raises here)
        files = []
        with _signals_deferred():  # Ctrl-C waits until the state and its bytes agree
            if self.keep_best:
                key, value = _monitored(logs, self.monitor)
                best = state.extra.get("checkpoint", {}).get("best")
                if math.isfinite(value) and (best is None or value < best):
                    state.extra["checkpoint"] = {"monitor": key, "best": value, "best_epoch": state.epoch}
                    files.append(
                        (self.folder / BEST, model_bytes(state.model, extra={"epoch": state.epoch, key: value}))
                    )
            files.append((self.folder / LAST, checkpoint_bytes(state, self.meta)))
            self._writes.submit(files, state.epoch)

    def on_train_end(self, state: TrainState) -> None:
        self.wait()

    def wait(self) -> int | None:
        """Wait until the files submitted are written; the epoch of the last checkpoint on disk."""
        written = self._writes.wait()
        if written is not None:
            self.saved_epoch = written
        return self.saved_epoch


class EarlyStopping(Callback):
    """Stops when `monitor` (``val_loss``, else ``loss``) has not improved by more than `min_delta` for
    `patience` epochs (Keras' rule); with `restore_best` the model ends with the best epoch's weights.

    Its state lives in ``TrainState.extra`` so that a checkpoint carries it and a resumed run stops at
    the same epoch. `fit` adds one by itself when ``TrainConfig.patience > 0``.
    """

    def __init__(
        self, patience: int = 5, min_delta: float = 0.0, restore_best: bool = True, monitor: str = "val_loss"
    ) -> None:
        self.patience, self.min_delta, self.restore_best, self.monitor = patience, min_delta, restore_best, monitor

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> "EarlyStopping":
        return cls(cfg.patience, cfg.min_delta, cfg.restore_best)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        key, value = _monitored(logs, self.monitor)
        s = state.extra.setdefault("early_stopping", {"monitor": key, "best": None, "best_epoch": 0, "wait": 0})
        if s["best"] is None or value < s["best"] - self.min_delta:
            s.update(best=value, best_epoch=state.epoch, wait=0)
            if self.restore_best:
                state.extra["best_weights"] = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
        else:
            s["wait"] += 1
            if s["wait"] >= self.patience:
                s["stopped_epoch"] = state.epoch
                state.stop_training = True

    def on_train_end(self, state: TrainState) -> None:
        best = state.extra.get("best_weights")
        if self.restore_best and best is not None and state.extra["early_stopping"]["best_epoch"] != state.epoch:
            state.model.load_state_dict(best)
