"""`LatentSchedule`: hands the run's generator to the model's code layer (the reparameterisation's noise, dynamic
binarisation, re-seeded codebook entries) and sets the KL warm-up's factor each epoch. `fit` adds it for a Gaussian
or categorical code and for dynamic binarisation; everything it sets follows from the epoch and the generator, which a
checkpoint holds, so a resumed run draws the same noise."""

from __future__ import annotations

from aekit.elbo import kl_scale
from aekit.training.callbacks.base import Callback, TrainState


class LatentSchedule(Callback):
    def on_epoch_begin(self, state: TrainState) -> None:
        latent = state.model.latent
        latent.generator = state.generator
        latent.kl_scale = kl_scale(state.config, state.epoch)

    def on_train_end(self, state: TrainState) -> None:
        latent = state.model.latent
        latent.generator, latent.kl_scale = None, 1.0
