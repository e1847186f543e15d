"""TensorBoard event files written as training goes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from aekit.data.rows import as_rows
from aekit.devices import device_of
from aekit.errors import DataError
from aekit.training.callbacks.base import Callback, TrainState


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
                self.writer.add_histogram(f"weights/{name}", param.detach().cpu(), state.epoch)
        self.writer.flush()

    @torch.no_grad()
    def write_images(self, state: TrainState) -> None:
        from aekit.reporting.plots import figure_to_array, reconstruction_grid

        was_training = state.model.training
        state.model.eval()
        recon = state.model(self.images.to(device_of(state.model))).cpu().numpy()
        state.model.train(was_training)
        shape = self.image_shape[-2:]
        fig = reconstruction_grid(self.images.numpy(), recon, image_shape=shape, n=len(self.images))
        self.writer.add_image("reconstructions", figure_to_array(fig), state.epoch, dataformats="HWC")

    @torch.no_grad()
    def write_embedding(self, state: TrainState) -> None:
        """The codes of the embedding rows in the projector (tensors.tsv, metadata.tsv, sprite.png)."""
        was_training = state.model.training
        state.model.eval()
        codes = state.model.encode(self.embedding.to(device_of(state.model))).cpu()
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
