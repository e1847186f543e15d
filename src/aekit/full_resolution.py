"""The conv model with ``ModelConfig(full_resolution=True)``: no pooling, every layer a 3×3 conv at the image's own
resolution, and an output that is the input minus the network's estimate of the noise (residual learning, as
DnCNN: Zhang et al., "Beyond a Gaussian Denoiser", 2017). The denoising network for photographs (the kind
``denoising-photo``, docs/uses.md): a pooled code cannot keep a photograph's texture, a full-resolution one can.

Encoder: per channel count in ``hidden``, Conv2d(3×3, same) + activation; then Conv2d to the code's channels
(``encoding_dim`` / (H·W)) + code activation; Flatten. Decoder: Unflatten, per channel count in reverse, Conv2d +
activation, Conv2d to the image's channels (the noise estimate, linear), Flatten; then the input image minus that
estimate, through the output activation. Called without the input (``decode(z)``), the decoder sees a blank image.
"""

from __future__ import annotations

import torch
from torch import nn

from aekit.config import ModelConfig


def full_resolution_stacks(
    config: ModelConfig, activations: dict[str, type[nn.Module]]
) -> tuple[nn.Sequential, "ResidualDecoder"]:
    c, height, width = config.image_shape
    code_channels = config.encoding_dim // (height * width)
    channels = [*config.hidden, code_channels]
    enc: list[nn.Module] = [nn.Unflatten(1, (c, height, width))]
    n_in = c
    for i, ch in enumerate(channels):
        act = config.code_activation if i == len(channels) - 1 else config.activation
        enc += [nn.Conv2d(n_in, ch, 3, padding=1), activations[act]()]
        n_in = ch
    enc.append(nn.Flatten())
    dec: list[nn.Module] = [nn.Unflatten(1, (code_channels, height, width))]
    for ch in config.hidden[::-1]:
        dec += [nn.Conv2d(n_in, ch, 3, padding=1), activations[config.activation]()]
        n_in = ch
    dec += [nn.Conv2d(n_in, c, 3, padding=1), nn.Flatten(), activations[config.output_activation]()]
    return nn.Sequential(*enc), ResidualDecoder(dec)


class ResidualDecoder(nn.Sequential):
    """A decoder whose layers but the last estimate the noise of the (noisy) input; its output is the input minus
    that estimate, through the last layer (the output activation). As `aekit.models.SkipDecoder`, the input joins
    before layer `join`: ``joined(h, x)`` is x − h (−h without x)."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__(*layers)
        self.join = len(layers) - 1

    def joined(self, h: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
        return -h if x is None else x.reshape_as(h).to(h.dtype) - h

    def forward(self, z: torch.Tensor, x: torch.Tensor | None = None, *, logits: bool = False) -> torch.Tensor:
        """The denoised rows; with `logits`, before the output activation (the logits of a sigmoid output)."""
        layers = list(self)
        for layer in layers[: self.join]:
            z = layer(z)
        z = self.joined(z, x)
        return z if logits else layers[-1](z)


def apply_whole(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """A full-resolution `model` (an `aekit.Autoencoder`) applied to a batch of images (N, C, H, W) of any H, W:
    the same conv layers and weights, run on the whole images (the network has no pooling and no dense layer, so
    its weights do not depend on the size it was trained at). Returns the output images (N, C, H, W)."""
    from aekit.errors import ConfigError

    config = model.config
    if not config.full_resolution or config.scale != "none":
        why = "its input scaler is per pixel" if config.full_resolution else "it is not full-resolution"
        raise ConfigError(f"this model takes only its own image size ({why}); pass images of {config.image_shape}")
    if images.ndim != 4 or images.shape[1] != config.image_shape[0]:
        raise ConfigError(
            f"images of shape {tuple(images.shape)}: expected (n, {config.image_shape[0]}, height, width), "
            "the model's channels"
        )
    shape_free = [m for m in model.encoder if not isinstance(m, (nn.Flatten, nn.Unflatten))]
    h = images
    for layer in shape_free:
        h = layer(h)
    dec = model.decoder
    for layer in list(dec)[: dec.join]:
        if not isinstance(layer, (nn.Flatten, nn.Unflatten)):
            h = layer(h)
    return dec[-1](dec.joined(h, images))  # the input minus the noise estimate, as forward joins them
