"""The few callbacks: Keras-like progress output and TensorBoard event files."""

from __future__ import annotations

import sys
from typing import Any

import torch

from .train import Callback, TrainState, as_rows


class ProgressBar(Callback):
    """Keras-like progress: a bar per epoch (verbose=1) or one line per epoch (verbose=2), on stderr."""

    def __init__(self, verbose: int = 1, stream=None) -> None:
        self.verbose, self.stream, self.bar = verbose, stream or sys.stderr, None

    def on_epoch_begin(self, state: TrainState) -> None:
        if self.verbose == 1:
            from tqdm.auto import tqdm

            print(f"Epoch {state.epoch + 1}/{state.config.epochs}", file=self.stream)
            self.bar = tqdm(total=state.steps_per_epoch, file=self.stream, ncols=100, leave=True,
                            bar_format="{n_fmt}/{total_fmt} [{bar:30}] - {elapsed} {postfix}", ascii=" =")

    def on_batch_end(self, state: TrainState, batch: int, logs: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if batch % 20 == 0:
                self.bar.set_postfix_str(f"loss: {logs['loss']:.4f}", refresh=False)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        text = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k != "epoch_time")
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.close()
            self.bar = None
        elif self.verbose == 2:
            print(f"Epoch {state.epoch}/{state.config.epochs} - {logs['epoch_time']:.2f}s - {text}", file=self.stream, flush=True)


class TensorBoard(Callback):
    """Real TensorBoard event files: every logged value per epoch, and a reconstruction grid.

    Images are written at the first epoch, every `image_every` epochs and at the end.
    """

    def __init__(self, log_dir: str, images: Any = None, image_shape: tuple[int, ...] | None = (28, 28), image_every: int = 10) -> None:
        self.log_dir, self.image_every = str(log_dir), image_every
        self.images = None if images is None else as_rows(images, "images")[:10]
        self.image_shape = image_shape
        self.writer = None

    def on_train_begin(self, state: TrainState) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # a resumed run hides the events that an interrupted one logged after its last checkpoint
        self.writer = SummaryWriter(self.log_dir, purge_step=state.epoch + 1 if state.epoch else None)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        for k, v in logs.items():
            self.writer.add_scalar(k, v, state.epoch)
        if self.images is not None and self.image_shape is not None and (
            state.epoch == 1 or state.epoch % self.image_every == 0 or state.epoch == state.config.epochs
        ):
            self.write_images(state)
        self.writer.flush()

    @torch.no_grad()
    def write_images(self, state: TrainState) -> None:
        from .plots import figure_to_array, reconstruction_grid

        was_training = state.model.training
        state.model.eval()
        recon = state.model(self.images).numpy()
        state.model.train(was_training)
        shape = self.image_shape[-2:]
        fig = reconstruction_grid(self.images.numpy(), recon, image_shape=shape, n=len(self.images))
        self.writer.add_image("reconstructions", figure_to_array(fig), state.epoch, dataformats="HWC")

    def on_train_end(self, state: TrainState) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
