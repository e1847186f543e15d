"""`nll`: importance-sampled −log p(x), checked against a linear Gaussian VAE whose p(x) is known in closed form."""

import dataclasses
import math

import numpy as np
import pytest
import torch

import aekit
from aekit.errors import ConfigError, DataError
from aekit.uses.likelihood import nll


def linear_gaussian_vae(exact: bool, scale: str = "none"):
    """x = W z + b + noise, z ~ N(0, I), noise ~ N(0, I): p(x) = N(b, W Wᵀ + I). With `exact`, the encoder is the true
    posterior N(Σ Wᵀ (x − b), Σ), Σ = (I + Wᵀ W)⁻¹, so that every importance weight equals p(x). With `scale`, x is
    the network's (scaled) rows."""
    cfg = aekit.ModelConfig(
        input_dim=3, encoding_dim=2, code="gaussian", output_activation="linear", seed=1, scale=scale
    )
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


def test_a_scaled_model_sees_scaled_rows_and_reports_the_density_of_the_raw_ones():
    """x = offset + scale · x_s with x_s from the exact linear VAE: p(x) = p(x_s) / Π scale, in closed form."""
    model, w, b, _ = linear_gaussian_vae(exact=True, scale="standard")
    offset, spread = np.array([100.0, -3.0, 0.5]), np.array([20.0, 0.25, 1.0])
    model.set_scaler(offset, spread)
    xs = np.random.default_rng(3).normal(size=(40, 3)).astype(np.float32)
    raw = (xs * spread + offset).astype(np.float32)
    r = nll(model, raw, samples=1, likelihood="gaussian")
    jacobian = np.log(spread).sum()  # log 20 + log 0.25 = +1.61 nats
    assert r.log_jacobian == pytest.approx(jacobian, rel=1e-6)
    assert r.per_row == pytest.approx(true_nll(xs, w, b) + jacobian, abs=2e-4)
    assert "log-Jacobian (+1.61 nats) included" in r.units


def _trained(scale: str):
    """A tiny VAE trained 3 epochs on a table of columns in far-apart units, and its twin without the scaler (the
    same weights): the twin on hand-scaled rows is the network as `nll` should see the raw rows."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    x = (z @ rng.normal(size=(2, 4)) * [50.0, 1.0, 0.01, 3.0] + [1000.0, 0.0, -2.0, 7.0]).astype(np.float32)
    lik = "bernoulli" if scale == "minmax" else "gaussian"
    act = "sigmoid" if lik == "bernoulli" else "linear"
    m_cfg, t_cfg = aekit.configure(
        "vae",
        input_dim=4,
        encoding_dim=2,
        hidden=(8,),
        scale=scale,
        output_activation=act,
        likelihood=lik,
        epochs=3,
        batch_size=50,
        seed=0,
    )
    model = aekit.Autoencoder(m_cfg)
    aekit.fit(model, x, config=t_cfg, verbose=0)
    twin = aekit.Autoencoder(dataclasses.replace(m_cfg, scale="none"))
    twin.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("input_")})
    hand = ((x - model.input_offset.numpy()) / model.input_scale.numpy()).astype(np.float32)
    return model, twin, x, hand, lik


def test_a_trained_standardised_vae_gives_the_scaled_rows_nll_plus_the_log_jacobian():
    model, twin, x, hand, lik = _trained("standard")
    r = nll(model, x, samples=30, likelihood=lik, seed=4)
    by_hand = nll(twin, hand, samples=30, likelihood=lik, seed=4)
    jacobian = float(np.log(model.input_scale.numpy().astype(np.float64)).sum())
    assert abs(jacobian) > 1  # far from 0: the columns spread over 0.01 to 50
    assert r.per_row == pytest.approx(by_hand.per_row + jacobian, abs=1e-3)
    assert r.stderr == pytest.approx(by_hand.stderr, rel=1e-4)


def test_a_minmax_scaled_bernoulli_vae_takes_raw_rows_in_its_range():
    model, twin, x, hand, lik = _trained("minmax")
    r = nll(model, x, samples=30, likelihood=lik, seed=4)  # raw rows (up to ~1000) were refused as outside [0, 1]
    assert r.per_row == pytest.approx(nll(twin, hand, samples=30, likelihood=lik, seed=4).per_row, abs=1e-3)
    assert r.log_jacobian == 0 and r.units == "the minmax-scaled rows the network sees"
    with pytest.raises(DataError, match="the minmax-scaled rows have values outside \\[0, 1\\]"):
        nll(model, x * 2, samples=2, likelihood=lik)
