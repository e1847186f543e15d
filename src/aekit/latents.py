"""The code layer between encoder and decoder, chosen by ``ModelConfig.code``: a plain (deterministic) code,
a VAE's Gaussian code (the encoder emits μ and log σ²; codes are drawn by the reparameterisation trick) or a
VQ-VAE's categorical code (each code vector is replaced by its nearest codebook vector, straight-through).

`make_latent` builds the layer that `Autoencoder` keeps as ``model.latent``; ``model.encode`` returns its
decoder-ready code (μ, or the quantised vectors), so reconstruction and the uses need nothing else. Noise is
drawn from ``latent.generator`` when a training run sets it (the run's generator, so that a resumed run draws
the same noise), else from torch's global generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from aekit.config import ModelConfig, conv_grid, replace
from aekit.errors import AekitWarning, option

LOG_2PI = math.log(2 * math.pi)
LOGVAR_RANGE = (-30.0, 20.0)  # log σ² is clamped here: exp stays finite in float32


def encoder_config(config: ModelConfig) -> ModelConfig:
    """The config the encoder is built from: a Gaussian code's encoder emits μ and log σ² (twice the code, linear)."""
    if config.code == "gaussian":
        return replace(config, code="deterministic", encoding_dim=2 * config.encoding_dim, code_activation="linear")
    return config


class DeterministicCode(nn.Module):
    """The encoder's output is the code (the classic autoencoder)."""

    def __init__(self) -> None:
        super().__init__()
        self.generator: torch.Generator | None = None  # set by training (dynamic binarisation draws from it)
        self.kl_scale = 1.0

    def code(self, h: torch.Tensor) -> torch.Tensor:
        return h

    def normal(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """Standard normal draws of `shape` on `like`'s device, from `generator` when set."""
        g = self.generator
        if g is None:
            return torch.randn(shape, device=like.device, dtype=like.dtype)
        return torch.randn(shape, generator=g, device=g.device).to(like.device, like.dtype)

    def uniform(self, like: torch.Tensor) -> torch.Tensor:
        g = self.generator
        if g is None:
            return torch.rand(like.shape, device=like.device, dtype=like.dtype)
        return torch.rand(like.shape, generator=g, device=g.device).to(like.device, like.dtype)


class GaussianCode(DeterministicCode):
    """q(z|x) = N(μ, diag σ²), the prior N(0, I). The encoder's output holds μ then log σ² (for a conv code: the
    first half of its channels, then the second)."""

    def stats(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def code(self, h: torch.Tensor) -> torch.Tensor:
        return self.stats(h)[0]

    def sample(self, mu: torch.Tensor, logvar: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, ε) of shape (k, n, d): z = μ + σ·ε, the reparameterisation trick."""
        eps = self.normal((k, *mu.shape), mu)
        return mu + torch.exp(0.5 * logvar) * eps, eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) per row and unit, in nats: ½(μ² + σ² − 1 − log σ²)."""
    return 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last axis."""
    return -0.5 * (z * z + LOG_2PI).sum(-1)


def log_posterior(eps: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z|x) summed over the last axis, for z = μ + σ·ε."""
    return -0.5 * (eps * eps + logvar + LOG_2PI).sum(-1)


class VectorQuantizer(DeterministicCode):
    """A codebook of `codebook_size` vectors of `code_vector_dim` values (van den Oord et al. 2017).

    The encoder's output is cut into code vectors (a dense code: consecutive runs; a conv code: the channels of
    each grid cell), each replaced by its nearest codebook vector; gradients pass straight through to the encoder.
    With ``codebook_decay`` > 0 the codebook follows exponential moving averages of the vectors assigned to each
    entry (as the paper's appendix), updated in training mode, summed over the processes under torchrun; an entry
    whose average count falls below a quarter of the mean (`DEAD`) is re-seeded with a random encoder vector of the
    batch. The first training batch seeds the whole codebook with distinct encoder vectors. With decay 0 the
    codebook is a parameter learned through the codebook loss.
    """

    # An entry whose moving-average count falls below DEAD × the mean count (vectors per batch / entries) is dead:
    # re-seeded with a vector of the batch, its count set to FRESH × the mean. Unused from there, it is dead again
    # after log(DEAD / FRESH) / log(decay) batches (69 at decay 0.99), so that dead entries are found early in a run.
    DEAD = 0.25
    FRESH = 0.5

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.size, self.dim, self.decay = config.codebook_size, config.code_vector_dim, config.codebook_decay
        conv = config.architecture == "conv"
        self.conv_grid = conv_grid(config.image_shape, len(config.hidden) + 1) if conv else None
        gen = torch.Generator().manual_seed(config.seed + 1)
        book = (torch.rand(self.size, self.dim, generator=gen) * 2 - 1) / self.size
        if self.decay:
            self.register_buffer("codebook", book)
            self.register_buffer("ema_count", torch.ones(self.size))
            self.register_buffer("ema_sum", book.clone())
        else:
            self.codebook = nn.Parameter(book)
        self.register_buffer("seeded", torch.zeros(()))  # 1 once the first batch has seeded the codebook (float32)

    def vectors(self, h: torch.Tensor) -> torch.Tensor:
        """(n × positions, dim): the code vectors of a batch of codes."""
        if self.conv_grid is None:
            return h.reshape(-1, self.dim)
        return h.reshape(h.shape[0], self.dim, -1).transpose(1, 2).reshape(-1, self.dim)

    def codes(self, v: torch.Tensor, n: int) -> torch.Tensor:
        """The inverse of `vectors`: (n, encoding_dim)."""
        if self.conv_grid is None:
            return v.reshape(n, -1)
        return v.reshape(n, -1, self.dim).transpose(1, 2).reshape(n, -1)

    def indices(self, h: torch.Tensor) -> torch.Tensor:
        """The codebook index of each code vector: (n, positions), int64."""
        return self._nearest(self.vectors(h).float()).reshape(h.shape[0], -1)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Codes (n, encoding_dim) from codebook indices (n, positions)."""
        return self.codes(self.codebook[idx.reshape(-1)], idx.shape[0])

    def code(self, h: torch.Tensor) -> torch.Tensor:
        return self.lookup(self.indices(h)).to(h.dtype)

    def quantise(self, h: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(straight-through code, loss terms without weights, metrics) of a batch; updates the codebook in training."""
        v = self.vectors(h).float()
        if self.training and torch.is_grad_enabled():
            self._update(v.detach())
        idx = self.indices(h)
        q = self.codebook[idx.reshape(-1)]
        terms = {"commitment": F.mse_loss(v, q.detach())}
        if not self.decay:
            terms["codebook"] = F.mse_loss(q, v.detach())
        counts = torch.bincount(idx.reshape(-1), minlength=self.size).float()
        p = counts / counts.sum()
        metrics = {
            "usage": (counts > 0).float().mean(),
            "perplexity": torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()),
        }
        st = v + (q - v).detach()  # straight-through: the decoder sees q, the encoder gets its gradient
        return self.codes(st, h.shape[0]).to(h.dtype), terms, metrics

    @torch.no_grad()
    def _update(self, v: torch.Tensor) -> None:
        if not bool(self.seeded):  # seed the codebook with the first batch's vectors (distinct where it has enough)
            self.codebook.copy_(v[self._pick(len(v), self.size, distinct=True)])
            if self.decay:  # every entry starts at the mean count, as if it had served its share
                n = torch.tensor(float(len(v)), device=v.device)
                _all_reduce(n)
                self.ema_count.fill_(float(n) / self.size)
                self.ema_sum.copy_(self.codebook * self.ema_count[:, None])
            self.seeded.fill_(1.0)
            return
        idx = self._nearest(v)
        counts = torch.bincount(idx, minlength=self.size).to(v.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, v)
        _all_reduce(counts, sums)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.ema_count.sum()
        count = (self.ema_count + 1e-5) / (n + self.size * 1e-5) * n
        self.codebook.copy_(self.ema_sum / count[:, None])
        mean = float(n) / self.size
        dead = (self.ema_count < self.DEAD * mean).nonzero().reshape(-1)
        if len(dead):  # re-seeded with vectors of this batch
            fresh = v[self._pick(len(v), len(dead), distinct=True)]
            self.codebook[dead] = fresh
            self.ema_sum[dead] = fresh * self.FRESH * mean
            self.ema_count[dead] = self.FRESH * mean

    def _nearest(self, v: torch.Tensor) -> torch.Tensor:
        return self._distances(v, self.codebook.float()).argmin(1)

    def _pick(self, n: int, k: int, distinct: bool = False) -> torch.Tensor:
        """`k` row numbers below `n`, from the latent's generator: with replacement, or `distinct` while k ≤ n (two
        entries seeded with the same vector would leave one unused)."""
        g = self.generator
        device = g.device if g is not None else self.codebook.device
        if distinct and k <= n:
            rows = torch.randperm(n, generator=g, device=device)[:k]
        else:
            rows = torch.randint(n, (k,), generator=g, device=device)
        return rows.to(self.codebook.device)

    @staticmethod
    def _distances(v: torch.Tensor, book: torch.Tensor) -> torch.Tensor:
        return (v * v).sum(1, keepdim=True) - 2 * v @ book.t() + (book * book).sum(1)


def _all_reduce(*tensors: torch.Tensor) -> None:
    """Sum `tensors` over the processes under torchrun (each rank's codebook statistics); no-op in one process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        for t in tensors:
            dist.all_reduce(t)


class PosteriorCollapseWarning(AekitWarning):
    """Most units of a Gaussian code carry (almost) no information: their KL to the prior is below 0.01 nats."""


@torch.no_grad()
def code_summary(model, x: torch.Tensor, batch_size: int = 2000) -> dict:
    """What a trained code holds, over the rows `x`. A Gaussian code: the KL of each unit to the prior (mean over
    rows, nats), their sum, and the active units (Burda et al. 2016: Cov_x(E_q[z_u]) > 0.01). A categorical code: the
    fraction of the codebook used and the perplexity of the codes. A plain code: {}."""
    kind = model.config.code
    if kind == "deterministic" or len(x) == 0:
        return {}
    was = model.training
    model.eval()
    if kind == "gaussian":
        mus, kl = [], torch.zeros(model.config.encoding_dim, dtype=torch.float64)
        for start in range(0, len(x), batch_size):
            mu, logvar = model.latent.stats(model.encoder(x[start : start + batch_size]).float())
            mus.append(mu.double().cpu())
            kl += gaussian_kl(mu, logvar).double().sum(0).cpu()
        mu = torch.cat(mus)
        var = mu.var(0) if len(mu) > 1 else torch.zeros_like(kl)
        kl /= len(x)
        out = {
            "kl_per_unit": kl.tolist(),
            "code_kl": float(kl.sum()),
            "active_units": int((var > 0.01).sum()),
            "collapsed_units": int((kl < 0.01).sum()),
            "units": len(kl),
        }
    else:
        idx = torch.cat(
            [
                model.latent.indices(model.encoder(x[s : s + batch_size])).reshape(-1).cpu()
                for s in range(0, len(x), batch_size)
            ]
        )
        counts = torch.bincount(idx, minlength=model.latent.size).double()
        p = counts / counts.sum()
        out = {
            "codebook_usage": float((counts > 0).double().mean()),
            "codebook_perplexity": float(torch.exp(-(p * p.clamp_min(1e-300).log()).sum())),
            "codebook_counts": counts.tolist(),
        }
    model.train(was)
    return out


def warn_collapse(summary: dict, stacklevel: int = 2) -> None:
    """Warn (PosteriorCollapseWarning) when most units of a Gaussian code have a KL below 0.01 nats."""
    units = summary.get("units", 0)
    if units and summary["collapsed_units"] > units / 2:
        import warnings

        warnings.warn(
            f"posterior collapse: {summary['collapsed_units']} of {units} code units carry under 0.01 nats "
            f"(active units: {summary['active_units']}); lower {option('beta')}, add {option('kl_warmup')}, "
            "or train longer",
            PosteriorCollapseWarning,
            stacklevel=stacklevel,
        )


def make_latent(config: ModelConfig) -> nn.Module:
    """The code layer of `config.code`."""
    if config.code == "gaussian":
        return GaussianCode()
    if config.code == "categorical":
        return VectorQuantizer(config)
    return DeterministicCode()


__all__ = [
    "make_latent",
    "encoder_config",
    "DeterministicCode",
    "GaussianCode",
    "VectorQuantizer",
    "gaussian_kl",
    "log_standard_normal",
    "log_posterior",
    "LOG_2PI",
    "code_summary",
    "warn_collapse",
    "PosteriorCollapseWarning",
]
