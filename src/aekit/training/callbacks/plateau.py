"""`Plateau`: one warning, while it trains, when a run is not learning: its loss has not moved over its first
epochs, or its output activation cannot reach the targets and sits at its bound (a saturated output)."""

from __future__ import annotations

import math
import warnings

import torch

from aekit.errors import AekitWarning, option
from aekit.training.callbacks.base import Callback, TrainState

_BOUNDS = {"sigmoid": (0.0, 1.0), "clip": (0.0, 1.0), "tanh": (-1.0, 1.0)}


class PlateauWarning(AekitWarning):
    """The training loss does not move, or the output is saturated: the run is not learning."""


class Plateau(Callback):
    """Warn once (a `PlateauWarning`) when the loss moved by less than `rtol` of itself over the run's first
    `epochs` epochs, or, after the first epoch, when more than a tenth of the sample's target values lie outside
    the output activation's range with the output pinned at its bound there. `fit` adds one to every run.

    `sample_x`, `sample_y` are a few rows in the network's (scaled) units, for the saturation check.
    """

    def __init__(
        self,
        sample_x: torch.Tensor | None = None,
        sample_y: torch.Tensor | None = None,
        *,
        epochs: int = 3,
        rtol: float = 1e-3,
    ) -> None:
        self.sample_x, self.sample_y, self.epochs, self.rtol = sample_x, sample_y, epochs, rtol
        self.warned, self.sample_labels = False, None  # a cvae's labels of the sample rows

    @classmethod
    def of(cls, model, x, y, rows: int = 256, labels: torch.Tensor | None = None) -> "Plateau":
        """A Plateau with the first `rows` rows of `x` (input) and `y` (target), scaled as the network sees them
        (and of a cvae's one-hot `labels`)."""
        from aekit.data.reading import _rows

        k = min(rows, x.shape[0])
        xs = model.scale_rows(_rows(x, slice(0, k)))
        plateau = cls(xs, xs if y is x else model.scale_rows(_rows(y, slice(0, k))))
        plateau.sample_labels = None if labels is None else labels[:k]
        return plateau

    def on_train_begin(self, state: TrainState) -> None:
        self.start = state.epoch  # a resumed run: its first epochs are behind it, nothing to check

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if self.warned or self.start != 0:
            return
        if state.epoch == 1:
            self._check_saturation(state.model)
        losses = state.history.history.get("loss", [])
        if state.epoch == self.epochs and len(losses) >= self.epochs and not self.warned:
            first, last = losses[0], losses[self.epochs - 1]
            if math.isfinite(first) and abs(first) > 1e-8 and abs(last - first) <= self.rtol * abs(first):
                self._warn(
                    f"the loss has not moved in the first {self.epochs} epochs ({first:.6g} → {last:.6g}): "
                    f"the model is not learning; scale the data ({option('scale', 'standard')}), change "
                    f"{option('lr')} or {option('output_activation')}, or check the data"
                )

    def _check_saturation(self, model) -> None:
        act = model.config.output_activation
        if act not in _BOUNDS or self.sample_x is None:
            return
        lo, hi = _BOUNDS[act]
        was_training = model.training
        model.eval()
        with torch.no_grad(), model.labels.holding(self.sample_labels):
            device = next(model.parameters()).device  # the sample stays on the host; the model may not
            out = model.decoder(model.latent.code(model.encoder(self.sample_x.to(device)))).cpu()
        model.train(was_training)
        pinned = (out <= lo + 1e-3 * (hi - lo)) | (out >= hi - 1e-3 * (hi - lo))
        unreachable = (self.sample_y < lo) | (self.sample_y > hi)
        share = float((pinned & unreachable).float().mean())
        if share > 0.1:
            self._warn(
                f"the {act} output is saturated: {share:.0%} of the target values lie outside its range "
                f"[{lo:g}, {hi:g}] and the output sits at its bound there, so the loss cannot fall; pass "
                f"{option('output_activation', 'linear')} or scale the data ({option('scale', 'standard')})"
            )

    def _warn(self, message: str) -> None:
        self.warned = True
        warnings.warn(message, PlateauWarning, stacklevel=2)


__all__ = ["Plateau", "PlateauWarning"]
