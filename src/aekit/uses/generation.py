"""Generation: draw new rows from a VAE (`aekit sample`), walk between two inputs (`aekit interpolate`), the 2-D
manifold grid and latent traversals. Each takes a run folder, a .safetensors file or a model and returns rows
(the decoder's mean, e.g. pixel intensities); `grid_figure` draws them.

>>> import aekit
>>> model = aekit.Autoencoder(aekit.configure("vae")[0])
>>> sample(model, 4).shape
(4, 784)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from aekit.codes import decode_codes, manifold_codes, path, prior_codes, require_generative, traversal_codes
from aekit.errors import ConfigError, DataError, option
from aekit.models import Autoencoder
from aekit.uses.inputs import as_input, load_any_model


def sample(
    model: Autoencoder | str | os.PathLike,
    n: int = 64,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    label: int | None = None,
) -> np.ndarray:
    """`n` new rows drawn from a generative model: codes from the prior N(0, I), decoded (the decoder's mean).

    `temperature` scales the prior's spread (below 1: more typical, less varied rows). `label` is refused: the
    conditional VAE is not in aekit yet.
    """
    model, _ = load_any_model(model)
    require_generative(model, "aekit sample")
    if label is not None:
        raise ConfigError(
            f"{option('label')} needs a conditional model (cvae), which aekit does not have yet; drop {option('label')}"
        )
    z = prior_codes(model, n, generator=torch.Generator().manual_seed(seed), temperature=temperature)
    return decode_codes(model, z).numpy()


@torch.no_grad()
def _codes_of(model: Autoencoder, x: Any) -> torch.Tensor:
    t = as_input(model, x)
    device = next(model.parameters()).device
    return model.encode(t.to(device)).float()


def interpolate(
    model: Autoencoder | str | os.PathLike, a: Any, b: Any, *, steps: int = 10, method: str = "linear"
) -> np.ndarray:
    """`steps` rows decoded along the path from the code of row `a` to that of row `b` (the ends included):
    'linear' or 'spherical' (for a VAE's Gaussian code). Works for any autoencoder; a VAE's codes are its means μ."""
    model, _ = load_any_model(model)
    model.eval()
    ends = _codes_of(model, np.stack([np.asarray(r, dtype=np.float32).reshape(-1) for r in (a, b)]))
    return decode_codes(model, path(ends[0], ends[1], steps, method)).numpy()


def manifold(model: Autoencoder | str | os.PathLike, n: int = 15) -> np.ndarray:
    """The decoded n × n grid of a 2-D Gaussian code at the prior's quantiles 5% … 95% (the Keras blog's figure),
    row by row from the top: shape (n·n, features)."""
    model, _ = load_any_model(model)
    require_generative(model, "the manifold grid")
    if model.config.encoding_dim != 2:
        raise ConfigError(
            f"the manifold grid draws a 2-D code, this one has {model.config.encoding_dim} units; "
            f"train with {option('encoding_dim', 2)}, or use `aekit sample`"
        )
    return decode_codes(model, manifold_codes(n)).numpy()


def traversals(
    model: Autoencoder | str | os.PathLike,
    x: Any,
    *,
    units: list[int] | None = None,
    n: int = 7,
    span: float = 3.0,
    max_units: int = 10,
) -> tuple[np.ndarray, list[int]]:
    """Latent traversals (β-VAE): starting from the code μ of row `x`, each unit in turn set to −span … span with
    the others fixed. `units` default to the `max_units` units with the largest KL (the active ones) on that row.
    Returns (rows of shape (len(units)·n, features), units)."""
    model, _ = load_any_model(model)
    require_generative(model, "latent traversals")
    row = as_input(model, np.asarray(x, dtype=np.float32).reshape(1, -1))
    with torch.no_grad():
        device = next(model.parameters()).device
        mu, logvar = model.latent.stats(model.encoder(row.to(device)).float())
    if units is None:
        from aekit.latents import gaussian_kl

        units = gaussian_kl(mu, logvar)[0].argsort(descending=True)[:max_units].tolist()
    bad = [u for u in units if not 0 <= u < model.config.encoding_dim]
    if bad:
        raise DataError(f"unit {bad[0]} is outside the code's 0…{model.config.encoding_dim - 1}; pick units inside it")
    return decode_codes(model, traversal_codes(mu[0], list(units), n, span)).numpy(), list(units)


def grid_figure(rows: np.ndarray, image_shape: tuple[int, int], *, ncols: int, titles=None):
    """A matplotlib Figure of `rows` as images, `ncols` a row (values shown in [0, 1])."""
    from aekit.reporting.plots import image_grid

    rows = np.clip(np.asarray(rows), 0.0, 1.0)
    return image_grid(rows, image_shape=image_shape, ncols=ncols, titles=titles, normalize="none")


__all__ = ["sample", "interpolate", "manifold", "traversals", "grid_figure"]
