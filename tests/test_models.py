import pytest
import torch

from aekit import Autoencoder, ModelConfig


def test_tutorial_model_has_50992_parameters():
    model = Autoencoder(ModelConfig())
    assert sum(p.numel() for p in model.parameters()) == 50_992
    text = model.summary()
    assert "Total params: 50,992" in text and "(None, 32)" in text and "(None, 784)" in text


def test_keras_initialisation_glorot_uniform_zero_bias():
    model = Autoencoder(ModelConfig())
    w = model.encoder[0].weight.detach()
    limit = (6 / (784 + 32)) ** 0.5
    assert float(w.abs().max()) <= limit
    assert float(w.abs().max()) > 0.95 * limit  # uniform over the whole range, not a narrower init
    assert all(float(m.bias.detach().abs().max()) == 0 for m in model.modules() if isinstance(m, torch.nn.Linear))


def test_encoder_and_decoder_work_alone():
    model = Autoencoder(ModelConfig(encoding_dim=8))
    x = torch.rand(5, 784)
    z = model.encode(x)
    assert z.shape == (5, 8) and bool((z >= 0).all())  # relu code
    out = model.decode(z)
    assert out.shape == (5, 784) and bool(((out > 0) & (out < 1)).all())  # sigmoid output
    assert torch.equal(model(x), out)


@pytest.mark.parametrize("hidden", [(), (128,), (128, 64), (1000, 500, 250)])
def test_deep_stacks_mirror_the_encoder(hidden):
    model = Autoencoder(ModelConfig(hidden=hidden, encoding_dim=30))
    enc = [m.out_features for m in model.encoder if isinstance(m, torch.nn.Linear)]
    dec = [m.out_features for m in model.decoder if isinstance(m, torch.nn.Linear)]
    assert enc == [*hidden, 30]
    assert dec == [*hidden[::-1], 784]


def test_seed_fixes_the_initialisation():
    a, b, c = (Autoencoder(ModelConfig(seed=s)) for s in (1, 1, 2))
    assert torch.equal(a.encoder[0].weight, b.encoder[0].weight)
    assert not torch.equal(a.encoder[0].weight, c.encoder[0].weight)


def test_decode_logits_matches_decode():
    model = Autoencoder(ModelConfig(encoding_dim=4))
    z = torch.rand(3, 4)
    assert torch.allclose(torch.sigmoid(model.decode_logits(z)), model.decode(z), atol=1e-6)
