"""The few callbacks: Keras-like progress output and TensorBoard event files."""

from __future__ import annotations

import sys

from aekit.history import shown_keys
from aekit.training.callbacks.base import Callback, TrainState


class ProgressBar(Callback):
    """Keras-like progress on stderr: a bar per epoch (verbose=1) or one line per epoch (verbose=2).

    As Keras' progress bar, the bar is drawn only on a terminal; written to a file or a pipe (a log, CI), verbose=1
    prints each epoch's header and its final line, without the carriage-return redraws. The epoch's line starts
    with ``loss`` and ``val_loss``, then the other terms, so that a narrow bar does not cut the figures that matter.
    """

    def __init__(self, verbose: int = 1, stream=None) -> None:
        self.verbose, self.stream, self.bar = verbose, stream or sys.stderr, None

    def on_epoch_begin(self, state: TrainState) -> None:
        if self.verbose == 1:
            print(f"Epoch {state.epoch + 1}/{state.config.epochs}", file=self.stream, flush=True)
            if _is_terminal(self.stream):
                from tqdm.auto import tqdm

                self.bar = tqdm(total=state.steps_per_epoch, file=self.stream, ncols=100, leave=True,
                                bar_format="{n_fmt}/{total_fmt} [{bar:30}] - {elapsed} {postfix}", ascii=" =")

    def on_batch_end(self, state: TrainState, batch: int, logs: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if batch % 20 == 0:
                self.bar.set_postfix_str(f"loss: {logs['loss']:.4f}", refresh=False)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        first = [k for k in ("loss", "val_loss") if k in logs]
        keys = first + [k for k in shown_keys(logs) if k not in first and k != "epoch_time"]  # no recon equal to loss
        text = " - ".join(f"{k}: {logs[k]:.4f}" for k in keys)
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.close()
            self.bar = None
        elif self.verbose == 1:
            steps = state.steps_per_epoch
            print(f"{steps}/{steps} - {logs['epoch_time']:.2f}s - {text}", file=self.stream, flush=True)
        elif self.verbose == 2:
            print(f"Epoch {state.epoch}/{state.config.epochs} - {logs['epoch_time']:.2f}s - {text}", file=self.stream, flush=True)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


