import math

import pytest
import torch

import aekit
from aekit import Autoencoder, ModelConfig, TrainConfig
from aekit.objectives import (
    bce,
    bce_from_logits,
    closed_form_layer,
    contractive,
    contractive_closed_form,
    contractive_exact,
    corrupt,
    jacobian_norm,
    kl_sparsity,
    l1_activity,
    loss_terms,
    mse,
    psnr,
    weight_decay,
)


def test_bce_from_logits_equals_keras_bce_of_probabilities():
    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(8, 20, generator=g), torch.rand(8, 20, generator=g)
    assert torch.allclose(bce_from_logits(logits, target), bce(torch.sigmoid(logits), target), atol=1e-5)
    p = torch.sigmoid(logits)
    manual = -(target * p.log() + (1 - target) * (1 - p).log()).mean()
    assert torch.allclose(bce(p, target), manual, atol=1e-6)
    assert torch.allclose(mse(p, target), ((p - target) ** 2).mean())


def test_l1_activity_is_keras_sum_over_batch():
    z = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    assert float(l1_activity(z)) == pytest.approx(3.5 / 2)


def test_kl_sparsity_matches_formula_and_is_zero_at_target():
    z = torch.tensor([[0.2, 0.5], [0.4, 0.1]])
    rho = 0.1
    rh = z.mean(0)
    expected = sum(rho * torch.log(rho / r) + (1 - rho) * torch.log((1 - rho) / (1 - r)) for r in rh)
    assert float(kl_sparsity(z, rho)) == pytest.approx(float(expected), rel=1e-5)
    assert float(kl_sparsity(torch.full((4, 3), 0.1), 0.1)) == pytest.approx(0.0, abs=1e-6)


def test_weight_decay_counts_weights_not_biases():
    model = Autoencoder(ModelConfig(encoding_dim=4, input_dim=6))
    expected = 0.5 * (model.encoder[0].weight.pow(2).sum() + model.decoder[0].weight.pow(2).sum())
    torch.nn.init.ones_(model.encoder[0].bias)
    assert torch.allclose(weight_decay(model), expected)


@pytest.mark.parametrize("noise, level", [("gaussian", 0.5), ("masking", 0.25), ("salt_pepper", 0.2)])
def test_corruptions_leave_input_alone_and_change_the_expected_share(noise, level):
    x = torch.rand(200, 50, generator=torch.Generator().manual_seed(0)).clamp(0.05, 0.95)
    before = x.clone()
    y = corrupt(x, noise, level, torch.Generator().manual_seed(1))
    assert torch.equal(x, before)
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    changed = float((y != x).float().mean())
    if noise == "gaussian":
        assert changed > 0.99
    else:
        assert changed == pytest.approx(level, abs=0.02)
    if noise == "masking":
        assert bool((y[y != x] == 0).all())
    if noise == "salt_pepper":
        assert set(torch.unique(y[y != x]).tolist()) <= {0.0, 1.0}


def test_corruption_is_reproducible_from_the_generator():
    x = torch.rand(10, 10)
    a = corrupt(x, "gaussian", 0.3, torch.Generator().manual_seed(5))
    b = corrupt(x, "gaussian", 0.3, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_loss_terms_name_every_term_and_sum_them():
    model = Autoencoder(ModelConfig(input_dim=12, encoding_dim=3, code_activation="sigmoid"))
    x = torch.rand(6, 12)
    terms = loss_terms(model, x, x, TrainConfig(l1=1e-3, kl_beta=3, kl_rho=0.1, weight_decay=3e-3))
    assert set(terms) == {"recon", "l1", "kl", "weight_decay", "loss"}
    assert torch.allclose(terms["loss"], terms["recon"] + terms["l1"] + terms["kl"] + terms["weight_decay"])
    assert set(loss_terms(model, x, x, TrainConfig())) == {"recon", "loss"}


# --------------------------------------------------------------------------- contractive penalty, PSNR
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


def test_loss_terms_add_the_weighted_contractive_term():
    model = Autoencoder(ModelConfig(input_dim=12, encoding_dim=3, code_activation="sigmoid"))
    x = torch.rand(6, 12)
    terms = loss_terms(model, x, x, TrainConfig(contractive=0.5))
    assert set(terms) == {"recon", "contractive", "loss"}
    assert torch.allclose(terms["contractive"], 0.5 * contractive_exact(model, x))
    assert torch.allclose(terms["loss"], terms["recon"] + terms["contractive"])


@pytest.mark.parametrize("hidden, activation", [((7,), "relu"), ((), "relu"), ((), "sigmoid"), ((), "tanh")])
def test_jacobian_norm_is_the_mean_frobenius_norm(hidden, activation):
    """Deep encoders by torch.func; one-layer encoders by the closed form, which must agree with it."""
    model = Autoencoder(ModelConfig(input_dim=10, hidden=hidden, encoding_dim=3, code_activation=activation))
    x = torch.rand(6, 10, generator=torch.Generator().manual_seed(5))
    per_row = [contractive_exact(model, x[i : i + 1]).sqrt() for i in range(6)]
    assert jacobian_norm(model, x, batch_size=4) == pytest.approx(float(sum(per_row) / 6), rel=1e-5)


def test_psnr_known_values():
    clean = torch.zeros(3, 16)
    assert psnr(clean, clean + 0.1) == pytest.approx(20.0, abs=1e-6)  # MSE 0.01 → 10·log10(1/0.01)
    assert psnr(clean.numpy(), clean.numpy() + 0.01) == pytest.approx(40.0, abs=1e-6)
    assert psnr(clean, clean + 0.5, data_range=2.0) == pytest.approx(
        10 * torch.log10(torch.tensor(4 / 0.25)).item(), abs=1e-5
    )
    mixed = torch.stack([torch.full((16,), 0.1), torch.full((16,), 0.01)])
    assert psnr(torch.zeros(2, 16), mixed) == pytest.approx(30.0, abs=1e-6)  # the mean of 20 and 40 dB
    with pytest.raises(aekit.DataError, match="shapes differ"):
        psnr(clean, torch.zeros(2, 16))
    whole = torch.stack([torch.full((16,), 0.1), torch.full((16,), 0.0)])  # one set MSE of 0.005
    assert psnr(torch.zeros(2, 16), whole, per_image=False) == pytest.approx(10 * math.log10(1 / 0.005), abs=1e-6)


@pytest.mark.parametrize("scale", [0.1, 3.0, 40.0, 300.0])
def test_bce_from_logits_matches_torch_in_value_and_gradient(scale):
    import torch.nn.functional as F

    from aekit.objectives import bce_from_logits

    g = torch.Generator().manual_seed(0)
    x = (torch.randn(64, 50, generator=g) * scale).requires_grad_()
    y = (torch.rand(64, 50, generator=g) > 0.5).float() * torch.rand(64, 50, generator=g)
    ref = F.binary_cross_entropy_with_logits(x.double(), y.double())
    (gref,) = torch.autograd.grad(ref, x)
    ours = bce_from_logits(x, y)
    (gours,) = torch.autograd.grad(ours, x)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)
    assert torch.allclose(gours, gref.float(), rtol=1e-5, atol=1e-9)
    assert bce_from_logits(torch.tensor([[float("nan")]]), torch.tensor([[0.5]])).isnan()


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
