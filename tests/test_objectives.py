import math

import pytest
import torch

import aekit
from aekit import Autoencoder, ModelConfig, TrainConfig
from aekit.jacobians import contractive_exact
from aekit.objectives import (
    bce,
    bce_from_logits,
    corrupt,
    kl_sparsity,
    l1_activity,
    loss_terms,
    mse,
    psnr,
    warn_slow_bfloat16,
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


@pytest.mark.parametrize("capability, name, warns", [((7, 5), "Tesla T4", True), ((8, 0), "A100", False)])
def test_bfloat16_warns_on_a_gpu_older_than_ampere(monkeypatch, capability, name, warns):
    """No GPU here: torch's answers about one stand in (get_device_capability, on every torch from 2.2 on)."""
    import warnings

    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_slow_bfloat16("bfloat16", torch.device("cuda", 0))
    said = f"precision='bfloat16' on a GPU without bfloat16 arithmetic ({name}): the products are emulated"
    assert [str(w.message).startswith(said) for w in caught] == ([True] if warns else [])


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


# --------------------------------------------------------------------------- the contractive term, PSNR
def test_loss_terms_add_the_weighted_contractive_term():
    model = Autoencoder(ModelConfig(input_dim=12, encoding_dim=3, code_activation="sigmoid"))
    x = torch.rand(6, 12)
    terms = loss_terms(model, x, x, TrainConfig(contractive=0.5))
    assert set(terms) == {"recon", "contractive", "loss"}
    assert torch.allclose(terms["contractive"], 0.5 * contractive_exact(model, x))
    assert torch.allclose(terms["loss"], terms["recon"] + terms["contractive"])


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
