"""The kinds of autoencoder as presets: a kind is a set of configuration defaults, never a class.

``configure("sparse", epochs=20)`` returns a (ModelConfig, TrainConfig) pair: the dataclass defaults, then the
kind's presets, then the fields you pass, which always win. A preset value may be a function of the other
resolved fields (``complete`` sets ``encoding_dim`` to ``input_dim``). A noise type given without a level gets
its usual one (`DEFAULT_NOISE_LEVEL`), for every kind: ``configure("sparse", noise="masking")`` is a sparse
denoising autoencoder. `aekit train --kind KIND` uses the same table; explicit flags override it.

>>> model_cfg, train_cfg = configure("sparse-kl")
>>> model_cfg.encoding_dim, model_cfg.code_activation, train_cfg.kl_rho
(196, 'sigmoid', 0.1)
"""

from __future__ import annotations

import math
import textwrap
import warnings
from dataclasses import fields
from typing import Any

from aekit.config import ModelConfig, TrainConfig, conv_grid
from aekit.errors import AekitWarning, ConfigError, option

# noise level used when a denoising kind does not name one: keras.io uses σ 0.4–0.5 for gaussian noise,
# Vincent et al. (2008, 2010) mask about a quarter of the inputs; salt-and-pepper flips a fifth of them.
DEFAULT_NOISE_LEVEL = {"gaussian": 0.5, "masking": 0.25, "salt_pepper": 0.2, "mixed": 0.6}

# λ of the contractive preset, with the tutorial's relu code (docs/kinds.md has how it was chosen); pass
# --code-activation sigmoid for Rifai et al.'s exact setting (the closed form covers sigmoid, tanh, relu, linear).
CONTRACTIVE_LAMBDA = 1e-3


def _square_image(f: dict[str, Any]) -> tuple[int, int, int] | None:
    if f.get("image_shape") is not None:
        return tuple(f["image_shape"])
    side = math.isqrt(f["input_dim"])
    return (1, side, side) if side * side == f["input_dim"] else None


def _quarter_lr(f: dict[str, Any]) -> float:
    """A quarter of the learning rate in use (`lr`, or the optimizer's Keras default)."""
    return TrainConfig(optimizer=f["optimizer"], lr=f["lr"]).learning_rate / 4


def conv_stages(image_shape: tuple[int, ...]) -> int:
    """Conv stages (each halves the image) for an image: until both sides are ≤ 4 pixels, at least 3 (the Keras
    blog's for 28×28); 64×64 has 4 (→ 4×4), 128×128 has 5."""
    _, h, w = image_shape
    n = 0
    while max(h, w) > 4:
        h, w, n = -(-h // 2), -(-w // 2), n + 1
    return max(3, n)


def _conv_hidden(f: dict[str, Any]) -> tuple[int, ...]:
    """The Keras blog's channels (16, 8) before the code; larger images get stages of 32 channels in front."""
    shape = f["image_shape"] or _square_image(f)
    return (16, 8) if shape is None else (32,) * (conv_stages(shape) - 3) + (16, 8)


def _conv_code(f: dict[str, Any], channels: int | None = None) -> int:
    shape = f["image_shape"] or _square_image(f)
    if shape is None:  # no image: let ModelConfig say so
        return f["encoding_dim"]
    gh, gw = conv_grid(shape, len(f["hidden"]) + 1)
    channels = channels or (8 if shape[0] == 1 else 16)  # 8, as the Keras blog (4×4×8 = 128 for MNIST); colour 16
    return channels * gh * gw


def _anomaly_code(f: dict[str, Any]) -> int:
    """The anomaly recipe's conv code (`_conv_code`), cut to at most half the image's values where it would not be
    smaller than the image (5×5, or a strip 1 or 2 pixels high: 8 channels on a 2×2 grid are 32 values for 25; a
    code that can copy the image learns nothing of what is normal). 8×8 (32 of 64) and larger keep 8 channels."""
    code = _conv_code(f)
    shape = f["image_shape"] or _square_image(f)
    if shape is None or code < f["input_dim"]:
        return code
    gh, gw = conv_grid(shape, len(f["hidden"]) + 1)
    return max(1, f["input_dim"] // 2 // (gh * gw)) * gh * gw


def _full_resolution_code(f: dict[str, Any], channels: int) -> int:
    """A full-resolution code: `channels` feature maps of the image's size."""
    shape = f["image_shape"] or _square_image(f)
    return f["encoding_dim"] if shape is None else channels * shape[1] * shape[2]


def _conv(f: dict[str, Any]) -> bool:
    return f["architecture"] == "conv"


# the generative kinds' shared presets: dense 784-512-256-code or conv 32-64 channels; Adam; a linear code layer
_LATENT: dict[str, Any] = {
    "code_activation": "linear",
    "optimizer": "adam",
    "hidden": lambda f: (32, 64) if _conv(f) else (512, 256),
    "image_shape": lambda f: f["image_shape"] or (_square_image(f) if _conv(f) else None),
}
# a VAE's decoder: Bernoulli for the 'bce' loss ([0, 1] data), else Gaussian with a linear output
_VAE: dict[str, Any] = {
    "code": "gaussian",
    **_LATENT,
    "encoding_dim": lambda f: _conv_code(f) if _conv(f) else 32,
    "likelihood": lambda f: "bernoulli" if f["loss"] == "bce" else "gaussian",
    "output_activation": lambda f: "sigmoid" if f["likelihood"] == "bernoulli" else "linear",
}

# kind → {field: value or function of the resolved fields}. Sources of the figures are in docs/kinds.md.
KINDS: dict[str, dict[str, Any]] = {
    # the Keras tutorial: a code smaller than the input (784 → 32)
    "undercomplete": {},
    # a code as large as the input / twice as large: it can learn the identity unless penalised or corrupted
    "complete": {"encoding_dim": lambda f: f["input_dim"]},
    "overcomplete": {"encoding_dim": lambda f: 2 * f["input_dim"]},
    # Keras blog: activity_regularizer=regularizers.l1(10e-5), i.e. λ = 1e-4 on Σ|h| per sample
    "sparse": {"l1": 1e-4},
    # UFLDL's sparse autoencoder exercise: 196 sigmoid units, ρ 0.1, β 3, weight decay 3e-3, squared error.
    # UFLDL sums ½‖x̂ − x‖² over the pixels; our 'mse' averages over them, so β and λ are divided by
    # input_dim / 2 — the same objective divided by a constant (392 for MNIST), with the same minimiser.
    "sparse-kl": {
        "encoding_dim": 196,
        "code_activation": "sigmoid",
        "loss": "mse",
        "kl_rho": 0.1,
        "kl_beta": lambda f: 3.0 / (f["input_dim"] / 2),
        "weight_decay": lambda f: 3e-3 / (f["input_dim"] / 2),
    },
    # corrupt each batch afresh, reconstruct the clean input; --noise picks the type, the level follows it
    "denoising": {"noise": "gaussian"},
    # λ‖J_f(x)‖²_F on a one-layer code, where the closed form of Rifai et al. (2011) applies
    "contractive": {"contractive": CONTRACTIVE_LAMBDA},
    # the Keras blog's deep autoencoder 784-128-64-32-64-128-784
    "deep": {"hidden": (128, 64), "encoding_dim": 32},
    # Hinton & Salakhutdinov's (2006) 784-1000-500-250-30 shape with this project's recipe (docs/kinds.md): ELU, a
    # linear code, a little weight decay, Adam with a cosine decay to a quarter of its learning rate, and a moving
    # average of the weights
    "deep-hinton": {
        "hidden": (1000, 500, 250),
        "encoding_dim": 30,
        "activation": "elu",
        "code_activation": "linear",
        "optimizer": "adam",
        "batch_size": 128,
        "epochs": 150,
        "weight_decay": 5e-6,
        "schedule": "cosine",
        "min_lr": lambda f: _quarter_lr(f) if f["schedule"] == "cosine" else 0.0,
        "ema": 0.999,
    },
    # the Keras blog's convolutional autoencoder: 16-8-8 channels, a 4×4×8 code for 28×28×1 images; for images over
    # 32 pixels a stage of 32 channels in front per doubling (64×64: 32-16-8-8, a 4×4 code), 16 code channels for colour
    "conv": {"architecture": "conv", "image_shape": _square_image, "hidden": _conv_hidden, "encoding_dim": _conv_code},
    # Kingma & Welling's VAE: a Gaussian code, a KL term, a likelihood decoder; loss = −ELBO in nats per row
    "vae": _VAE,
    # Higgins et al.'s β-VAE: the KL term weighted by β = 4
    "beta-vae": {**_VAE, "beta": 4.0},
    # Sohn et al.'s conditional VAE: the VAE with a label's one-hot joined to the encoder's and the decoder's input
    # (10 classes, MNIST's; `aekit train` counts the data's classes)
    "cvae": {**_VAE, "n_classes": 10},
    # van den Oord et al.'s VQ-VAE: 512 code vectors (dense: 8 vectors of 8 values; conv: one per grid cell)
    "vq-vae": {"code": "categorical", **_LATENT, "encoding_dim": lambda f: _conv_code(f) if _conv(f) else 64},
    # the denoising recipe for images (`aekit train --recipe denoise`; docs/uses.md): a conv autoencoder with a 7×7×32
    # code for 28×28 images whose last block also sees the noisy input (skip) and whose output is that input plus a
    # learned correction, clipped to [0, 1] (global residual), trained by MSE (PSNR's error) on every row's own noise
    # (gaussian, masking or salt-and-pepper at a random level), so one run denoises any of them
    "denoising-conv": {
        "architecture": "conv",
        "hidden": (16,),
        "skip": True,
        "global_residual": True,
        "output_activation": "clip",
        "loss": "mse",
        "image_shape": _square_image,
        "encoding_dim": lambda f: _conv_code(f, 32),
        "noise": "mixed",
        "noise_level": 0.6,
        "optimizer": "adam",
        "lr": 2e-3,
        "batch_size": 64,
        "schedule": "onecycle",
        "epochs": 10,
    },
    # the denoising network for photographs (docs/uses.md): DnCNN-like (Zhang et al. 2017), eight 3×3 conv layers of 32
    # channels at full resolution (no pooling; the code is 32 feature maps of the image's size), the output the noisy
    # input minus the estimated noise; MSE (PSNR is MSE), gaussian noise σ 25 of 255, one-cycle Adam, 3 epochs
    "denoising-photo": {
        "architecture": "conv",
        "full_resolution": True,
        "hidden": (32, 32, 32),
        "image_shape": _square_image,
        "encoding_dim": lambda f: _full_resolution_code(f, 32),
        "output_activation": "linear",
        "loss": "mse",
        "noise": "gaussian",
        "noise_level": round(25 / 255, 4),
        "optimizer": "adam",
        "lr": 2e-3,
        "batch_size": 32,
        "schedule": "onecycle",
        "epochs": 3,
    },
    # the anomaly recipe (`aekit.uses.detector.fit_detector`, docs/uses.md): for images a conv autoencoder (16
    # channels, a code of 8 channels on a quarter-size grid), scored by its code's local outlier factor among the
    # normal codes; for other tables a dense one (8×, then ½× the columns, ELU, linear code) scored by reconstruction
    # error, each column's scaled by its error on held-out normal rows
    "anomaly": {
        "architecture": lambda f: "conv" if _square_image(f) else "dense",
        "image_shape": lambda f: _square_image(f) if f["architecture"] == "conv" else None,
        "hidden": lambda f: (16,) if f["architecture"] == "conv" else (8 * f["input_dim"],),
        "encoding_dim": lambda f: _anomaly_code(f) if f["architecture"] == "conv" else max(2, f["input_dim"] // 2),
        "activation": lambda f: "relu" if f["architecture"] == "conv" else "elu",
        "code_activation": lambda f: "relu" if f["architecture"] == "conv" else "linear",
        "optimizer": "adam",
        "batch_size": 64,
        "epochs": lambda f: 3 if f["architecture"] == "conv" else 30,
        "min_steps": lambda f: 300 if f["architecture"] == "conv" else 600,  # small data: more epochs
    },
}

# What each kind is, in one line, for `aekit kinds` (a kind missing here is listed with its presets only).
DESCRIPTIONS: dict[str, str] = {
    "undercomplete": "a code smaller than the input: the Keras tutorial's 784 → 32 → 784 (the default)",
    "complete": "a code as large as the input; learns the identity unless penalised or corrupted",
    "overcomplete": "a code twice the input's size; learns the identity unless penalised or corrupted",
    "sparse": "L1 penalty on the code activations (the Keras blog's activity_regularizer)",
    "sparse-kl": "KL sparsity penalty on a sigmoid code, with weight decay (UFLDL's sparse autoencoder)",
    "denoising": "fresh noise on each batch's input, the clean input as target (--noise picks the type)",
    "contractive": "penalty on the encoder's Jacobian norm ‖J_f(x)‖²_F (Rifai et al. 2011)",
    "deep": "hidden layers between input and code (the Keras blog's 784-128-64-32 autoencoder)",
    "deep-hinton": "Hinton & Salakhutdinov's 784-1000-500-250-30, with its own training recipe",
    "conv": "the Keras blog's convolutional autoencoder (Conv2d encoder, upsampling decoder) for images",
    "vae": "a variational autoencoder: a Gaussian code (μ, log σ²), the loss a negative ELBO in nats",
    "beta-vae": "a β-VAE: the VAE with its KL term weighted by β = 4 (disentangled codes)",
    "cvae": "a conditional VAE: a label's one-hot joins encoder and decoder input; `aekit sample --label 7`",
    "vq-vae": "a VQ-VAE: a discrete codebook, straight-through gradients, commitment loss, EMA updates",
    "denoising-conv": (
        "image denoising (--recipe denoise): conv, input joined to the last block, output = input + a correction"
    ),
    "denoising-photo": "photograph denoising: DnCNN-like full-resolution conv predicting the noise; gaussian σ 25/255",
    "anomaly": "anomaly scoring (--recipe anomaly): conv for images, scored by the LOF of codes; dense for tables",
}

# How a derived preset is computed, shown beside its value for 784 inputs
_DERIVED = {
    ("complete", "encoding_dim"): "input_dim",
    ("overcomplete", "encoding_dim"): "2 × input_dim",
    ("sparse-kl", "kl_beta"): "3 / (input_dim / 2)",
    ("sparse-kl", "weight_decay"): "3e-3 / (input_dim / 2)",
    ("deep-hinton", "min_lr"): "lr / 4",
    ("conv", "image_shape"): "a square image",
    ("conv", "encoding_dim"): "8 channels × the code grid",
    ("denoising-photo", "image_shape"): "a square image",
    ("denoising-photo", "encoding_dim"): "32 channels × the image",
}

# a use's recipe (`aekit train --recipe NAME`) is the kind that use is best served by
USE_RECIPES = {"denoise": "denoising-conv", "anomaly": "anomaly"}

_MODEL_FIELDS = {f.name for f in fields(ModelConfig)}
_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}


def kind_names() -> tuple[str, ...]:
    return tuple(KINDS)


def kinds_table() -> str:
    """The kinds as text, for `aekit kinds`: each name and what it does, then the options it presets (their values
    for 784 inputs, as MNIST; explicit options win over them)."""
    width = max(len(name) for name in KINDS) + 2
    lines = [f"{'kind':<{width}}what it does / what it presets (for 784 inputs; explicit options win)"]
    for name, preset in KINDS.items():
        try:
            model, train = configure(name)
            resolved = {**vars(model), **vars(train)}
        except ConfigError:
            resolved = {}
        shown = []
        for key, value in preset.items():
            value = resolved.get(key, value)
            text = (
                ",".join(map(str, value))
                if isinstance(value, tuple)
                else f"{value:g}"
                if isinstance(value, float)
                else value
            )
            how = _DERIVED.get((name, key))
            shown.append(f"{key.replace('_', '-')} {text}" + (f" (= {how})" if how else ""))
        lines.append(f"{name:<{width}}{DESCRIPTIONS.get(name, '')}".rstrip())
        lines += textwrap.wrap(
            "presets: " + "; ".join(shown) if shown else "presets: none (the defaults)",
            100,
            initial_indent=" " * width,
            subsequent_indent=" " * (width + 2),
            break_on_hyphens=False,
        )
    return "\n".join(lines)


def configure(kind: str = "undercomplete", **explicit: Any) -> tuple[ModelConfig, TrainConfig]:
    """The (ModelConfig, TrainConfig) of `kind`, with `explicit` fields (of either config) winning over its presets.

    ``seed`` goes to both configs. ``input_dim`` defaults to 784 (MNIST); pass the data's for other data.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown kind {kind!r}; choose one of: {', '.join(KINDS)}")
    unknown = sorted(set(explicit) - _MODEL_FIELDS - _TRAIN_FIELDS)
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_MODEL_FIELDS | _TRAIN_FIELDS))}"
        )
    preset = KINDS[kind]
    resolved: dict[str, Any] = {f.name: f.default for f in fields(ModelConfig)}
    resolved.update({f.name: f.default for f in fields(TrainConfig) if f.name not in resolved})
    resolved.update({k: v for k, v in preset.items() if not callable(v)})
    resolved.update(explicit)
    for name, value in preset.items():  # derived presets, in table order, unless given explicitly
        if callable(value) and name not in explicit:
            resolved[name] = value(resolved)
    if "epochs" in explicit and "min_steps" not in explicit:
        resolved["min_steps"] = 0  # an epoch count given wins over a preset's least number of steps
    if resolved["noise"] in DEFAULT_NOISE_LEVEL and "noise_level" not in explicit and not resolved["noise_level"]:
        resolved["noise_level"] = DEFAULT_NOISE_LEVEL[resolved["noise"]]  # any kind: a noise type brings its level
    model = ModelConfig(**{k: v for k, v in resolved.items() if k in _MODEL_FIELDS})
    train = TrainConfig(**{k: v for k, v in resolved.items() if k in _TRAIN_FIELDS})
    return model, train


class IdentityWarning(AekitWarning):
    """A code at least as large as the input, trained with nothing that stops it copying the input."""


def identity_risk(model_config: ModelConfig, train_config: TrainConfig) -> bool:
    """True for a complete/overcomplete deterministic code with no code penalty (l1, KL, contractive) and no
    corruption. A VAE's Gaussian code (its KL term) and a VQ-VAE's codebook hold the code back themselves.

    Weight decay alone does not count: it shrinks the weights but leaves the identity within reach.
    """
    regularised = train_config.l1 or train_config.kl_beta or train_config.contractive or train_config.noise != "none"
    return model_config.is_overcomplete and model_config.code == "deterministic" and not regularised


def warn_identity_risk(model_config: ModelConfig, train_config: TrainConfig, stacklevel: int = 3) -> None:
    """`warnings.warn` an IdentityWarning when `identity_risk` holds."""
    if identity_risk(model_config, train_config):
        warnings.warn(
            f"the code ({model_config.encoding_dim} units) is not smaller than the input ({model_config.input_dim}) "
            "and nothing stops it learning the identity; add a penalty "
            f"({option('l1')}, {option('kl_beta')}, {option('contractive')}) or input noise ({option('noise')}), "
            f"or make {option('encoding_dim')} smaller",
            IdentityWarning,
            stacklevel=stacklevel,
        )


__all__ = [
    "KINDS",
    "DESCRIPTIONS",
    "USE_RECIPES",
    "configure",
    "kind_names",
    "kinds_table",
    "identity_risk",
    "warn_identity_risk",
    "IdentityWarning",
    "DEFAULT_NOISE_LEVEL",
]
