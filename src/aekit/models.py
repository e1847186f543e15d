"""The autoencoder: one `nn.Module` with an `encoder` and a `decoder`; kinds differ only by configuration.

`encode`, `decode`, `reconstruct` (also `predict`, as Keras) take rows in the user's units: a tensor gives a tensor
(with gradients, as any module call), a NumPy array or a list gives a float32 NumPy array computed without
gradients. The rule for NumPy input: any real dtype is cast to float32 value for value (float64 rounds; integers
are not rescaled: uint8 images stay 0-255, divide them by 255 as the Keras tutorial does). A model with an input
scaler (``ModelConfig.scale``) applies it inside: `encoder` and `decoder` work on the scaled rows the network sees.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from aekit.conditioning import JoinLabels, LabelSlot
from aekit.config import ModelConfig, conv_grid
from aekit.config_checks import must_be
from aekit.errors import DataError
from aekit.full_resolution import ResidualDecoder, full_resolution_stacks
from aekit.latents import encoder_config, make_latent

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "linear": nn.Identity,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "clip": lambda: nn.Hardtanh(0.0, 1.0),  # values clipped to [0, 1] (a global residual's output)
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
    if config.skip:  # the input image joins here: a full-resolution block sees it beside the decoded features
        head = [nn.Conv2d(n_in + c, n_in, 3, padding=1), _ACTIVATIONS[config.activation]()]
        dec += [*head, nn.Conv2d(n_in, c, 3, padding=1), nn.Flatten(), _ACTIVATIONS[config.output_activation]()]
        join, shape = len(dec) - len(head) - 3, config.image_shape
        return nn.Sequential(*enc), SkipDecoder(dec, join=join, image_shape=shape, residual=config.global_residual)
    dec += [nn.Conv2d(n_in, c, 3, padding=1), nn.Flatten(), _ACTIVATIONS[config.output_activation]()]
    return nn.Sequential(*enc), nn.Sequential(*dec)


class SkipDecoder(nn.Sequential):
    """A conv decoder whose layers from `join` on also see the (noisy) input image, concatenated as extra channels:
    a skip from input to output, as U-Net's, so that the code carries what the image is and the last block restores
    pixel detail (residual learning). Called without the input (``decode(z)``), it sees a blank image. With
    `residual` (``ModelConfig.global_residual``) the input is also added to the last conv's output, before the output
    activation: the network learns a correction of the noisy image (global residual learning, as DnCNN's)."""

    def __init__(
        self, layers: list[nn.Module], *, join: int, image_shape: tuple[int, ...], residual: bool = False
    ) -> None:
        super().__init__(*layers)
        self.join, self.image_shape, self.residual = join, tuple(image_shape), residual

    def joined(self, h: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
        if x is None:  # a blank image, as h's rows × 0: zeros of h's shape (new_zeros, zeros_like) became a constant
            # of the traced batch size in torch 2.2's ONNX graph (its TorchScript exporter), whatever the batch
            return torch.cat([h, h[:, :1].mul(0).expand(-1, self.image_shape[0], -1, -1)], dim=1)
        img = x.reshape(-1, *self.image_shape).to(h.dtype)
        return torch.cat([h, img], dim=1)

    def forward(self, z: torch.Tensor, x: torch.Tensor | None = None, *, logits: bool = False) -> torch.Tensor:
        """The decoded rows; with `logits`, before the output activation."""
        layers = list(self)
        for i, layer in enumerate(layers[:-1]):  # all but the output activation
            z = layer(self.joined(z, x) if i == self.join else z)
        if self.residual and x is not None:
            z = z + x.reshape_as(z).to(z.dtype)
        return z if logits else layers[-1](z)


_INPUT_DECODERS = (SkipDecoder, ResidualDecoder)  # decoders that also see the input rows the codes came from


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
        if config is not None:
            must_be("config", config, ModelConfig, "pass ModelConfig(input_dim=…, …); ModelConfig(**d) for a dict d")
        self.config = config = config or ModelConfig()
        enc = encoder_config(config)  # a Gaussian code's encoder emits μ and log σ²
        if config.architecture == "conv" and config.full_resolution:  # DnCNN-like: no pooling, input − noise
            self.encoder, self.decoder = full_resolution_stacks(config, _ACTIVATIONS)
        elif config.architecture == "conv":
            self.encoder, self.decoder = _conv_stacks(config)
            if enc is not config:
                self.encoder = _conv_stacks(enc)[0]
        else:
            k = config.n_classes  # a cvae: the labels' one-hot joins the encoder's and the decoder's input
            sizes = [config.input_dim, *config.hidden, config.encoding_dim]
            enc_sizes, dec_sizes = [*sizes[:-1], enc.encoding_dim], sizes[::-1]
            enc_sizes[0], dec_sizes[0] = enc_sizes[0] + k, dec_sizes[0] + k
            self.encoder = _dense_stack(enc_sizes, config.activation, enc.code_activation)
            self.decoder = _dense_stack(dec_sizes, config.activation, config.output_activation)
        self.labels = LabelSlot(config.n_classes)  # the labels of the rows at hand (aekit.conditioning)
        if config.n_classes:
            self.encoder.insert(0, JoinLabels(self.labels))
            self.decoder.insert(0, JoinLabels(self.labels, encoder=False))
        self.latent = make_latent(config)  # the code layer (aekit.latents): plain, Gaussian or a codebook
        keras_init_(self, torch.Generator().manual_seed(config.seed))
        if config.scale != "none":  # NaN until fitted (`set_scaler`; `aekit.fit` fits it from the training rows)
            self.register_buffer("input_offset", torch.full((config.input_dim,), float("nan")))
            self.register_buffer("input_scale", torch.full((config.input_dim,), float("nan")))

    # ------------------------------------------------------------------ the input scaler
    @property
    def scaled(self) -> bool:
        """True when the model scales its input (``config.scale`` is 'standard' or 'minmax')."""
        return self.config.scale != "none"

    @property
    def scaler_fitted(self) -> bool:
        return not self.scaled or not bool(torch.isnan(self.input_scale).any())

    def set_scaler(self, offset: Any, scale: Any) -> None:
        """Set the input scaler: the network sees ``(x - offset) / scale`` (one value per column)."""
        with torch.no_grad():
            self.input_offset.copy_(torch.as_tensor(np.asarray(offset, dtype=np.float32)))
            self.input_scale.copy_(torch.as_tensor(np.asarray(scale, dtype=np.float32)))

    def scale_rows(self, x: torch.Tensor) -> torch.Tensor:
        """Rows in the user's units → the scaled rows the network sees (`x` itself when the model has no scaler)."""
        return (x - self.input_offset) / self.input_scale if self.scaled else x

    def unscale_rows(self, y: torch.Tensor) -> torch.Tensor:
        """The network's rows → the user's units (`y` itself when the model has no scaler)."""
        return y * self.input_scale + self.input_offset if self.scaled else y

    def encode_rows(self, x: torch.Tensor) -> torch.Tensor:
        """`encode` of a tensor without the check that the scaler is fitted (for tracing: the ONNX graphs)."""
        return self.latent.code(self.encoder(self.scale_rows(x)))

    def decode_rows(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """`decode` of a tensor without the check that the scaler is fitted (for tracing: the ONNX graphs)."""
        return self.unscale_rows(self.decode_net(z, x))

    def decode_net(self, z: torch.Tensor, xs: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder, in the network's units; a model with ``skip`` also decodes from the (scaled) input rows `xs`
        the codes came from (without them its last block sees a blank image)."""
        return self.decoder(z, xs) if isinstance(self.decoder, _INPUT_DECODERS) else self.decoder(z)

    def reconstruct_net(self, xs: torch.Tensor) -> torch.Tensor:
        """The reconstruction of rows already in the network's (scaled) units, in those units."""
        return self.decode_net(self.latent.code(self.encoder(xs)), xs)

    def _check_scaler(self) -> None:
        if not self.scaler_fitted:
            raise DataError(
                f"the model's {self.config.scale} input scaler is not fitted yet; train the model first "
                "(aekit.fit fits it from the training rows) or call model.set_scaler(offset, scale)"
            )

    # ------------------------------------------------------------------ uses, in the user's units
    @property
    def conditional(self) -> bool:
        """True for a model conditioned on class labels (``config.n_classes`` > 0, a cvae)."""
        return self.config.n_classes > 0

    def conditioned(self, labels: Any, stream: bool = False):
        """A context in which the encoder and decoder see `labels` (class indices, one per row; None: as before);
        with `stream`, the labels of rows met block by block in order (`aekit.conditioning.LabelSlot.holding`)."""
        if labels is not None and not self.conditional:
            raise DataError("labels were given but this model is not conditioned on labels (kind cvae); drop them")
        return self.labels.holding(labels, stream=stream)

    def encode(self, x: Any, labels: Any = None) -> Any:
        """Codes of rows, shape (n, encoding_dim): a tensor for a tensor, else a NumPy array (no gradients).
        A conditional model (cvae) needs the rows' `labels`."""
        if labels is not None:
            with self.conditioned(labels):
                return self.encode(x)
        if not isinstance(x, torch.Tensor):
            return self._numpy(self.encode, x, self.config.input_dim, "x")
        self._check_scaler()
        return self.encode_rows(self._tensor_rows(x, self.config.input_dim, "x"))

    def decode(self, z: Any, labels: Any = None) -> Any:
        """Reconstructions of codes, shape (n, input_dim), in the user's units: a tensor for a tensor, else NumPy.
        A conditional model (cvae) needs the `labels` to draw."""
        if labels is not None:
            with self.conditioned(labels):
                return self.decode(z)
        if not isinstance(z, torch.Tensor):
            return self._numpy(self.decode, z, self.config.encoding_dim, "z")
        self._check_scaler()
        return self.decode_rows(self._tensor_rows(z, self.config.encoding_dim, "z"))

    def reconstruct(self, x: Any, labels: Any = None) -> Any:
        """The reconstruction of rows, ``decode(encode(x))``: a tensor for a tensor, else a NumPy array."""
        if labels is not None:
            with self.conditioned(labels):
                return self.reconstruct(x)
        if not isinstance(x, torch.Tensor):
            return self._numpy(self.reconstruct, x, self.config.input_dim, "x")
        return self(x)  # forward checks the width

    predict = reconstruct  # Keras' name: `autoencoder.predict(x_test)`

    def _tensor_rows(self, x: torch.Tensor, width: int, name: str) -> torch.Tensor:
        """A tensor of rows as the network takes them: (n, `width`) (one row of `width` values becomes (1, `width`),
        as `_numpy` reads it), in the model's dtype (int, bool or float64 rows are cast, as NumPy rows are)."""
        if x.ndim == 1 and x.numel() == width:
            x = x.unsqueeze(0)
        if x.ndim != 2 or x.shape[1] != width:
            raise DataError(
                f"{name} has shape {tuple(x.shape)} but the model expects rows of {width} values; "
                f"pass a tensor of shape (n, {width})"
            )
        dtype = next(self.parameters()).dtype
        return x if x.dtype == dtype else x.to(dtype)

    def _numpy(
        self, fn: Callable[[torch.Tensor], torch.Tensor], x: Any, width: int, name: str, batch_size: int = 8192
    ) -> np.ndarray:
        """`fn` on NumPy (or list) rows, cast to float32, in batches, without gradients, as a float32 array."""
        a = np.asarray(x)
        if a.dtype.kind not in "biuf":
            raise DataError(f"{name} must be numeric, got dtype {a.dtype}; pass a NumPy array of numbers")
        if a.ndim > 0 and len(a) == 0:
            raise DataError(f"{name} has no rows; pass an array of shape (n, {width}) with n ≥ 1")
        rows = a.reshape(len(a), -1) if a.ndim > 1 else a.reshape(1, -1) if a.size == width else a.reshape(-1, 1)
        if rows.shape[1] != width:
            raise DataError(
                f"{name} has rows of {rows.shape[1]} values but the model expects {width}; "
                f"pass an array of shape (n, {width})"
            )
        if a.dtype.kind == "f" and not np.isfinite(rows).all():  # else every value of that row's output is NaN
            bad = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
            raise DataError(
                f"{name} holds NaN or inf (first in row {bad}); clean the data or use `aekit impute` for gaps"
            )
        rows = rows.astype(np.float32, copy=False)
        out, held = None, self.labels.onehot  # a cvae's labels of all the rows: each batch gets its own
        per_row = held is not None and self.labels.stream is None and len(held) == len(rows)
        with torch.no_grad():
            for start in range(0, len(rows), batch_size):
                with self.labels.holding(held[start : start + batch_size] if per_row else None):
                    part = fn(torch.from_numpy(np.ascontiguousarray(rows[start : start + batch_size]))).numpy()
                if out is None:
                    out = np.empty((len(rows), part.shape[1]), dtype=np.float32)
                out[start : start + len(part)] = part
        return out if out is not None else np.empty((0, 0), dtype=np.float32)

    def decode_logits(self, z: torch.Tensor, xs: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's output before a final sigmoid (for a numerically stable BCE), in the network's units."""
        if isinstance(self.decoder, _INPUT_DECODERS):
            return self.decoder(z, xs, logits=isinstance(self.decoder[-1], nn.Sigmoid))
        if isinstance(self.decoder[-1], nn.Sigmoid):
            for layer in list(self.decoder)[:-1]:
                z = layer(z)
            return z
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of a batch of rows, in the user's units (as `reconstruct`; a tensor of the wrong width is
        refused in one line, other dtypes are cast)."""
        self._check_scaler()
        x = self._tensor_rows(x, self.config.input_dim, "x")
        return self.unscale_rows(self.reconstruct_net(self.scale_rows(x)))

    def summary(self, print_fn: Callable[[str], Any] | None = None) -> None:
        """Print a Keras-like table (layer, output shape, parameter count, totals), one line per call of `print_fn`
        (default `print`), and return None, as Keras; ``aekit.summary(model)`` returns the text."""
        for line in summary(self).splitlines():
            (print_fn or print)(line)

    def _repr_html_(self) -> str:
        """A notebook's view of the model: its summary as an HTML table (``repr`` stays PyTorch's module tree)."""
        return summary_html(self)


def summary(model: Autoencoder) -> str:
    """Keras-style summary of `model` (layers, output shapes, parameters) as text; an input scaler counts as
    non-trainable parameters, as Keras' Normalization layer."""
    rows, total, trainable = _summary_rows(model)
    w0, w1 = max(len(r[0]) for r in rows) + 2, max(len(r[1]) for r in rows) + 2
    w0, w1 = max(w0, 28), max(w1, 20)
    line = "_" * (w0 + w1 + 12)
    out = [
        'Model: "autoencoder"',
        line,
        f"{'Layer (type)':<{w0}}{'Output Shape':<{w1}}{'Param #':>10}",
        "=" * len(line),
    ]
    for name, shape, n in rows:
        out.append(f"{name:<{w0}}{shape:<{w1}}{n:>10,}")
    out += [
        "=" * len(line),
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        line,
    ]
    return "\n".join(out)


def _summary_rows(model: Autoencoder) -> tuple[list[tuple[str, str, int]], int, int]:
    """The summary's rows (layer (type), output shape, parameters), the total and the trainable parameters."""
    d = model.config.input_dim
    rows: list[tuple[str, str, int]] = [("input (Input)", f"(None, {d})", 0)]
    if model.scaled:
        rows.append((f"input_scaling ({model.config.scale.capitalize()})", f"(None, {d})", 2 * d))
    x = torch.zeros(1, model.config.input_dim, device=next(model.parameters()).device)
    with torch.no_grad(), model.conditioned([0] if model.conditional else None):  # a cvae: any class will do
        for part_name, part in (("encoder", model.encoder), ("decoder", model.decoder)):
            x = model.latent.code(x) if part_name == "decoder" else x  # a Gaussian code's μ, a codebook's vectors
            for i, layer in enumerate(part):
                x = layer(part.joined(x, None) if isinstance(part, _INPUT_DECODERS) and i == part.join else x)
                shape = "(None, " + ", ".join(str(s) for s in x.shape[1:]) + ")"
                n = sum(p.numel() for p in layer.parameters(recurse=False))
                rows.append((f"{part_name}.{i} ({type(layer).__name__})", shape, n))
    total = sum(p.numel() for p in model.parameters()) + (2 * d if model.scaled else 0)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return rows, total, trainable


def summary_html(model: Autoencoder) -> str:
    """The summary as an HTML table (a notebook shows a model this way)."""
    from aekit.display import table

    rows, total, trainable = _summary_rows(model)
    foot = [
        ("Total params", "", total),
        ("Trainable params", "", trainable),
        ("Non-trainable params", "", total - trainable),
    ]
    return table([*rows, *foot], ["Layer (type)", "Output Shape", "Param #"], caption='Model: "autoencoder"')
