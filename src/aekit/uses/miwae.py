"""`impute`'s variational member: MIWAE (Mattei & Frellsen, ICML 2019), a VAE trained on the observed cells only.

The encoder reads a row's observed cells (the gaps at 0, the column mean, with the mask beside them, as `impute`'s
networks do) and gives q(z|x) = N(μ, diag σ²); the decoder gives every cell a Student-t distribution (location,
scale and degrees of freedom per cell, as in the paper). It is trained by the importance-weighted bound
(Burda et al. 2016) with `K` draws of the code, log p(x) ≥ E log (1/K) Σ_k p(x_obs|z_k) p(z_k) / q(z_k|x_obs),
where p(x_obs|z) is the product over the row's observed cells only. A gap is filled by self-normalised importance
sampling: the mean of the decoder's locations over `DRAWS` codes drawn from q, each weighted by
p(x_obs|z) p(z) / q(z|x_obs) — an estimate of E[x_mis | x_obs] under the model. Training stops when the RMSE of the
held-out cells (filled that way from the training cells) has not improved for `patience` checks.

>>> import numpy as np, torch
>>> z = torch.tensor(np.random.default_rng(0).normal(size=(40, 3)), dtype=torch.float32)
>>> train = torch.rand(40, 3, generator=torch.Generator().manual_seed(0)) > 0.2
>>> model = fit(z, train, ~train, seed=0, epochs=3)
>>> fill(model, z, train, seed=0).shape
torch.Size([40, 3])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from aekit.latents import log_posterior, log_standard_normal
from aekit.training.optimizers import Adam

K = 20  # draws of the code per row in the training bound
DRAWS = 1000  # draws of the code per row when filling
CHECK_DRAWS = 100  # draws per row when scoring the held-out cells during training
LATENT = 10  # the code's size (the paper's p = 10 for its UCI tables), at most columns - 1 but at least 2
WIDTH = 128  # units per hidden layer (two in the encoder, two in the decoder; the paper's 128)
LOGVAR_RANGE = (-10.0, 6.0)
SCALE_MIN = 1e-3  # the least scale of a cell (standardised columns)
DF_MIN = 3.0  # the least degrees of freedom of a cell's Student-t

__all__ = ["Miwae", "fit", "fill", "K", "DRAWS", "LATENT", "WIDTH"]


class Miwae(nn.Module):
    """Encoder [values, mask] → (μ, log σ²) of the code; decoder code → (location, scale, degrees of freedom)."""

    def __init__(self, d: int, latent: int = LATENT, width: int = WIDTH):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(2 * d, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 2 * latent)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 3 * d)
        )

    def log_weights(self, x: torch.Tensor, seen: torch.Tensor, k: int, generator: torch.Generator):
        """(log p(x_seen|z) p(z) / q(z|x_seen), location) for `k` codes per row: shapes (k, n) and (k, n, d)."""
        mu, logvar = self.encoder(torch.cat([x * seen, seen.to(x.dtype)], dim=1)).chunk(2, dim=1)
        logvar = logvar.clamp(*LOGVAR_RANGE)
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        code = mu + torch.exp(0.5 * logvar) * eps
        loc, raw_scale, raw_df = self.decoder(code).chunk(3, dim=-1)
        scale = F.softplus(raw_scale) + SCALE_MIN
        df = F.softplus(raw_df) + DF_MIN
        t = (x - loc) / scale
        log_t = (
            torch.lgamma((df + 1) / 2)
            - torch.lgamma(df / 2)
            - 0.5 * torch.log(df * math.pi)
            - torch.log(scale)
            - (df + 1) / 2 * torch.log1p(t * t / df)
        )
        log_px = (log_t * seen).sum(-1)
        return log_px + log_standard_normal(code) - log_posterior(eps, logvar), loc


def _bound(model: Miwae, x, seen, k: int, generator) -> torch.Tensor:
    """The mean over rows of the importance-weighted bound with `k` draws."""
    logw, _ = model.log_weights(x, seen, k, generator)
    return (torch.logsumexp(logw, dim=0) - math.log(k)).mean()


@torch.no_grad()
def fill(model: Miwae, z: torch.Tensor, seen: torch.Tensor, seed: int, draws: int = DRAWS, chunk: int = 256):
    """Every cell's estimate of E[x | x_seen] by self-normalised importance sampling with `draws` codes per row."""
    generator = torch.Generator(z.device).manual_seed(seed)
    out = []
    for start in range(0, z.shape[0], chunk):
        logw, loc = model.log_weights(z[start : start + chunk], seen[start : start + chunk], draws, generator)
        out.append((torch.softmax(logw, dim=0).unsqueeze(-1) * loc).sum(0))
    return torch.cat(out)


def fit(
    z: torch.Tensor,
    train: torch.Tensor,
    held: torch.Tensor,
    *,
    seed: int,
    epochs: int = 600,
    patience: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    check_every: int = 5,
    latent: int | None = None,
    width: int = WIDTH,
) -> Miwae:
    """A MIWAE trained on the `train` cells of the standardised table `z`, returned at the check whose held-out
    RMSE (the `held` cells filled from the training cells with `CHECK_DRAWS` codes) was lowest."""
    n, d = z.shape
    with torch.random.fork_rng(devices=[]):  # the layers' initial weights, the caller's random state untouched
        torch.manual_seed(seed)
        model = Miwae(d, latent if latent else max(2, min(LATENT, d - 1)), width).to(z.device)
    # torch.optim.Adam's default (unfused) steps, without the torch._dynamo import of torch.optim's wrappers
    optimizer = Adam(list(model.parameters()), lr=lr, fused=False)
    generator = torch.Generator(z.device).manual_seed(seed)
    best, best_state, since = math.inf, None, 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n, generator=generator, device=z.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = -_bound(model, z[idx], train[idx], K, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if epoch % check_every and epoch != epochs:
            continue
        if not held.any():
            best_state = None
            continue
        model.eval()
        pred = fill(model, z, train, seed, CHECK_DRAWS)
        err = float(((pred - z) ** 2 * held).sum() / held.sum())
        if err < best:
            best, since = err, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since += check_every
            if since >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model
