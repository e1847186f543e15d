"""A VAE's likelihood: `nll` estimates −log p(x) of each row by importance sampling with the encoder as the proposal,
log p(x) ≈ log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x) (the IWAE bound of Burda et al. 2016; it tightens
towards log p(x) as K grows, and is a lower bound on it in expectation). `aekit evaluate RUN --nll` prints it.

A model with an input scaler (`aekit.scaling`: standard or minmax, x_s = (x − offset) / scale per column) is
evaluated on the rows it was trained on, the scaled ones. A Gaussian decoder's figure is a density, so it is moved
back to the units of the rows as given: p(x) = p(x_s) · Π_j 1/scale_j, so −log p(x) = −log p(x_s) + Σ_j log scale_j
(`log_jacobian`, added to every row). A Bernoulli decoder's is a probability of 0/1 values (a cross-entropy for grey
ones), not a density: no change of units applies to it, so it is the NLL of the scaled rows, which must lie in
[0, 1], and `units` says so.

>>> import aekit, numpy as np
>>> model = aekit.Autoencoder(aekit.configure("vae")[0])
>>> x = (np.random.default_rng(0).random((4, 784)) < 0.5).astype(np.float32)
>>> result = nll(model, x, samples=10)
>>> result.n, result.samples
(4, 10)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aekit.codes import require_generative
from aekit.elbo import log_likelihood
from aekit.errors import ConfigError, DataError, option
from aekit.latents import log_posterior, log_standard_normal
from aekit.models import Autoencoder
from aekit.uses.inputs import as_input, load_any_model


@dataclass
class NLLResult:
    """The negative log-likelihood estimate in nats per row: its mean over the rows and that mean's standard error."""

    nll: float  # mean over rows of −log p̂(x), nats
    stderr: float  # standard error of the mean (std over rows / √n)
    n: int  # rows
    samples: int  # importance samples per row (K)
    likelihood: str  # the decoder's distribution: 'bernoulli' or 'gaussian'
    per_row: np.ndarray  # −log p̂(x) of each row
    units: str = "the rows as given"  # what the figure is a likelihood of (a scaled model's: see the module's note)
    log_jacobian: float = 0.0  # nats added to each row for a scaled model's Gaussian figure: Σ_j log scale_j


def _likelihood_of(model: Autoencoder, config: dict, likelihood: str | None) -> str:
    if likelihood is not None:
        return likelihood
    train = config.get("train") or {}
    if train.get("likelihood"):
        return train["likelihood"]
    if train.get("loss"):
        return "bernoulli" if train["loss"] == "bce" else "gaussian"
    return "bernoulli" if model.config.output_activation == "sigmoid" else "gaussian"


@torch.no_grad()
def nll(
    model: Autoencoder | str | os.PathLike,
    x: Any,
    *,
    samples: int = 5000,
    likelihood: str | None = None,
    seed: int = 0,
    batch_size: int = 100,
    chunk: int = 500,
    labels: Any = None,
) -> NLLResult:
    """−log p(x) per row by importance sampling with `samples` draws (K) from q(z|x), and its mean with the standard
    error, in nats. `likelihood` defaults to the run's (its decoder's) distribution; a Bernoulli decoder needs rows in
    [0, 1] (binarise them for a true likelihood: with grey values it is a cross-entropy). Draws are seeded by `seed`;
    `batch_size` rows and `chunk` draws are decoded at a time. A cvae's is −log p(x | y), given the rows' `labels`.
    A model with an input scaler sees the rows scaled, as in training; see the module's note for the figure's units."""
    model, config = load_any_model(model)
    require_generative(model, "a likelihood estimate")
    lik = _likelihood_of(model, config, likelihood)
    if lik not in ("bernoulli", "gaussian"):
        raise ConfigError(f"unknown {option('likelihood')} {lik!r}; choose bernoulli or gaussian")
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ConfigError(f"{option('samples')} must be a whole number ≥ 1, got {samples!r}")
    rows = as_input(model, x)
    model.eval()
    device = next(model.parameters()).device
    units, shift = _units(model, rows, lik, device)
    gen = torch.Generator().manual_seed(seed)
    out = np.empty(len(rows), dtype=np.float64)
    held = None if labels is None else torch.as_tensor(np.asarray(labels)).reshape(-1)
    if held is not None and len(held) != len(rows):
        raise DataError(f"{len(held)} labels for {len(rows)} rows; pass one label per row")
    for start in range(0, len(rows), batch_size):
        xb = model.scale_rows(rows[start : start + batch_size].to(device))  # the rows the network was trained on
        with model.conditioned(None if held is None else held[start : start + batch_size]):
            out[start : start + len(xb)] = _block_nll(model, xb, samples, chunk, lik, gen)
    out += shift
    stderr = float(out.std(ddof=1) / math.sqrt(len(out))) if len(out) > 1 else float("nan")
    return NLLResult(float(out.mean()), stderr, len(out), samples, lik, out, units, shift)


def _units(model: Autoencoder, rows: torch.Tensor, lik: str, device) -> tuple[str, float]:
    """What the figure is a likelihood of, and the nats to add to each row's: for a scaled model's Gaussian decoder
    the log-Jacobian Σ_j log scale_j of its per-column affine scaler (back to the rows as given), else none. Checks
    that a Bernoulli decoder meets rows in [0, 1] as the network sees them."""
    seen = "the rows"
    if model.scaled:
        model._check_scaler()
        if model.config.scale not in ("standard", "minmax"):  # affine per column: a density moves by its Jacobian
            raise ConfigError(
                f"no likelihood through {model.config.scale!r} input scaling; retrain with --scale standard"
            )
        seen = f"the {model.config.scale}-scaled rows"
    if lik == "gaussian":
        if not model.scaled:
            return "the rows as given", 0.0
        jacobian = float(torch.log(model.input_scale.double().abs()).sum())
        return (
            f"the rows as given, the {model.config.scale} scaling's log-Jacobian ({jacobian:+.2f} nats) included",
            jacobian,
        )
    ends = torch.stack([rows.min(0).values, rows.max(0).values]).to(device)  # each column's extremes, which a
    ends = model.scale_rows(ends)  # per-column affine map sends to the extremes of the scaled column
    if float(ends.min()) < 0 or float(ends.max()) > 1:
        raise DataError(
            f"{seen} have values outside [0, 1], which a Bernoulli decoder cannot model; "
            f"pass {option('likelihood', 'gaussian')} or scale the rows to [0, 1]"
        )
    return (f"{seen} the network sees" if model.scaled else "the rows as given"), 0.0


def _block_nll(model, xb: torch.Tensor, samples: int, chunk: int, lik: str, gen: torch.Generator) -> np.ndarray:
    """−log p(x) of the rows `xb` (on the model's device), `chunk` of the `samples` draws at a time."""
    mu, logvar = model.latent.stats(model.encoder(xb).float())
    n, d = mu.shape
    acc = torch.full((n,), -math.inf, dtype=torch.float64, device=xb.device)  # running log Σ_k w_k
    for done in range(0, samples, chunk):
        k = min(chunk, samples - done)
        eps = torch.randn((k, n, d), generator=gen).to(xb.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        log_px = log_likelihood(model, z.reshape(k * n, d), xb.repeat(k, 1), lik).reshape(k, n)
        log_w = (log_px + log_standard_normal(z) - log_posterior(eps, logvar)).double()
        acc = torch.logaddexp(acc, torch.logsumexp(log_w, dim=0))
    return -(acc - math.log(samples)).cpu().numpy()


__all__ = ["nll", "NLLResult"]
