"""Configurations: frozen dataclasses, validated on creation, saved as JSON beside the weights.

`ModelConfig` describes the network; `TrainConfig` describes how it is trained, including the terms
that make an autoencoder sparse, contractive or denoising (a kind is configuration, not a class).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, fields
from typing import Any

from aekit.config_checks import (  # noqa: F401 (CODES and conv_grid are config's names too)
    CODES,
    check_code,
    check_conv_code,
    check_structure,
    choice,
    conv_grid,
    non_negative,
    positive_int,
)
from aekit.errors import ConfigError, option

ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear", "elu", "leaky_relu", "gelu", "clip")  # clip: to [0, 1]
LOSSES = ("bce", "mse")
OPTIMIZERS = ("adadelta", "adam", "sgd")
NOISES = ("none", "gaussian", "masking", "salt_pepper", "mixed")
SCHEDULES = ("constant", "onecycle", "cosine")
ARCHITECTURES = ("dense", "conv")
PRECISIONS = ("float32", "bfloat16")
MODEL_SCALES = ("none", "standard", "minmax")  # a model's input scaling ('auto' is decided from the data by train)
# Keras' names, accepted beside aekit's and stored as aekit's (`loss="binary_crossentropy"` is stored as 'bce')
KERAS_NAMES = {
    "binary_crossentropy": "bce",
    "mean_squared_error": "mse",
    "Adadelta": "adadelta",
    "Adam": "adam",
    "SGD": "sgd",
}
LIKELIHOODS = ("bernoulli", "gaussian")  # decoder distributions whose negative log-likelihood is the recon term
BINARIZE = ("none", "dynamic")


@dataclass(frozen=True)
class ModelConfig:
    input_dim: int = 784  # features per row (784 = a flattened 28×28 MNIST image)
    encoding_dim: int = 32  # size of the code, the bottleneck (32 in the Keras tutorial)
    hidden: tuple[
        int, ...
    ] = ()  # hidden layer sizes from input to code (deep: 128,64), for 'conv' channels (16,8); mirrored in the decoder
    activation: str = "relu"  # activation of the hidden layers
    code_activation: str = "relu"  # activation of the code layer (sigmoid for KL sparsity and closed-form CAE)
    output_activation: str = "sigmoid"  # activation of the reconstruction (sigmoid for [0,1] data, linear else)
    architecture: str = "dense"  # 'dense' (Linear layers) or 'conv' (Conv2d encoder, upsampling decoder)
    image_shape: tuple[int, ...] | None = None  # (channels, height, width) of image inputs; needed for 'conv'
    seed: int = 0  # seed of the weight initialisation (glorot-uniform weights, zero biases, as Keras)
    scale: str = "none"  # input scaling kept in the model file: 'none', 'standard' (per column) or 'minmax' (to [0, 1])
    code: str = "deterministic"  # 'gaussian': a VAE's code (μ, log σ²); 'categorical': a VQ-VAE's codebook
    codebook_size: int = 512  # 'categorical': code vectors in the codebook
    codebook_dim: int = 0  # 'categorical': values per code vector (0: a conv code's channels, else 1/8 of the code)
    codebook_decay: float = 0.99  # 'categorical': EMA decay of the codebook (0: learned by gradient, a codebook loss)
    skip: bool = False  # conv: the decoder's last block also sees the input image (U-Net-like skip; for denoising)
    global_residual: bool = False  # with skip: the output is output_activation(input + the decoder's correction)
    full_resolution: bool = False  # conv: no pooling, output = input − a noise estimate (DnCNN; aekit.full_resolution)
    n_classes: int = 0  # > 0: a label's one-hot joins the encoder's and the decoder's input (cvae; dense only)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, str) or not hasattr(self.hidden, "__iter__"):  # 64 or "64,32": not a list of sizes
            raise ConfigError(f"{option('hidden')} must be a list of layer sizes, got {self.hidden!r}; e.g. (128, 64)")
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.image_shape is not None:
            object.__setattr__(self, "image_shape", tuple(self.image_shape))
        positive_int("input_dim", self.input_dim)
        positive_int("encoding_dim", self.encoding_dim)
        for h in self.hidden:
            positive_int("each hidden size", h)
        for name in ("activation", "code_activation", "output_activation"):
            choice(name, getattr(self, name), ACTIVATIONS)
        choice("architecture", self.architecture, ARCHITECTURES)
        if self.scale == "auto":
            raise ConfigError(
                "scale 'auto' is decided from the data by aekit.train (or `aekit train --scale auto`); "
                "a model stores the outcome: none, standard or minmax"
            )
        choice("scale", self.scale, MODEL_SCALES)
        if self.image_shape is not None:
            if len(self.image_shape) != 3 or any(
                isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in self.image_shape
            ):
                raise ConfigError(
                    f"{option('image_shape')} must be (channels, height, width) of positive ints, "
                    f"got {self.image_shape}"
                )
            c, h, w = self.image_shape
            if c * h * w != self.input_dim:
                raise ConfigError(
                    f"{option('image_shape')} {self.image_shape} holds {c * h * w} values but "
                    f"{option('input_dim')} is {self.input_dim}; "
                    "make them agree"
                )
        if self.architecture == "conv" and self.image_shape is None:
            raise ConfigError(
                "the 'conv' architecture needs images (an image_shape of channels, height, width); train it on a "
                "folder of images, a .npy of images (n, h, w) or an image dataset such as MNIST, or a table with a "
                "dense kind (undercomplete, deep)"
            )
        if self.architecture == "conv":
            check_conv_code(self)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**64:
            raise ConfigError(
                f"{option('seed')} must be a whole number from 0 to 2**64 - 1 (numpy's range), got {self.seed!r}"
            )
        check_code(self)
        check_structure(self)

    @property
    def code_vector_dim(self) -> int:
        """Values per code vector of a categorical code: `codebook_dim`, else the conv code's channels, else 1/8."""
        if self.codebook_dim:
            return self.codebook_dim
        if self.architecture == "conv":
            h, w = conv_grid(self.image_shape, len(self.hidden) + 1)
            return max(1, self.encoding_dim // (h * w))
        return max(1, self.encoding_dim // 8) if self.encoding_dim % 8 == 0 else self.encoding_dim

    @property
    def is_generative(self) -> bool:
        """True for a code with a prior to sample from (a VAE's Gaussian code)."""
        return self.code == "gaussian"

    @property
    def is_overcomplete(self) -> bool:
        """True when the code is at least as large as the input (it can learn the identity)."""
        return self.encoding_dim >= self.input_dim


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100  # passes over the training data
    batch_size: int = 256  # rows per gradient step
    optimizer: str = "adadelta"  # 'adadelta' (the tutorial's), 'adam' or 'sgd'
    lr: float | None = None  # learning rate; None = the optimizer's Keras 2 default (adadelta 1.0, adam 1e-3, sgd 0.01)
    loss: str = "bce"  # reconstruction loss: 'bce' (binary cross-entropy, data in [0,1]) or 'mse'
    shuffle: bool = True  # reshuffle the training rows every epoch
    shuffle_block: int = (
        1  # rows that stay together when shuffling; > 1 reads a memmap in runs (faster), batches less mixed
    )
    seed: int = 0  # seed of shuffling and input corruption (the model's init has its own in ModelConfig)
    weight_decay: float = 0.0  # L2 penalty on the weights, λ/2·Σw² added to the loss (UFLDL uses 3e-3)
    l1: float = 0.0  # L1 activity penalty on the code, λ·Σ|h|/batch (Keras activity_regularizer=l1(λ))
    kl_beta: float = 0.0  # weight β of the KL sparsity penalty Σ_j KL(ρ‖ρ̂_j) (UFLDL uses 3; needs a sigmoid code)
    kl_rho: float = 0.05  # target mean activation ρ of each code unit for the KL penalty (UFLDL uses 0.1)
    contractive: float = 0.0  # weight λ of the contractive penalty ‖J_f(x)‖²_F (Rifai et al. 2011)
    noise: str = "none"  # input corruption for denoising: 'none', 'gaussian', 'masking' or 'salt_pepper'
    noise_level: float = 0.0  # σ for gaussian noise, else the fraction of inputs corrupted
    patience: int = 0  # early stopping: epochs without val_loss improvement before stopping (0 = off)
    min_delta: float = 0.0  # early stopping: the smallest decrease of val_loss that counts as improvement
    restore_best: bool = True  # early stopping: end with the weights of the best epoch
    # learning rate over the run: 'constant', 'onecycle' (warm-up, then cosine decay) or 'cosine' (decay to min_lr)
    schedule: str = "constant"
    min_lr: float = 0.0  # where the 'cosine' schedule ends (0: it decays to 0)
    compile: bool = (
        False  # torch.compile the training step: ~10 s once, then faster epochs (one process; needs a C++ compiler)
    )
    # 'bfloat16': the training step's matrix products in bfloat16 (autocast); weights, losses, validation stay float32
    precision: str = "float32"
    # decay of a moving average of the weights (ramped up over the first steps), e.g. 0.999 (0 = off);
    # validation and the final model use it
    ema: float = 0.0
    # recon as a negative log-likelihood in nats per row: 'bernoulli' ([0,1] data) or 'gaussian' (unit variance)
    likelihood: str | None = None
    beta: float = 1.0  # weight of a Gaussian code's KL term (β-VAE: > 1)
    kl_warmup: int = 0  # epochs over which the KL weight ramps linearly from β/N to β (0: off)
    iw_samples: int = 1  # K > 1: train on the importance-weighted bound with K samples (IWAE)
    binarize: str = "none"  # 'dynamic': each batch's pixels drawn as Bernoulli of their intensity (binarised MNIST)
    commitment: float = 0.25  # weight of a categorical code's commitment loss (VQ-VAE)
    # the step's gradients in closed form where the model allows (dense layers, BCE/MSE; training/analytic.py);
    # False: always autograd (for debugging; the same results to float rounding)
    analytic_grad: bool = True
    # at least this many gradient steps: `aekit.train` (and the anomaly recipe) raise epochs for small data (0: off)
    min_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("loss", "optimizer"):  # Keras' names are stored as aekit's
            value = getattr(self, name)
            if isinstance(value, str) and value in KERAS_NAMES:
                object.__setattr__(self, name, KERAS_NAMES[value])
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        positive_int("shuffle_block", self.shuffle_block)
        choice("optimizer", self.optimizer, OPTIMIZERS)
        choice("loss", self.loss, LOSSES)
        choice("noise", self.noise, NOISES)
        choice("schedule", self.schedule, SCHEDULES)
        choice("precision", self.precision, PRECISIONS)
        if self.lr is not None:
            non_negative("lr", self.lr)
            if self.lr == 0:
                raise ConfigError(f"{option('lr')} must be greater than 0; pass a positive learning rate or omit it")
        for name in ("weight_decay", "l1", "kl_beta", "contractive", "noise_level", "min_delta", "min_lr"):
            non_negative(name, getattr(self, name))
        if self.min_lr and self.schedule != "cosine":
            raise ConfigError(
                f"{option('min_lr')} is where the 'cosine' schedule ends, but the schedule is {self.schedule!r}; "
                f"pass {option('schedule', 'cosine')} or drop {option('min_lr')}"
            )
        if self.min_lr and self.min_lr >= self.learning_rate:
            raise ConfigError(
                f"{option('min_lr')} {self.min_lr:g} must be below the learning rate {self.learning_rate:g} where the "
                f"cosine schedule starts; pass a smaller {option('min_lr')}"
            )
        if isinstance(self.ema, bool) or not isinstance(self.ema, (int, float)) or not 0 <= self.ema < 1:
            raise ConfigError(
                f"{option('ema')} is the decay of the weights' moving average and must lie in [0, 1) "
                f"(e.g. 0.999; 0 turns it off), got {self.ema!r}"
            )
        if not 0 < self.kl_rho < 1:
            raise ConfigError(f"{option('kl_rho')} must lie strictly between 0 and 1, got {self.kl_rho!r}")
        if self.noise in ("masking", "salt_pepper", "mixed") and not self.noise_level <= 1:
            raise ConfigError(
                f"{option('noise_level')} is a fraction for {self.noise!r} noise and must be ≤ 1, "
                f"got {self.noise_level}"
            )
        if self.noise != "none" and self.noise_level == 0:
            raise ConfigError(
                f"{self.noise!r} noise needs a {option('noise_level')} > 0 (e.g. 0.5 for gaussian, 0.25 for masking)"
            )
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 0:
            raise ConfigError(
                f"{option('patience')} must be an integer ≥ 0 (0 turns early stopping off), got {self.patience!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**64:
            raise ConfigError(
                f"{option('seed')} must be a whole number from 0 to 2**64 - 1 (numpy's range), got {self.seed!r}"
            )
        if not isinstance(self.compile, bool):
            raise ConfigError(f"{option('compile')} must be true or false, got {self.compile!r}")
        if not isinstance(self.analytic_grad, bool):
            raise ConfigError(f"{option('analytic_grad')} must be true or false, got {self.analytic_grad!r}")
        if self.likelihood is not None:
            choice("likelihood", self.likelihood, LIKELIHOODS)
        choice("binarize", self.binarize, BINARIZE)
        non_negative("beta", self.beta)
        non_negative("commitment", self.commitment)
        positive_int("iw_samples", self.iw_samples)
        if isinstance(self.min_steps, bool) or not isinstance(self.min_steps, int) or self.min_steps < 0:
            raise ConfigError(f"{option('min_steps')} must be a whole number ≥ 0 (0: off), got {self.min_steps!r}")
        if isinstance(self.kl_warmup, bool) or not isinstance(self.kl_warmup, int) or self.kl_warmup < 0:
            raise ConfigError(
                f"{option('kl_warmup')} must be a whole number of epochs ≥ 0 (0: off), got {self.kl_warmup!r}"
            )
        if self.iw_samples > 1 and (self.beta != 1 or self.kl_warmup):
            raise ConfigError(
                f"{option('iw_samples')} > 1 trains on the importance-weighted bound, which has no KL weight; "
                f"drop {option('beta')} and {option('kl_warmup')}, or train with {option('iw_samples', 1)}"
            )
        if self.binarize == "dynamic" and self.likelihood == "gaussian":
            raise ConfigError(
                f"binarised pixels are 0 or 1: use the Bernoulli decoder ({option('likelihood', 'bernoulli')})"
            )

    def for_rows(self, rows: int) -> "TrainConfig":
        """This config with epochs raised, where `rows` training rows make fewer than `min_steps` steps in all.

        >>> TrainConfig(epochs=30, batch_size=64, min_steps=600).for_rows(300).epochs  # 5 steps an epoch
        120
        """
        steps = -(-rows // self.batch_size)
        if not self.min_steps or not steps or self.epochs * steps >= self.min_steps:
            return self
        return replace(self, epochs=-(-self.min_steps // steps))

    @property
    def learning_rate(self) -> float:
        """The learning rate in use: `lr`, or the optimizer's Keras 2 default."""
        return self.lr if self.lr is not None else {"adadelta": 1.0, "adam": 1e-3, "sgd": 0.01}[self.optimizer]


# Named starting points for TrainConfig; explicit fields win (`recipe("fast", epochs=20)`).
RECIPES: dict[str, dict[str, Any]] = {
    "tutorial": {},  # the Keras tutorial: adadelta, batch 256, 100 epochs
    "fast": {
        "optimizer": "adam",
        "lr": 1e-2,
        "batch_size": 512,
        "epochs": 10,
        "schedule": "onecycle",
    },  # see docs/performance.md
}


def recipe(name: str = "fast", **fields_: Any) -> TrainConfig:
    """A TrainConfig from a named recipe; keyword fields override the recipe's values."""
    choice("recipe", name, tuple(RECIPES))
    base = dict(RECIPES[name])
    if "optimizer" in fields_ and "lr" not in fields_:
        base.pop("lr", None)  # another optimizer: its own default learning rate, not the recipe's
    return TrainConfig(**{**base, **fields_})


def to_dict(config: ModelConfig | TrainConfig) -> dict[str, Any]:
    """A JSON-ready dict of a config (tuples become lists)."""
    return {f.name: (list(v) if isinstance(v := getattr(config, f.name), tuple) else v) for f in fields(config)}


def from_dict(cls: type, data: dict[str, Any]):
    """Build `cls` from a dict, refusing unknown keys with a clear message."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"unknown {cls.__name__} field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(known))}"
        )
    try:
        return cls(**data)
    except TypeError as exc:  # wrong type that __post_init__ did not catch
        raise ConfigError(f"invalid {cls.__name__}: {exc}") from None


def replace(config, **changes):
    """`dataclasses.replace` that validates again; an unknown field raises ConfigError naming the closest one."""
    known = sorted(f.name for f in fields(config))
    for name in changes:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(known)}"
            raise ConfigError(f"unknown {type(config).__name__} field {name!r}; {hint}")
    return dataclasses.replace(config, **changes)


__all__ = [
    "ModelConfig",
    "TrainConfig",
    "recipe",
    "RECIPES",
    "to_dict",
    "from_dict",
    "replace",
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "NOISES",
    "PRECISIONS",
    "MODEL_SCALES",
    "KERAS_NAMES",
]
