"""Loss terms, penalties and input corruptions: small pure functions.

`loss_terms` returns every term by name (``recon``, ``l1``, ``kl``, ``contractive``, ``weight_decay``)
plus their sum as ``loss``, so the history, TensorBoard and the report show each one.
The contractive penalty and the Jacobian-norm metrics live in `aekit.jacobians` (re-exported here).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aekit.config import TrainConfig
from aekit.elbo import binarized, latent_terms, uses_latent_terms
from aekit.errors import ConfigError, DataError
from aekit.jacobians import (  # noqa: F401  (contractive is used below; the others are re-exported)
    closed_form_layer,
    contractive,
    contractive_closed_form,
    contractive_exact,
    jacobian_norm,
    jacobian_norms,
)
from aekit.models import Autoencoder


# --------------------------------------------------------------------------- reconstruction losses
def bce_from_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of sigmoid(logits) against `target`, mean over all values (Keras' BCE), computed
    from the logits (``F.binary_cross_entropy_with_logits``: stable for any logit, no clipping needed).
    Without gradients (validation, `evaluate`) as `bce_and_sigmoid` computes it, but without the sigmoid's output:
    σ(|z|) directly (``sigmoid(|z|)``), six passes over the values instead of eight (0.80-0.88x the time).
    """
    if logits.requires_grad:
        return F.binary_cross_entropy_with_logits(logits, target)
    with torch.no_grad():
        work = torch.clamp_min(logits, 0.0)
        linear = _linear_part(work, logits, target)
        return (linear - _log_product(torch.abs(logits, out=work).sigmoid_())) / logits.numel()


def bce_and_sigmoid(
    logits: torch.Tensor, target: torch.Tensor, *, inplace: bool = False, work: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(``F.binary_cross_entropy_with_logits(logits, target)``, the mean, and ``sigmoid(logits)``), without
    gradients; with ``inplace=True`` the sigmoid overwrites `logits` (the closed-form training step reuses it).
    `work`: a scratch tensor of the logits' shape that the call may overwrite (the training step keeps one).

    Per value the loss is softplus(z) - t·z = (max(z, 0) - t·z) - log σ(|z|), both parts ≥ 0, and σ(|z|) =
    max(σ(z), 1 - σ(z)). The first part's sum is Σ max(z, 0) - Σ t·z (`_linear_part`); the logarithm of the second is
    taken once per group of up to 64 values, of their product (`_log_product`): the log, the costliest part of torch's
    BCE (``log_sigmoid``, ~2.8 ns a value on an AVX-512 Xeon), runs on 1/64 of the values. The mean equals torch's to
    float rounding (~1e-7 relative; σ(|z|) rounds to 1 for |z| > 17, ~6e-8 absolute per value).
    """
    if torch.is_grad_enabled():  # the training step calls it without gradients already
        with torch.no_grad():
            return bce_and_sigmoid(logits, target, inplace=inplace, work=work)
    work = torch.clamp_min(logits, 0.0, out=work) if work is not None else torch.clamp_min(logits, 0.0)
    linear = _linear_part(work, logits, target)
    s = logits.sigmoid_() if inplace else torch.sigmoid(logits)
    torch.maximum(s, torch.sub(_one(s), s, out=work), out=work)  # σ(|z|) = max(σ(z), 1 - σ(z))
    return (linear - _log_product(work)) / logits.numel(), s


_ONES: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}


def _one(like: torch.Tensor) -> torch.Tensor:
    """1 as a 0-d tensor of `like`'s dtype and device, made once: a Python number operand costs a conversion (~1 µs)
    at every call."""
    key = (like.device, like.dtype)
    one = _ONES.get(key)
    if one is None:
        one = _ONES[key] = torch.ones((), dtype=like.dtype, device=like.device)
    return one


def _linear_part(relu: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Σ max(z, 0) - Σ t·z from `relu` = max(z, 0): a sum and a dot product, which read the values without writing
    them (``addcmul_`` wrote a pass). Both sums are of float32 values with float32 accumulation, as torch's mean."""
    return relu.sum() - torch.dot(target.reshape(-1).to(logits.dtype), logits.reshape(-1))


def _log_product(values: torch.Tensor) -> torch.Tensor:
    """Σ log v of values v in [½, 1], as the sum of the logs of products of up to 64 values (each > 2⁻⁶⁴)."""
    n = values.numel()
    return values.view(-1, math.gcd(n, 64)).prod(dim=1).log_().sum()


def bce(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Binary cross-entropy of probabilities, clipped to [eps, 1-eps] as Keras does."""
    p = pred.clamp(eps, 1 - eps)
    return -(target * p.log() + (1 - target) * (1 - p).log()).mean()


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all values."""
    return F.mse_loss(pred, target)


def reconstruction_loss(
    model: Autoencoder, code: torch.Tensor, target: torch.Tensor, loss: str, x_in: torch.Tensor | None = None
) -> torch.Tensor:
    """The reconstruction term, in the network's (scaled) units; BCE goes through the logits when the output is a
    sigmoid. The loss itself is computed in float32 also when the decoder ran in bfloat16 (``.float()`` is free on
    a float32 tensor). `x_in` is the input the code came from, which a model with ``skip`` also decodes from."""
    if loss == "bce":
        if model.config.output_activation == "sigmoid":
            return bce_from_logits(model.decode_logits(code, x_in).float(), target)
        return bce(model.decode_net(code, x_in).float(), target)
    return mse(model.decode_net(code, x_in).float(), target)


# --------------------------------------------------------------------------- precision
def autocast(precision: str, device_type: str = "cpu"):
    """The context the training step's forward pass runs in: for ``precision='bfloat16'``, ``torch.autocast``
    to bfloat16 (matrix products and convolutions in bfloat16, with float32 accumulation; the weights, their
    gradients and the optimizer stay float32, as Keras' ``mixed_bfloat16`` policy); for 'float32', nothing."""
    if precision == "bfloat16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_has_bfloat16() -> bool:
    """True where the CPU has bfloat16 instructions (AVX512-BF16 or AMX), or where torch cannot tell."""
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return probe is None or bool(probe()) or (amx is not None and bool(amx()))


def warn_slow_bfloat16(precision: str, device: torch.device | None = None) -> None:
    """Warn when bfloat16 is asked for where its products are emulated, slower than float32 with the same results:
    a CPU without bfloat16 instructions (AVX512-BF16 or AMX), or a CUDA GPU older than bfloat16 (before Ampere)."""
    if precision != "bfloat16":
        return
    kind = "cpu" if device is None else device.type
    if kind == "cpu" and not cpu_has_bfloat16():
        where = "a CPU without bfloat16 instructions (AVX512-BF16 or AMX)"
    # Ampere on, as torch.cuda.is_bf16_supported(including_emulation=False), whose argument torch 2.2 lacks
    elif kind == "cuda" and not (torch.version.hip or torch.cuda.get_device_capability(device)[0] >= 8):
        where = f"a GPU without bfloat16 arithmetic ({torch.cuda.get_device_name(device)})"
    else:
        return
    warnings.warn(
        f"precision='bfloat16' on {where}: the products are emulated and slower than float32; "
        "train with precision='float32' (the default)",
        RuntimeWarning,
        stacklevel=3,
    )


# --------------------------------------------------------------------------- penalties
def l1_activity(code: torch.Tensor) -> torch.Tensor:
    """Σ|h| over the batch divided by the batch size (Keras' activity_regularizer=l1, without λ)."""
    return code.abs().sum() / code.shape[0]


def kl_sparsity(code: torch.Tensor, rho: float, eps: float = 1e-7) -> torch.Tensor:
    """Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j the mean activation of code unit j over the batch (UFLDL; sigmoid code)."""
    rho_hat = batch_mean(code).clamp(eps, 1 - eps)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def batch_mean(code: torch.Tensor) -> torch.Tensor:
    """The mean of `code` over the batch's rows. Training under torchrun, over the global batch: every rank's
    rows, summed with a differentiable ``all_reduce`` (as SyncBatchNorm), so that the penalty and its gradient are
    those of one process. Elsewhere (one process, or validation, which each rank runs on its own slice) the
    rows at hand."""
    import torch.distributed as dist

    if not (code.requires_grad and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return code.mean(dim=0)
    rows = code.new_full((1,), float(code.shape[0]))  # a fill on the device, not a copy from the host
    total = _SumOverRanks.apply(torch.cat([code.sum(dim=0), rows]))
    return total[:-1] / total[-1]


class _SumOverRanks(torch.autograd.Function):
    """``all_reduce`` (sum) whose backward sums the gradients over the ranks too, as SyncBatchNorm's. Not
    ``torch.distributed._functional_collectives.all_reduce``: torch 2.2's has no backward (its result does not
    require grad, and the penalty's gradient was lost without a word); nor ``torch.distributed.nn``'s, deprecated."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        t = t.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _SumOverRanks.apply(grad)


def weight_decay(model: Autoencoder) -> torch.Tensor:
    """½ Σ w² over every weight matrix (not the biases), as UFLDL's λ/2 ‖W‖²."""
    return 0.5 * sum((p * p).sum() for name, p in model.named_parameters() if name.endswith("weight"))


# --------------------------------------------------------------------------- image quality
def psnr(clean: Any, other: Any, data_range: float = 1.0, *, per_image: bool = True) -> float:
    """Peak signal-to-noise ratio in dB, 10·log10(range² / MSE), of `other` against `clean`.

    per_image=True: the PSNR of each row (image) against its clean row, averaged over rows; a perfect row
    counts as 100 dB (its MSE is floored at range²·1e-10). per_image=False: one figure for the whole set,
    the MSE taken over every value (inf when the arrays are equal).
    """
    c = np.asarray(clean.detach().cpu() if isinstance(clean, torch.Tensor) else clean, dtype=np.float64)
    o = np.asarray(other.detach().cpu() if isinstance(other, torch.Tensor) else other, dtype=np.float64)
    if c.shape != o.shape:
        raise DataError(f"psnr: shapes differ, {c.shape} and {o.shape}; compare arrays of the same shape")
    if not per_image:
        err = float(np.mean((c - o) ** 2))
        return math.inf if err == 0 else 10.0 * math.log10(data_range**2 / err)
    rows = 1 if c.ndim == 1 else len(c)  # a 1-D array is one image
    c, o = c.reshape(rows, -1), o.reshape(rows, -1)
    mse_rows = np.maximum(((c - o) ** 2).mean(axis=1), data_range**2 * 1e-10)
    return float(np.mean(10 * np.log10(data_range**2 / mse_rows)))


# --------------------------------------------------------------------------- corruptions
def corrupt(x: torch.Tensor, noise: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A corrupted copy of `x` (fresh noise on each call, drawn on `x`'s device from `generator`, which must live
    there); `x` itself is never changed.

    gaussian: x + σ·N(0,1) clipped to [0, 1]; masking: a fraction `level` of values set to 0;
    salt_pepper: a fraction `level` of values set to 0 or 1 with equal odds.
    """
    if noise == "none" or level == 0:
        return x
    if noise == "mixed":
        return _mixed(x, level, generator)
    if noise == "gaussian":
        return (x + level * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)).clamp_(0.0, 1.0)
    hit = torch.rand(x.shape, generator=generator, device=x.device) < level
    if noise == "masking":
        return x.masked_fill(hit, 0.0)
    if noise == "salt_pepper":
        salt = torch.rand(x.shape, generator=generator, device=x.device) < 0.5
        return torch.where(hit, salt.to(x.dtype), x)
    raise ConfigError(f"unknown noise {noise!r}; choose one of: none, gaussian, masking, salt_pepper, mixed")


def _mixed(x: torch.Tensor, level: float, generator: torch.Generator | None) -> torch.Tensor:
    """Each row its own corruption: gaussian, masking or salt-and-pepper with equal odds, at a level drawn
    uniformly from [0, level) ([0, level / 2) for salt-and-pepper), so that one model learns to undo all three."""
    n = x.shape[0]
    kind = torch.randint(0, 3, (n,) + (1,) * (x.dim() - 1), generator=generator)
    lv = torch.rand(kind.shape, generator=generator, dtype=x.dtype) * level
    gauss = (x + lv * torch.randn(x.shape, generator=generator, dtype=x.dtype)).clamp_(0.0, 1.0)
    hit = torch.rand(x.shape, generator=generator, dtype=x.dtype) < torch.where(kind == 2, lv / 2, lv)
    salt = (torch.rand(x.shape, generator=generator) < 0.5).to(x.dtype)
    flipped = torch.where(kind == 1, torch.zeros_like(x), salt)
    return torch.where(kind == 0, gauss, torch.where(hit, flipped, x))


# --------------------------------------------------------------------------- all terms
def loss_terms(
    model: Autoencoder, x_in: torch.Tensor, target: torch.Tensor, cfg: TrainConfig
) -> dict[str, torch.Tensor]:
    """Every loss term of one batch by name, and their sum as ``loss``.

    `x_in` is what the encoder sees (corrupted for a denoising run), `target` the clean rows, both in the network's
    units (`fit` scales the rows of a model with an input scaler before it corrupts them). With
    ``cfg.precision='bfloat16'`` the model's forward pass runs under bfloat16 autocast; every term is float32.
    """
    metrics: dict[str, torch.Tensor] = {}
    if cfg.binarize != "none" or uses_latent_terms(model.config, cfg):  # aekit.elbo: VAE, VQ-VAE, likelihoods
        x_in, target = binarized(model, x_in, target, cfg)
        terms, code, metrics = latent_terms(
            model,
            x_in,
            target,
            cfg,
            autocast(cfg.precision, x_in.device.type),
            lambda c: reconstruction_loss(model, c, target, cfg.loss),
        )
    else:
        with autocast(cfg.precision, x_in.device.type):
            code = model.latent.code(model.encoder(x_in))
            terms = {"recon": reconstruction_loss(model, code, target, cfg.loss, x_in)}
    code = code.float()
    if cfg.l1:
        terms["l1"] = cfg.l1 * l1_activity(code)
    if cfg.kl_beta:
        terms["kl"] = cfg.kl_beta * kl_sparsity(code, cfg.kl_rho)
    if cfg.contractive:
        terms["contractive"] = cfg.contractive * contractive(model, x_in, code)
    if cfg.weight_decay:
        terms["weight_decay"] = cfg.weight_decay * weight_decay(model)
    total = terms["recon"]
    for name, value in terms.items():
        if name != "recon":
            total = total + value
    terms["loss"] = total
    terms.update({k: v.detach() for k, v in metrics.items()})  # logged beside the terms, not part of the loss
    return terms


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the cells where `mask` is true only (observed cells; imputation, AutoRec)."""
    w = mask.to(pred.dtype)
    return (((pred - target) ** 2) * w).sum() / w.sum().clamp_min(1.0)
