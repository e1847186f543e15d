"""The moving average of the weights (`TrainConfig.ema`) as a callback: `MovingAverage`."""

from __future__ import annotations

import torch

from aekit.training.callbacks.base import Callback, TrainState


class MovingAverage(Callback):
    """A moving average of the weights; validation, checkpoints and the model `fit` returns use it (Keras' ``use_ema``).

    The steps train the model's own weights while the average follows them: each epoch begins by swapping the
    weights into the model (the average waits in ``state.extra["ema"]``, name → tensor, started from the weights on
    first use), each step updates the average, and after the steps (also when one raises) the two swap back. So
    between epochs, after `fit` and after an error in `fit` the model holds the average and ``extra["ema"]`` the
    trained weights: a checkpoint resumes bitwise, and the saved model is the average. The decay ramps up as
    TensorFlow's ``ExponentialMovingAverage(num_updates=t)``: d = min(decay, (1 + t) / (10 + t)), t the steps before,
    so that the average follows the weights closely in the first steps instead of holding on to the initial ones.
    `fit` adds one, last, when ``ema`` > 0.
    """

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.average: list[torch.Tensor] | None = None  # during the steps: the average, and the weights it follows
        self.weights: list[torch.Tensor] | None = None

    def on_epoch_begin(self, state: TrainState) -> None:
        self.average, self.weights = swap_average(state)

    def on_step_end(self, state: TrainState) -> None:
        t = state.step - 1
        d = min(self.decay, (1 + t) / (10 + t))
        torch._foreach_lerp_(self.average, self.weights, 1 - d)  # average ← d·average + (1 − d)·weights

    def on_validation_begin(self, state: TrainState) -> None:
        if self.average is not None:
            swap_average(state)
            self.average = self.weights = None


def swap_average(state: TrainState) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Exchange the model's weights with their average in ``state.extra["ema"]`` (moved to the weights' device);
    returns (average, weights) as lists in parameter order."""
    params = dict(state.model.named_parameters())
    kept = state.extra.setdefault("ema", {name: p.detach().clone() for name, p in params.items()})
    with torch.no_grad():
        for name, p in params.items():
            if kept[name].device != p.device:  # a checkpoint's average, loaded on the CPU
                kept[name] = kept[name].to(p.device)
            held = p.detach().clone()
            p.copy_(kept[name])
            kept[name].copy_(held)
    return [kept[name] for name in params], [p.detach() for p in params.values()]
