"""The autoencoder: one `nn.Module` with an `encoder` and a `decoder`; kinds differ only by configuration."""

from __future__ import annotations

import torch
from torch import nn

from aekit.config import ModelConfig, conv_grid

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "linear": nn.Identity,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


def _dense_stack(sizes: list[int], hidden_act: str, last_act: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        act = last_act if i == len(sizes) - 2 else hidden_act
        layers.append(_ACTIVATIONS[act]())
    return nn.Sequential(*layers)


def _conv_stacks(config: ModelConfig) -> tuple[nn.Sequential, nn.Sequential]:
    """The Keras blog's convolutional autoencoder, generalised to any (C, H, W) and channel list.

    Encoder: per channel count, Conv2d(3×3, same) + activation + MaxPool(2, same); then Flatten.
    Decoder: Unflatten, per channel count in reverse, Conv2d(3×3) + activation + Upsample(×2); then
    Conv2d(C, 3×3, same) + output activation. A decoder conv is 'valid' (trims 2 pixels) where that makes
    the remaining doublings land exactly on the image size (28×28: 4 → 8 → 16 → 14 → 28, as Keras);
    the last upsampling goes to the image size itself.
    """
    c, height, width = config.image_shape
    n_pools = len(config.hidden) + 1
    gh, gw = conv_grid(config.image_shape, n_pools)
    code_channels = config.encoding_dim // (gh * gw)
    channels = [*config.hidden, code_channels]
    enc: list[nn.Module] = [nn.Unflatten(1, (c, height, width))]
    n_in = c
    for i, ch in enumerate(channels):
        act = config.code_activation if i == len(channels) - 1 else config.activation
        enc += [nn.Conv2d(n_in, ch, 3, padding=1), _ACTIVATIONS[act](), nn.MaxPool2d(2, ceil_mode=True)]
        n_in = ch
    enc.append(nn.Flatten())
    dec: list[nn.Module] = [nn.Unflatten(1, (code_channels, gh, gw))]
    size = [gh, gw]
    rev = channels[::-1]
    for i, ch in enumerate(rev):
        ups_left = len(rev) - i  # upsamplings from here to the output, this stage's included
        pad = tuple(0 if (s - 2) * 2**ups_left == full and s > 2 else 1 for s, full in zip(size, (height, width)))
        size = [s - 2 * (1 - p) for s, p in zip(size, pad)]
        dec += [nn.Conv2d(n_in, ch, 3, padding=pad), _ACTIVATIONS[config.activation]()]
        if i == len(rev) - 1:
            dec.append(nn.Upsample(size=(height, width), mode="nearest"))
        else:
            dec.append(nn.Upsample(scale_factor=2, mode="nearest"))
            size = [2 * s for s in size]
        n_in = ch
    dec += [nn.Conv2d(n_in, c, 3, padding=1), nn.Flatten(), _ACTIVATIONS[config.output_activation]()]
    return nn.Sequential(*enc), nn.Sequential(*dec)


def keras_init_(module: nn.Module, generator: torch.Generator) -> None:
    """Keras defaults: glorot-uniform weights, zero biases, drawn from `generator`."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
            if isinstance(m, nn.ConvTranspose2d):  # weight is (in, out, kh, kw): Keras counts out as fan_out
                fan_in, fan_out = fan_out, fan_in
            limit = (6.0 / (fan_in + fan_out)) ** 0.5
            with torch.no_grad():
                m.weight.uniform_(-limit, limit, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()


class Autoencoder(nn.Module):
    """An autoencoder: `encoder` maps rows to codes, `decoder` maps codes back to rows.

    Inputs and outputs are always flat rows of ``config.input_dim`` values; image architectures
    reshape inside. ``encode``/``decode`` are the tutorial's ``encoder`` and ``decoder`` models.

    >>> model = Autoencoder(ModelConfig())
    >>> sum(p.numel() for p in model.parameters())
    50992
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        if config.architecture == "conv":
            self.encoder, self.decoder = _conv_stacks(config)
        else:
            sizes = [config.input_dim, *config.hidden, config.encoding_dim]
            self.encoder = _dense_stack(sizes, config.activation, config.code_activation)
            self.decoder = _dense_stack(sizes[::-1], config.activation, config.output_activation)
        keras_init_(self, torch.Generator().manual_seed(config.seed))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes of a batch of rows, shape (n, encoding_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructions of a batch of codes, shape (n, input_dim)."""
        return self.decoder(z)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's output before a final sigmoid (for a numerically stable BCE)."""
        if isinstance(self.decoder[-1], nn.Sigmoid):
            for layer in list(self.decoder)[:-1]:
                z = layer(z)
            return z
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def summary(self) -> str:
        """A Keras-like table: layer, output shape, parameter count, and the totals."""
        return summary(self)


def summary(model: Autoencoder) -> str:
    """Keras-style summary of `model` (layers, output shapes, parameters)."""
    rows: list[tuple[str, str, int]] = [("input (Input)", f"(None, {model.config.input_dim})", 0)]
    x = torch.zeros(1, model.config.input_dim, device=next(model.parameters()).device)
    with torch.no_grad():
        for part_name, part in (("encoder", model.encoder), ("decoder", model.decoder)):
            for i, layer in enumerate(part):
                x = layer(x)
                shape = "(None, " + ", ".join(str(s) for s in x.shape[1:]) + ")"
                n = sum(p.numel() for p in layer.parameters(recurse=False))
                rows.append((f"{part_name}.{i} ({type(layer).__name__})", shape, n))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    w0, w1 = max(len(r[0]) for r in rows) + 2, max(len(r[1]) for r in rows) + 2
    w0, w1 = max(w0, 28), max(w1, 20)
    line = "_" * (w0 + w1 + 12)
    out = ['Model: "autoencoder"', line, f"{'Layer (type)':<{w0}}{'Output Shape':<{w1}}{'Param #':>10}", "=" * len(line)]
    for name, shape, n in rows:
        out.append(f"{name:<{w0}}{shape:<{w1}}{n:>10,}")
    out += ["=" * len(line), f"Total params: {total:,}", f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}", line]
    return "\n".join(out)
