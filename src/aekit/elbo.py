"""The loss terms of a likelihood decoder and of the Gaussian (VAE) and categorical (VQ-VAE) codes.

`objectives.loss_terms` calls `latent_terms` for such a model; the terms come back by name, as every other term:

- a Gaussian code: ``recon`` = −log p(x|z) with z = μ + σ·ε (one draw per row), ``kl`` = β·KL(q(z|x) ‖ N(0, I))
  (times the KL warm-up's ramp), in nats per row, so that with β = 1 ``loss`` is the negative ELBO. With
  ``iw_samples`` K > 1 the loss is the negative importance-weighted bound (Burda et al. 2016),
  −log (1/K) Σ_k p(x, z_k) / q(z_k|x); it is logged as ``recon`` and ``kl`` (their averages over the K draws,
  the ELBO's terms) and ``iw``, the bound's gain over the ELBO (≤ 0), which add up to it.
- a categorical code: ``recon``, ``commitment`` = commitment·‖z_e − sg[e]‖² and, for a codebook learned by
  gradient, ``codebook`` = ‖sg[z_e] − e‖² (mean squares); ``usage`` (the fraction of the codebook used in the
  batch) and ``perplexity`` are logged beside them but are not part of the loss.

The decoder's likelihood (``TrainConfig.likelihood``; for a Gaussian code the one of ``loss`` when unset: bce →
Bernoulli, mse → Gaussian) makes ``recon`` a negative log-likelihood summed over the features: Bernoulli, the
binary cross-entropy of the sigmoid's logits; Gaussian, with unit variance, ½‖x − x̂‖² + (D/2)·log 2π.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from aekit.config import ModelConfig, TrainConfig
from aekit.errors import ConfigError
from aekit.latents import LOG_2PI, gaussian_kl, log_posterior, log_standard_normal


def decoder_likelihood(model_config: ModelConfig, cfg: TrainConfig) -> str | None:
    """'bernoulli', 'gaussian', or None for the mean `loss` of a plain autoencoder (and a VQ-VAE by default)."""
    if cfg.likelihood is not None:
        return cfg.likelihood
    if model_config.code == "gaussian":
        return "bernoulli" if cfg.loss == "bce" else "gaussian"
    return None


def uses_latent_terms(model_config: ModelConfig, cfg: TrainConfig) -> bool:
    return model_config.code != "deterministic" or cfg.likelihood is not None


def log_likelihood(model, z: torch.Tensor, target: torch.Tensor, likelihood: str) -> torch.Tensor:
    """log p(target | z) per row, summed over the features, in nats."""
    if likelihood == "bernoulli":
        if model.config.output_activation != "sigmoid":
            raise ConfigError(
                f"the Bernoulli decoder needs a sigmoid output, not {model.config.output_activation!r}; "
                "pass --output-activation sigmoid, or --likelihood gaussian"
            )
        logits = model.decode_logits(z).float()
        return -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
    mean = model.decoder(z).float()
    return -0.5 * ((target - mean) ** 2 + LOG_2PI).sum(-1)


def binarized(model, x_in: torch.Tensor, target: torch.Tensor, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Dynamic binarisation: each value drawn as Bernoulli of its intensity, afresh for every training batch (from the
    run's generator); in evaluation with fixed draws (seed + 2), so that validation figures compare across epochs."""
    if cfg.binarize == "none":
        return x_in, target
    if model.training:
        u = model.latent.uniform(target)
    else:
        u = torch.rand(target.shape, generator=torch.Generator().manual_seed(cfg.seed + 2)).to(target.device)
    t = (u < target).to(target.dtype)
    return (t if x_in is target else (u < x_in).to(x_in.dtype)), t


def latent_terms(
    model,
    x_in: torch.Tensor,
    target: torch.Tensor,
    cfg: TrainConfig,
    cast,
    recon: Callable[[torch.Tensor], torch.Tensor],
):
    """(terms, code, metrics) of one batch; `cast` is the forward pass's autocast context, `recon(code)` the mean
    `loss` of a plain decoder. The terms add up to the loss; the metrics are logged but not trained on."""
    code_kind, lik = model.config.code, decoder_likelihood(model.config, cfg)
    if code_kind != "deterministic" and (cfg.contractive or cfg.kl_beta):
        raise ConfigError(
            f"the contractive and KL-sparsity penalties are for a deterministic code, not {code_kind}; "
            "drop --contractive / --kl-beta"
        )
    latent, metrics = model.latent, {}
    with cast:
        h = model.encoder(x_in)
    h = h.float()

    def nll(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with cast:
            return -log_likelihood(model, z, t, lik)

    if code_kind == "gaussian":
        mu, logvar = latent.stats(h)
        k = cfg.iw_samples
        z, eps = latent.sample(mu, logvar, k)
        n, d = mu.shape
        rec = nll(z.reshape(k * n, d), target.repeat(k, 1) if k > 1 else target).reshape(k, n)
        if k == 1:
            terms = {"recon": rec.mean(), "kl": cfg.beta * latent.kl_scale * gaussian_kl(mu, logvar).sum(1).mean()}
        else:
            log_pz, log_qz = log_standard_normal(z), log_posterior(eps, logvar)
            bound = torch.logsumexp(-rec + log_pz - log_qz, dim=0) - math.log(k)
            terms = {"recon": rec.mean(), "kl": (log_qz - log_pz).mean()}
            terms["iw"] = -bound.mean() - terms["recon"] - terms["kl"]
        return terms, mu, metrics
    if code_kind == "categorical":
        code, vq, metrics = latent.quantise(h)
        terms = {"recon": nll(code, target).mean() if lik else recon(code)}
        terms["commitment"] = cfg.commitment * vq["commitment"]
        if "codebook" in vq:
            terms["codebook"] = vq["codebook"]
        return terms, code, metrics
    return {"recon": nll(h, target).mean()}, h, metrics


def kl_scale(cfg: TrainConfig, epoch: int) -> float:
    """The KL warm-up's factor in epoch `epoch` (0-based): (epoch + 1) / kl_warmup, 1 from the last warm-up epoch."""
    return 1.0 if not cfg.kl_warmup else min(1.0, (epoch + 1) / cfg.kl_warmup)


__all__ = ["latent_terms", "decoder_likelihood", "uses_latent_terms", "log_likelihood", "binarized", "kl_scale"]
