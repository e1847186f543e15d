"""TensorBoard event files written as training goes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit.data.rows import as_rows
from aekit.devices import device_of
from aekit.errors import DataError, option
from aekit.training.background import InThread
from aekit.training.callbacks.base import Callback, TrainState

RUNS = ("train", "validation")


class TensorBoard(Callback):
    """Real TensorBoard event files, laid out as Keras lays them out: two runs, ``log_dir/train`` and
    ``log_dir/validation``, each holding every logged term under the term's name (``loss``, ``recon``, …), so
    that a term's training and validation curves overlay in one chart; ``epoch_time`` sits in the train run.

    The train run also holds a grid of reconstructions (originals above, reconstructions below) and weight
    histograms, written at the first epoch, every `image_every` epochs and at the last one. At the end, the codes
    of `embedding` rows go to the projector in ``log_dir`` itself (at most `embedding_max` rows, labelled with
    `embedding_labels`, shown as thumbnails when `image_shape` is known). A generative model's train run also
    holds ``samples``, on the reconstructions' schedule: 40 draws from the prior, or for a cvae a row of 10 per class
    (up to 10 classes). A cvae encodes the `images` and `embedding` rows with their `class_labels` (class indices,
    one per embedding row; the images are its first rows).

    TensorBoard's writer is imported and opened in a thread while the first epoch trains.
    """

    def __init__(
        self,
        log_dir: str,
        images: Any = None,
        image_shape: tuple[int, ...] | None = (28, 28),
        image_every: int = 10,
        embedding: Any = None,
        embedding_labels: Any = None,
        embedding_max: int = 2000,
        histograms: bool = True,
        class_labels: Any = None,
    ) -> None:
        self.class_labels = None if class_labels is None else np.asarray(class_labels).reshape(-1)
        self.log_dir, self.image_every = str(log_dir), image_every
        self.images = None if images is None else as_rows(images, "images")[:10]
        self.image_shape = image_shape
        self.embedding = (
            None if embedding is None or embedding_max <= 0 else as_rows(embedding, "embedding rows")[:embedding_max]
        )
        self.embedding_labels = None
        if embedding_labels is not None and self.embedding is not None:
            labels = [str(v) for v in np.asarray(embedding_labels).ravel()[: len(self.embedding)]]
            if len(labels) != len(self.embedding):
                raise DataError(
                    f"embedding_labels has {len(labels)} entries but there are {len(self.embedding)} embedding rows; "
                    "pass one label per row"
                )
            self.embedding_labels = labels
        self.histograms = histograms
        self.writers: dict[str, Any] = {}
        self._opening: InThread | None = None
        self._pictured = 0  # the last epoch whose images and histograms were written

    @property
    def writer(self):
        """The train run's SummaryWriter (None before training begins and after it ends)."""
        return self._writers().get("train")

    def on_train_begin(self, state: TrainState) -> None:
        # a resumed run hides the events that an interrupted one logged after its last checkpoint
        purge = state.epoch + 1 if state.epoch else None

        def open_writers() -> None:
            from torch.utils.tensorboard import SummaryWriter

            self.writers = {run: SummaryWriter(str(Path(self.log_dir) / run), purge_step=purge) for run in RUNS}

        self._pictured = state.epoch
        self._opening = InThread(open_writers, "aekit-tensorboard")  # an exit waits for it

    def _writers(self) -> dict[str, Any]:
        if self._opening is not None:
            opening, self._opening = self._opening, None
            opening.join()  # an error opening the writers is raised here, in the training thread
        return self.writers

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        writers = self._writers()
        for k, v in logs.items():
            run, tag = ("validation", k[4:]) if k.startswith("val_") else ("train", k)
            writers[run].add_scalar(tag, v, state.epoch)
        if state.epoch == 1 or state.epoch % self.image_every == 0 or state.epoch == state.config.epochs:
            self.write_pictures(state)
        for w in writers.values():
            w.flush()

    def write_pictures(self, state: TrainState) -> None:
        """The reconstruction grid and the weight histograms of this epoch, in the train run."""
        self._pictured = state.epoch
        if self.images is not None and self.image_shape is not None:
            self.write_images(state)
        if self.image_shape is not None and state.model.config.is_generative:
            self.write_samples(state)
        if self.histograms:
            for name, param in state.model.named_parameters():
                self.writer.add_histogram(f"weights/{name}", param.detach().cpu().numpy().copy(), state.epoch)

    @torch.no_grad()
    def write_images(self, state: TrainState) -> None:
        was_training = state.model.training
        state.model.eval()
        with state.model.conditioned(self._labels(state.model, len(self.images))):
            recon = state.model(self.images.to(device_of(state.model))).float().cpu().numpy()
        state.model.train(was_training)
        grid = image_grid(self.images.numpy(), recon, self.image_shape)
        if grid is not None:
            self.writer.add_image("reconstructions", grid, state.epoch, dataformats="HWC")

    @torch.no_grad()
    def write_embedding(self, state: TrainState) -> None:
        """The codes of the embedding rows in the projector (tensors.tsv, metadata.tsv, sprite.png) in `log_dir`."""
        was_training = state.model.training
        state.model.eval()
        device = device_of(state.model)
        labels = self._labels(state.model, len(self.embedding))
        codes = torch.cat(
            [
                state.model.encode(
                    self.embedding[i : i + 500].to(device), None if labels is None else labels[i : i + 500]
                )
                .detach()
                .cpu()
                for i in range(0, len(self.embedding), 500)
            ]
        )
        state.model.train(was_training)
        thumbs = None
        if self.image_shape is not None:
            h, w = self.image_shape[-2:]
            c = self.embedding.shape[1] // (h * w)
            if c * h * w == self.embedding.shape[1] and c in (1, 3):
                thumbs = self.embedding.reshape(-1, c, h, w).clamp(0, 1).numpy()
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(self.log_dir):  # an event file here: TensorBoard's projector reads the configs of runs
            entry = write_projector_files(Path(self.log_dir), codes.numpy(), self.embedding_labels, thumbs, state.epoch)
        (Path(self.log_dir) / "projector_config.pbtxt").write_text(entry)

    def _labels(self, model, n: int) -> np.ndarray | None:
        """The class labels of the first `n` rows, for a cvae (None for a plain model)."""
        if not model.conditional:
            return None
        if self.class_labels is None or len(self.class_labels) < n:
            raise DataError(f"a cvae's TensorBoard pictures need {option('class_labels')} for their {n} rows")
        return self.class_labels[:n]

    @torch.no_grad()
    def write_samples(self, state: TrainState) -> None:
        """Draws from the prior (seeded: the same codes every time, so the grid shows the decoder learning), a row
        of 10 per class for a cvae, as ``samples``."""
        from aekit.codes import decode_codes, prior_codes

        model, k = state.model, min(state.model.config.n_classes, 10)
        n = 10 * k if k else 40
        z = prior_codes(model, n, generator=torch.Generator().manual_seed(state.config.seed))
        rows = decode_codes(model, z, labels=np.repeat(np.arange(k), 10) if k else None).numpy()
        grid = tile_rows(list(rows.reshape(-1, 10, rows.shape[1])), self.image_shape)
        if grid is not None:
            self.writer.add_image("samples", grid, state.epoch, dataformats="HWC")

    def on_train_end(self, state: TrainState) -> None:
        writers = self._writers()
        if writers and state.epoch > self._pictured:  # stopped early: the pictures of the last epoch
            self.write_pictures(state)
        if writers and self.embedding is not None and state.epoch > 0:
            self.write_embedding(state)
        for w in writers.values():
            w.close()
        self.writers = {}


def image_grid(originals: np.ndarray, reconstructions: np.ndarray, image_shape) -> np.ndarray | None:
    """Originals above their reconstructions, one column per row, 2 px of grey between tiles: an (H, W, C) uint8
    image; None when the rows are not images of `image_shape` ((h, w) or (c, h, w), 1 or 3 channels)."""
    return tile_rows([originals, reconstructions], image_shape)


def tile_rows(blocks: list[np.ndarray], image_shape) -> np.ndarray | None:
    """Each block of rows (as many in each) as a line of images, 2 px of grey between tiles: an (H, W, C) uint8
    image; None when the rows are not images of `image_shape` ((h, w) or (c, h, w), 1 or 3 channels)."""
    h, w = image_shape[-2:]
    n, features = blocks[0].shape
    c = features // (h * w)
    if c * h * w != features or c not in (1, 3):
        return None
    pad = 2
    grid = np.full((pad + len(blocks) * (h + pad), pad + n * (w + pad), c), 0.5, dtype=np.float32)
    for row, images in enumerate(blocks):
        tiles = np.clip(images.reshape(n, c, h, w).transpose(0, 2, 3, 1), 0, 1)
        top = pad + row * (h + pad)
        for i in range(n):
            left = pad + i * (w + pad)
            grid[top : top + h, left : left + w] = tiles[i]
    return (grid * 255 + 0.5).astype(np.uint8)


def write_projector_files(log_dir: Path, codes: np.ndarray, labels, thumbs: np.ndarray | None, step: int) -> str:
    """The files of TensorBoard's embedding projector for `codes` at `step` (those of ``SummaryWriter.add_embedding``
    with tag 'codes', the same bytes): STEP/codes/tensors.tsv, metadata.tsv (`labels`, if any), sprite.png
    (`thumbs`, (n, c, h, w) in [0, 1], if any); returns the entry for projector_config.pbtxt. Written with NumPy
    and one formatting pass: ``add_embedding`` formats the codes one ``.item()`` at a time (~1 s for 2,000 codes)."""
    sub = f"{step:05d}/codes"
    folder = log_dir / sub
    folder.mkdir(parents=True, exist_ok=True)
    rows = codes.astype(np.float64).tolist()  # str() of each value as add_embedding writes it
    (folder / "tensors.tsv").write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))
    entry = [f'  tensor_name: "codes:{step:05d}"']
    if labels is not None:
        (folder / "metadata.tsv").write_text("\n".join(str(x) for x in labels) + "\n")
        entry.append(f'  metadata_path: "{sub}/metadata.tsv"')
    if thumbs is not None:
        from PIL import Image

        n, c, h, w = thumbs.shape
        side = math.ceil(n**0.5)  # tiles a row; the sprite is square (side · w) for h <= w, as add_embedding's
        rows = math.ceil(n / side)
        pixels = np.uint8((thumbs.astype(np.float64) * 255).clip(0, 255))  # add_embedding's rounding, before tiling
        tiles = np.zeros((rows * side, h, w, 3), dtype=np.uint8)
        tiles[:n] = pixels.transpose(0, 2, 3, 1)  # one channel broadcasts to three
        grid = np.zeros((max(side * w, rows * h), side * w, 3), dtype=np.uint8)
        grid[: rows * h] = tiles.reshape(rows, side, h, w, 3).transpose(0, 2, 1, 3, 4).reshape(rows * h, side * w, 3)
        Image.fromarray(grid).save(folder / "sprite.png", format="PNG")
        entry += ["  sprite {", f'    image_path: "{sub}/sprite.png"', f"    single_image_dim: {w}"]
        entry += [f"    single_image_dim: {h}", "  }"]
    entry.append(f'  tensor_path: "{sub}/tensors.tsv"')  # in the field order of text_format's output
    return "embeddings {\n" + "\n".join(entry) + "\n}\n"
