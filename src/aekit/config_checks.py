"""The checks behind `aekit.config`'s dataclasses: small validators, and the ModelConfig checks of its code and of
the structural flags that depend on the architecture (kept here so that config.py stays a page of fields)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from aekit.errors import ConfigError, option

if TYPE_CHECKING:
    from aekit.config import ModelConfig

CODES = ("deterministic", "gaussian", "categorical")  # a plain code, a VAE's Gaussian code, a VQ-VAE's codebook


def named(name: str) -> str:
    """`name` in a message: a field's name (``epochs``) as an `option`, which the CLI prints as its flag; prose
    (``each hidden size``) as it is."""
    return option(name) if name.isidentifier() else name


def must_be(name: str, value: Any, cls: type | tuple[type, ...], fix: str) -> None:
    """Refuse a `value` of `name` that is not a `cls` (the first of a tuple names it in the message; a dict for a
    config, None for a model), saying what to pass."""
    if not isinstance(value, cls):
        want = (cls[0] if isinstance(cls, tuple) else cls).__name__
        article = "an" if want[0] in "AEIOU" else "a"
        raise ConfigError(f"{named(name)} must be {article} {want}, got {type(value).__name__}; {fix}")


def choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {named(name)} {value!r}; choose one of: {', '.join(allowed)}")


def positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{named(name)} must be a positive integer, got {value!r}; pass a whole number ≥ 1")


def non_negative(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{named(name)} must be a finite number ≥ 0, got {value!r}")


def conv_grid(image_shape: tuple[int, ...], n_pools: int) -> tuple[int, int]:
    """Height and width after `n_pools` 2×2 max-pools with 'same' padding (28 → 14 → 7 → 4)."""
    _, h, w = image_shape
    for _ in range(n_pools):
        h, w = -(-h // 2), -(-w // 2)
    return h, w


def check_conv_code(cfg: ModelConfig) -> None:
    """For 'conv', `hidden` are the encoder's channel counts and the code is channels × grid (the image's own size
    for a full-resolution model)."""
    h, w = conv_grid(cfg.image_shape, 0 if cfg.full_resolution else len(cfg.hidden) + 1)
    if cfg.encoding_dim % (h * w):
        raise ConfigError(
            f"a conv code is channels × {h}×{w} for image_shape {cfg.image_shape} "
            f"and {len(cfg.hidden)} hidden conv layers, "
            f"so {option('encoding_dim')} must be a multiple of {h * w}, got {cfg.encoding_dim}; "
            f"pass e.g. {8 * h * w} (8 channels)"
        )


def check_code(cfg: ModelConfig) -> None:
    """The code: its type, and a codebook's size, vector size and decay."""
    choice("code", cfg.code, CODES)
    positive_int("codebook_size", cfg.codebook_size)
    if isinstance(cfg.codebook_dim, bool) or not isinstance(cfg.codebook_dim, int) or cfg.codebook_dim < 0:
        raise ConfigError(
            f"{option('codebook_dim')} must be a whole number ≥ 0 (0: from the code), got {cfg.codebook_dim!r}"
        )
    if (
        not isinstance(cfg.codebook_decay, (int, float))
        or isinstance(cfg.codebook_decay, bool)
        or not 0 <= cfg.codebook_decay < 1
    ):
        raise ConfigError(
            f"{option('codebook_decay')} must lie in [0, 1) (0.99 is usual; 0 learns the codebook by gradient), "
            f"got {cfg.codebook_decay!r}"
        )
    if cfg.code == "categorical" and cfg.encoding_dim % cfg.code_vector_dim:
        raise ConfigError(
            f"a categorical code of {cfg.encoding_dim} values cannot be cut into code vectors of "
            f"{cfg.code_vector_dim}; pass a {option('codebook_dim')} that divides {option('encoding_dim')}"
        )
    if cfg.code == "categorical" and cfg.architecture == "conv" and cfg.codebook_dim:
        h, w = conv_grid(cfg.image_shape, len(cfg.hidden) + 1)
        if cfg.codebook_dim != cfg.encoding_dim // (h * w):
            channels = cfg.encoding_dim // (h * w)
            raise ConfigError(
                f"a conv code is quantised per grid cell, so {option('codebook_dim')} must be its {channels} "
                f"channels; drop {option('codebook_dim')} or change {option('encoding_dim')}"
            )


def check_structure(cfg: ModelConfig) -> None:
    """Label conditioning, the skip, the global residual and full resolution: each only where the architecture and
    the code allow it."""
    if isinstance(cfg.n_classes, bool) or not isinstance(cfg.n_classes, int) or cfg.n_classes < 0:
        raise ConfigError(f"{option('n_classes')} must be a whole number ≥ 0 (0: no labels), got {cfg.n_classes!r}")
    if cfg.n_classes and cfg.architecture != "dense":
        raise ConfigError(
            f"label conditioning (cvae, n_classes {cfg.n_classes}) is built for the dense architecture only; "
            f"drop {option('architecture', 'conv')}"
        )
    if not isinstance(cfg.skip, bool) or (cfg.skip and (cfg.architecture != "conv" or cfg.code != "deterministic")):
        raise ConfigError(
            f"{option('skip')} (the input joining the decoder's last block) is true or false, and true only for "
            f"a 'conv' architecture with a deterministic code; got skip={cfg.skip!r} with "
            f"{cfg.architecture!r}, code {cfg.code!r}"
        )
    if not isinstance(cfg.global_residual, bool) or (cfg.global_residual and not cfg.skip):
        raise ConfigError(
            f"{option('global_residual')} (the output = the input + a learned correction) is true or false, and "
            f"true only with {option('skip', True)} (a conv decoder that sees the input); got {cfg.global_residual!r}"
        )
    if not isinstance(cfg.full_resolution, bool) or (
        cfg.full_resolution and (cfg.architecture != "conv" or cfg.code != "deterministic" or cfg.skip)
    ):
        raise ConfigError(
            f"{option('full_resolution')} is true or false, and true only for a 'conv' architecture with a "
            f"deterministic code and no skip; got full_resolution={cfg.full_resolution!r} with "
            f"{cfg.architecture!r}, code {cfg.code!r}, skip {cfg.skip!r}; "
            f"drop {option('full_resolution')} or those settings"
        )
