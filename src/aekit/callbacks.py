"""The few callbacks: Keras-like progress output and TensorBoard event files."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from .errors import DataError
from .rows import as_rows
from .train import Callback, TrainState


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
        keys = first + [k for k in logs if k not in first and k != "epoch_time"]
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


class TensorBoard(Callback):
    """Real TensorBoard event files: every logged value per epoch, a reconstruction grid, weight
    histograms per epoch and, at the end, the codes of `embedding` rows in the embedding projector.

    Images are written at the first epoch, every `image_every` epochs and at the end. The projector
    holds at most `embedding_max` rows, labelled with `embedding_labels` and shown as thumbnails
    (a sprite) when `image_shape` is known.
    """

    def __init__(self, log_dir: str, images: Any = None, image_shape: tuple[int, ...] | None = (28, 28), image_every: int = 10,
                 embedding: Any = None, embedding_labels: Any = None, embedding_max: int = 2000, histograms: bool = True) -> None:
        self.log_dir, self.image_every = str(log_dir), image_every
        self.images = None if images is None else as_rows(images, "images")[:10]
        self.image_shape = image_shape
        self.embedding = None if embedding is None or embedding_max <= 0 else as_rows(embedding, "embedding rows")[:embedding_max]
        self.embedding_labels = None
        if embedding_labels is not None and self.embedding is not None:
            labels = [str(v) for v in np.asarray(embedding_labels).ravel()[: len(self.embedding)]]
            if len(labels) != len(self.embedding):
                raise DataError(f"embedding_labels has {len(labels)} entries but there are {len(self.embedding)} embedding rows; pass one label per row")
            self.embedding_labels = labels
        self.histograms = histograms
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
        if self.histograms:
            for name, param in state.model.named_parameters():
                self.writer.add_histogram(f"weights/{name}", param.detach(), state.epoch)
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

    @torch.no_grad()
    def write_embedding(self, state: TrainState) -> None:
        """The codes of the embedding rows in the projector (tensors.tsv, metadata.tsv, sprite.png)."""
        was_training = state.model.training
        state.model.eval()
        codes = state.model.encode(self.embedding)
        state.model.train(was_training)
        thumbs = None
        if self.image_shape is not None:
            h, w = self.image_shape[-2:]
            c = self.embedding.shape[1] // (h * w)
            if c * h * w == self.embedding.shape[1] and c in (1, 3):
                thumbs = self.embedding.reshape(-1, c, h, w).clamp(0, 1)
        self.writer.add_embedding(codes, metadata=self.embedding_labels, label_img=thumbs, global_step=state.epoch, tag="codes")

    def on_train_end(self, state: TrainState) -> None:
        if self.writer is not None and self.embedding is not None and state.epoch > 0:
            self.write_embedding(state)
        if self.writer is not None:
            self.writer.close()
            self.writer = None
