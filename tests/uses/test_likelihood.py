"""`nll`: importance-sampled −log p(x), checked against a linear Gaussian VAE whose p(x) is known in closed form."""

import math

import numpy as np
import pytest
import torch

import aekit
from aekit.errors import ConfigError, DataError
from aekit.uses.likelihood import nll


def linear_gaussian_vae(exact: bool):
    """x = W z + b + noise, z ~ N(0, I), noise ~ N(0, I): p(x) = N(b, W Wᵀ + I). With `exact`, the encoder is the true
    posterior N(Σ Wᵀ (x − b), Σ), Σ = (I + Wᵀ W)⁻¹, so that every importance weight equals p(x)."""
    cfg = aekit.ModelConfig(input_dim=3, encoding_dim=2, code="gaussian", output_activation="linear", seed=1)
    model = aekit.Autoencoder(cfg)
    w = torch.tensor([[1.0, 1.0], [1.0, -1.0], [0.0, 0.5]])  # orthogonal columns: Σ is diagonal, as q's covariance
    b = torch.tensor([0.2, -0.1, 0.4])
    sigma = torch.linalg.inv(torch.eye(2) + w.T @ w)
    enc = model.encoder[0]
    with torch.no_grad():
        model.decoder[0].weight.copy_(w)
        model.decoder[0].bias.copy_(b)
        a = sigma @ w.T if exact else 0.3 * sigma @ w.T
        logvar = torch.log(torch.diagonal(sigma)) + (0.0 if exact else 1.0)
        enc.weight.copy_(torch.cat([a, torch.zeros(2, 3)]))
        enc.bias.copy_(torch.cat([-a @ b, logvar]))
    return model, w, b, sigma


def true_nll(x, w, b):
    dist = torch.distributions.MultivariateNormal(b, w @ w.T + torch.eye(3))
    return -dist.log_prob(torch.from_numpy(x)).numpy()


def test_with_the_true_posterior_one_sample_is_exact():
    model, w, b, sigma = linear_gaussian_vae(exact=True)
    assert torch.allclose(sigma, torch.diag(torch.diagonal(sigma)))
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    r = nll(model, x, samples=1, likelihood="gaussian")
    assert r.per_row == pytest.approx(true_nll(x, w, b), abs=1e-4)
    assert r.stderr == pytest.approx(r.per_row.std(ddof=1) / math.sqrt(40))


def test_more_samples_tighten_the_bound_towards_the_true_likelihood():
    model, w, b, _ = linear_gaussian_vae(exact=False)
    x = np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32)
    truth = true_nll(x, w, b).mean()
    estimates = [nll(model, x, samples=k, likelihood="gaussian", seed=2).nll for k in (1, 10, 1000)]
    assert estimates[0] > estimates[1] > estimates[2] >= truth - 0.02  # an upper bound on −log p(x), in expectation
    assert estimates[2] == pytest.approx(truth, abs=0.05) and estimates[0] - truth > 0.1


def test_a_non_generative_model_and_bad_rows_are_refused():
    with pytest.raises(ConfigError, match="needs a generative model .* this model's code is deterministic"):
        nll(aekit.Autoencoder(aekit.ModelConfig(input_dim=3, encoding_dim=2)), np.zeros((2, 3)), samples=2)
    model = aekit.Autoencoder(aekit.configure("vae", input_dim=3, encoding_dim=2, hidden=(4,))[0])
    with pytest.raises(DataError, match="outside \\[0, 1\\], which a Bernoulli decoder cannot model"):
        nll(model, np.full((2, 3), 2.0), samples=2, likelihood="bernoulli")
