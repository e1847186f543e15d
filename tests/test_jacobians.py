"""The encoder's Jacobian (aekit.jacobians): the contractive penalty's closed and exact forms, the Jacobian norms."""

import pytest
import torch

from aekit import Autoencoder, ModelConfig
from aekit.jacobians import (
    closed_form_layer,
    contractive,
    contractive_closed_form,
    contractive_exact,
    jacobian_norm,
)


def finite_difference_sq_frobenius(encoder, x, eps=1e-3):
    """Mean over rows of ‖J‖²_F by central differences, in float64, one input coordinate at a time."""
    enc = encoder.double()
    x = x.double()
    total = torch.zeros(x.shape[0], dtype=torch.float64)
    with torch.no_grad():
        for j in range(x.shape[1]):
            step = torch.zeros_like(x)
            step[:, j] = eps
            total += ((enc(x + step) - enc(x - step)) / (2 * eps)).pow(2).sum(dim=1)
    encoder.float()
    return float(total.mean())


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "linear"])
def test_contractive_closed_form_equals_autograd_and_finite_differences(act):
    model = Autoencoder(ModelConfig(input_dim=15, encoding_dim=6, code_activation=act, seed=3))
    x = torch.rand(9, 15, generator=torch.Generator().manual_seed(0))
    closed = contractive_closed_form(model, x).detach()
    exact = contractive_exact(model, x).detach()
    assert float(closed) == pytest.approx(float(exact), rel=1e-5)
    assert float(exact) == pytest.approx(finite_difference_sq_frobenius(model.encoder, x), rel=1e-4)
    if act == "sigmoid":  # Rifai et al.'s formula written out by hand
        h, w = model.encode(x), model.encoder[0].weight
        by_hand = sum(((h[n] * (1 - h[n])) ** 2 * (w**2).sum(dim=1)).sum() for n in range(9)) / 9
        assert float(closed) == pytest.approx(float(by_hand), rel=1e-5)


def test_contractive_gradients_agree_between_closed_and_exact_forms():
    model = Autoencoder(ModelConfig(input_dim=12, encoding_dim=5, code_activation="sigmoid", seed=1))
    x = torch.rand(7, 12, generator=torch.Generator().manual_seed(2))
    w = model.encoder[0].weight
    g_closed = torch.autograd.grad(contractive_closed_form(model, x), w)[0]
    g_exact = torch.autograd.grad(contractive_exact(model, x), w)[0]
    assert float(g_closed.abs().max()) > 0
    assert torch.allclose(g_closed, g_exact, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(input_dim=10, hidden=(8, 6), encoding_dim=3, activation="tanh", code_activation="sigmoid"),
        ModelConfig(input_dim=64, architecture="conv", image_shape=(1, 8, 8), hidden=(4,), encoding_dim=8),
    ],
)
def test_exact_contractive_matches_finite_differences_for_any_encoder(config):
    model = Autoencoder(config)
    assert closed_form_layer(model.encoder) is None  # so `contractive` takes the exact path
    x = torch.rand(4, config.input_dim, generator=torch.Generator().manual_seed(4))
    exact = contractive(model, x)
    assert float(exact) > 0
    assert float(exact) == pytest.approx(finite_difference_sq_frobenius(model.encoder, x), rel=1e-3)
    with torch.no_grad():  # as inside `evaluate`
        assert float(contractive(model, x)) == pytest.approx(float(exact), rel=1e-6)


def test_the_automatic_choice_follows_the_encoder_structure():
    one_layer = Autoencoder(ModelConfig(input_dim=10, encoding_dim=4, code_activation="sigmoid"))
    assert closed_form_layer(one_layer.encoder) is not None
    assert closed_form_layer(Autoencoder(ModelConfig(input_dim=10, hidden=(6,), encoding_dim=4)).encoder) is None
    assert (
        closed_form_layer(Autoencoder(ModelConfig(input_dim=10, encoding_dim=4, code_activation="gelu")).encoder)
        is None
    )
    x = torch.rand(5, 10)
    assert torch.allclose(contractive(one_layer, x), contractive_closed_form(one_layer, x))


@pytest.mark.parametrize("hidden, activation", [((7,), "relu"), ((), "relu"), ((), "sigmoid"), ((), "tanh")])
def test_jacobian_norm_is_the_mean_frobenius_norm(hidden, activation):
    """Deep encoders by torch.func; one-layer encoders by the closed form, which must agree with it."""
    model = Autoencoder(ModelConfig(input_dim=10, hidden=hidden, encoding_dim=3, code_activation=activation))
    x = torch.rand(6, 10, generator=torch.Generator().manual_seed(5))
    per_row = [contractive_exact(model, x[i : i + 1]).sqrt() for i in range(6)]
    assert jacobian_norm(model, x, batch_size=4) == pytest.approx(float(sum(per_row) / 6), rel=1e-5)


def test_jacobian_norm_of_a_one_layer_encoder_is_its_closed_form():
    model = Autoencoder(ModelConfig(input_dim=10, encoding_dim=4, code_activation="sigmoid", seed=2))
    x = torch.rand(6, 10, generator=torch.Generator().manual_seed(5))
    per_row = [contractive_exact(model, x[i : i + 1]).sqrt() for i in range(6)]  # jacrev, the general form
    assert jacobian_norm(model, x, batch_size=4) == pytest.approx(float(sum(per_row) / 6), rel=1e-5)


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(input_dim=12, hidden=(9,), encoding_dim=5, seed=1),
        ModelConfig(input_dim=16, architecture="conv", image_shape=(1, 4, 4), hidden=(3,), encoding_dim=4, seed=1),
    ],
)
def test_the_hutchinson_estimate_is_close_to_the_exact_norm(config):
    from aekit.errors import ConfigError

    model = Autoencoder(config)
    x = torch.rand(64, config.input_dim, generator=torch.Generator().manual_seed(0))
    exact = jacobian_norm(model, x)
    many = jacobian_norm(model, x, method="hutchinson", projections=256, seed=3)
    few = [jacobian_norm(model, x, method="hutchinson", projections=8, seed=s) for s in range(3)]
    assert many == pytest.approx(exact, rel=0.01)
    assert all(f == pytest.approx(exact, rel=0.05) for f in few) and len(set(few)) == 3  # seeded, and random
    assert jacobian_norm(model, x, method="hutchinson", seed=1) == jacobian_norm(model, x, method="hutchinson", seed=1)
    with pytest.raises(ConfigError, match="unknown method 'jvp' for jacobian_norm; choose one of: exact, hutchinson"):
        jacobian_norm(model, x, method="jvp")


def test_the_moved_names_are_still_importable_from_aekit_objectives():
    import aekit
    import aekit.jacobians
    import aekit.objectives

    for name in ("closed_form_layer", "contractive", "contractive_closed_form", "contractive_exact"):
        assert getattr(aekit.objectives, name) is getattr(aekit.jacobians, name), name
    assert aekit.objectives.jacobian_norm is aekit.jacobians.jacobian_norm is aekit.jacobian_norm
    assert aekit.objectives.jacobian_norms is aekit.jacobians.jacobian_norms
