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
from aekit.conditioning import cycling_labels
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

    `temperature` scales the prior's spread (below 1: more typical, less varied rows). A conditional model (cvae)
    draws rows of class `label`, or without one the classes in turn (0, 1, …: a grid ten wide shows a class a
    column); `label` on a model without labels is refused.
    """
    model, _ = load_any_model(model)
    require_generative(model, "aekit sample")
    _room_for(model, n, "draw fewer rows")
    z = prior_codes(model, n, generator=torch.Generator().manual_seed(seed), temperature=temperature)
    return decode_codes(model, z, labels=class_labels(model, n, label)).numpy()


def class_labels(model: Autoencoder, n: int, label: int | None = None) -> np.ndarray | None:
    """`n` labels for drawing from a cvae: all `label`, or the classes in turn; None for a plain model (which
    refuses a `label`)."""
    if label is not None and not model.conditional:
        raise ConfigError(
            f"{option('label')} draws one class of a conditional model (kind cvae), but this model is not "
            f"conditioned on labels; drop {option('label')} or train {option('kind', 'cvae')}"
        )
    return cycling_labels(n, model.config.n_classes, label) if model.conditional else None


@torch.no_grad()
def _codes_of(model: Autoencoder, x: Any) -> torch.Tensor:
    t = as_input(model, x)
    device = next(model.parameters()).device
    return model.encode(t.to(device)).float()


def interpolate(
    model: Autoencoder | str | os.PathLike,
    a: Any,
    b: Any,
    *,
    steps: int = 10,
    method: str = "linear",
    labels: tuple[int, int] | None = None,
) -> np.ndarray:
    """`steps` rows decoded along the path from the code of row `a` to that of row `b` (the ends included):
    'linear' or 'spherical' (for a VAE's Gaussian code). Works for any autoencoder; a VAE's codes are its means μ.
    A cvae needs the two rows' `labels`; the path is drawn in the class of `a` up to its middle, then of `b`."""
    model, _ = load_any_model(model)
    model.eval()
    _room_for(model, steps, f"pass fewer {option('steps')}")
    with model.conditioned(labels):
        ends = _codes_of(model, np.stack([np.asarray(r, dtype=np.float32).reshape(-1) for r in (a, b)]))
    along = None if labels is None else np.where(np.arange(steps) < steps / 2, labels[0], labels[1])
    return decode_codes(model, path(ends[0], ends[1], steps, method), labels=along).numpy()


def manifold(model: Autoencoder | str | os.PathLike, n: int = 15, label: int | None = None) -> np.ndarray:
    """The decoded n × n grid of a 2-D Gaussian code at the prior's quantiles 5% … 95% (the Keras blog's figure),
    row by row from the top: shape (n·n, features). A cvae draws it in class `label` (default 0)."""
    model, _ = load_any_model(model)
    label = 0 if label is None and model.conditional else label
    require_generative(model, "the manifold grid")
    if model.config.encoding_dim != 2:
        raise ConfigError(
            f"the manifold grid draws a 2-D code, this one has {model.config.encoding_dim} units; "
            f"train with {option('encoding_dim', 2)}, or use `aekit sample`"
        )
    _room_for(model, n * n if isinstance(n, int) else None, "draw a smaller grid")
    return decode_codes(model, manifold_codes(n), labels=class_labels(model, n * n, label)).numpy()


def _room_for(model: Autoencoder, rows: Any, fix: str) -> None:
    """Refuse, before anything is drawn, more decoded rows than the free memory holds (a count that is no positive
    whole number is left to the checks that name it)."""
    from aekit.training.memory import available_bytes, gib

    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        return
    need = 2 * 4 * rows * (model.config.input_dim + model.config.encoding_dim)  # float32 codes and rows, twice
    free = available_bytes(next(model.parameters()).device)
    if free is not None and need > free:
        raise ConfigError(f"{rows:,} rows need about {gib(need)} of memory, but only {gib(free)} is available; {fix}")


def traversals(
    model: Autoencoder | str | os.PathLike,
    x: Any,
    *,
    units: list[int] | None = None,
    n: int = 7,
    span: float = 3.0,
    max_units: int = 10,
    label: int | None = None,
) -> tuple[np.ndarray, list[int]]:
    """Latent traversals (β-VAE): starting from the code μ of row `x`, each unit in turn set to −span … span with
    the others fixed. `units` default to the `max_units` units with the largest KL (the active ones) on that row.
    Returns (rows of shape (len(units)·n, features), units). A cvae needs the row's `label`."""
    model, _ = load_any_model(model)
    require_generative(model, "latent traversals")
    row = as_input(model, np.asarray(x, dtype=np.float32).reshape(1, -1))
    with torch.no_grad(), model.conditioned(None if label is None else [label]):
        device = next(model.parameters()).device
        mu, logvar = model.latent.stats(model.encoder(row.to(device)).float())
    if units is None:
        from aekit.latents import gaussian_kl

        units = gaussian_kl(mu, logvar)[0].argsort(descending=True)[:max_units].tolist()
    bad = [u for u in units if not 0 <= u < model.config.encoding_dim]
    if bad:
        raise DataError(f"unit {bad[0]} is outside the code's 0…{model.config.encoding_dim - 1}; pick units inside it")
    z = traversal_codes(mu[0], list(units), n, span)
    along = None if label is None else np.full(len(z), label)
    return decode_codes(model, z, labels=along).numpy(), list(units)


def grid_figure(rows: np.ndarray, image_shape: tuple[int, int], *, ncols: int, titles=None):
    """A matplotlib Figure of `rows` as images, `ncols` a row (values shown in [0, 1])."""
    from aekit.reporting.plots import image_grid

    rows = np.clip(np.asarray(rows), 0.0, 1.0)
    return image_grid(rows, image_shape=image_shape, ncols=ncols, titles=titles, normalize="none")


__all__ = ["sample", "interpolate", "manifold", "traversals", "grid_figure", "class_labels"]
