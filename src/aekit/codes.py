"""Walks through a model's code space: draws from the prior, paths between two codes (linear or spherical), the 2-D
manifold grid (the Keras blog's figure) and traversals of single units. Pure functions of a model and tensors; the
uses (`aekit sample`, `aekit interpolate`) and the report build on them.
"""

from __future__ import annotations

import math

import torch

from aekit.errors import ConfigError, option

PATHS = ("linear", "spherical")


def require_generative(model, what: str = "sampling") -> None:
    """Refuse a model without a prior to draw codes from (anything but a Gaussian code), in one line."""
    if not model.config.is_generative:
        raise ConfigError(
            f"{what} needs a generative model (a Gaussian code, e.g. {option('kind', 'vae')}), but this model's "
            f"code is {model.config.code}; train one with `aekit train --kind vae`"
        )


@torch.no_grad()
def prior_codes(model, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
    """`n` codes drawn from the prior N(0, I) (scaled by `temperature`), on the model's device."""
    require_generative(model)
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise ConfigError(f"the number of samples must be a positive whole number, got {n!r}; draw at least 1")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ConfigError(f"{option('temperature')} must be a positive number, got {temperature!r}")
    device = next(model.parameters()).device
    z = torch.randn(n, model.config.encoding_dim, generator=generator)
    return (temperature * z).to(device)


def path(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """`steps` codes from `a` to `b` (both included): straight, or along the great circle between them ('spherical',
    slerp: it keeps the norm that Gaussian codes have, where the straight line passes near the origin)."""
    if method not in PATHS:
        raise ConfigError(f"unknown interpolation {method!r}; choose one of: {', '.join(PATHS)}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
        raise ConfigError(f"{option('steps')} must be a whole number ≥ 2 (the two ends included), got {steps!r}")
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)[:, None]
    if method == "spherical":
        cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
        omega = torch.arccos(cos.clamp(-1, 1))
        if float(torch.sin(omega)) > 1e-6:
            return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    return (1 - t) * a + t * b


def manifold_codes(n: int = 15, *, low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """An n × n grid of 2-D codes at the prior's quantiles `low` … `high` in each unit (Kingma & Welling's Fig. 4,
    the Keras blog's manifold), row by row from the top: shape (n·n, 2)."""
    if not isinstance(n, int) or n < 2:
        raise ConfigError(f"the manifold grid needs n ≥ 2 points per side, got {n!r}")
    q = torch.linspace(low, high, n, dtype=torch.float64)
    values = (math.sqrt(2) * torch.erfinv(2 * q - 1)).float()  # the standard normal's quantiles
    ys, xs = torch.meshgrid(values.flip(0), values, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def traversal_codes(code: torch.Tensor, units: list[int], n: int = 7, span: float = 3.0) -> torch.Tensor:
    """For each of `units`, `n` copies of `code` with that unit set to −span … span: shape (len(units)·n, d)."""
    values = torch.linspace(-span, span, n, dtype=code.dtype, device=code.device)
    out = code.reshape(1, 1, -1).repeat(len(units), n, 1)
    for i, u in enumerate(units):
        out[i, :, u] = values
    return out.reshape(len(units) * n, -1)


@torch.no_grad()
def decode_codes(model, z: torch.Tensor, batch_size: int = 4096, labels=None) -> torch.Tensor:
    """The decoder's output (the mean of p(x|z)) for codes `z`, on the CPU; a cvae draws each code in its class of
    `labels` (one per code)."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    labels = None if labels is None else torch.as_tensor(labels).reshape(-1)

    def part(s: int) -> torch.Tensor:
        with model.conditioned(None if labels is None else labels[s : s + batch_size]):
            return model.decode(z[s : s + batch_size].to(device)).float().cpu()

    out = torch.cat([part(s) for s in range(0, len(z), batch_size)])
    model.train(was)
    return out


__all__ = ["require_generative", "prior_codes", "path", "manifold_codes", "traversal_codes", "decode_codes", "PATHS"]
