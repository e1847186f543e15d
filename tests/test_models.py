import numpy as np
import pytest
import torch

import aekit
from aekit import Autoencoder, ConfigError, DataError, ModelConfig


def test_tutorial_model_has_50992_parameters(capsys):
    model = Autoencoder(ModelConfig())
    assert sum(p.numel() for p in model.parameters()) == 50_992
    assert model.summary() is None  # as Keras: it prints
    printed = capsys.readouterr().out
    assert "Total params: 50,992" in printed and "(None, 32)" in printed and "(None, 784)" in printed
    assert printed == aekit.summary(model) + "\n"  # the function returns the same text


def test_summary_print_fn_gets_each_line():
    lines = []
    Autoencoder(ModelConfig(input_dim=6, encoding_dim=2, scale="standard")).summary(print_fn=lines.append)
    assert len(lines) > 5 and all("\n" not in line for line in lines)
    assert any("input_scaling (Standard)" in line for line in lines)
    assert "Non-trainable params: 12" in lines  # the scaler's offset and scale, as Keras' Normalization


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8])
def test_numpy_in_numpy_out_without_gradients(dtype):
    model = Autoencoder(ModelConfig(input_dim=6, encoding_dim=3))
    x = np.arange(24).reshape(4, 6).astype(dtype) % 2  # values 0 and 1 in any dtype: cast value for value
    codes = model.encode(x)
    assert isinstance(codes, np.ndarray) and codes.dtype == np.float32 and codes.shape == (4, 3)
    with torch.no_grad():
        want = model.encode(torch.tensor(x, dtype=torch.float32))
    np.testing.assert_array_equal(codes, want.numpy())
    rows = model.decode(codes)
    assert isinstance(rows, np.ndarray) and rows.shape == (4, 6)
    np.testing.assert_allclose(model.predict(x), rows, rtol=1e-6)
    np.testing.assert_allclose(model.reconstruct(x.tolist()), rows, rtol=1e-6)  # a list is NumPy too


def test_torch_in_torch_out_keeps_gradients():
    model = Autoencoder(ModelConfig(input_dim=6, encoding_dim=3))
    out = model.reconstruct(torch.rand(2, 6))
    assert isinstance(out, torch.Tensor) and out.requires_grad


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.zeros((2, 5)), "rows of 5 values but the model expects 6"),
        (np.array([["a"] * 6]), "must be numeric"),
        (np.zeros((0, 6)), r"x has no rows; pass an array of shape \(n, 6\) with n ≥ 1"),
        (np.array([[0.0] * 6, [0.0] * 5 + [np.nan]]), r"x holds NaN or inf \(first in row 1\); clean the data"),
        (np.array([[np.inf] * 6]), r"x holds NaN or inf \(first in row 0\)"),
    ],
)
def test_numpy_input_errors_name_the_fix(bad, words):
    with pytest.raises(DataError, match=words):
        Autoencoder(ModelConfig(input_dim=6, encoding_dim=3)).encode(bad)


@pytest.mark.parametrize("method, width", [("encode", 6), ("decode", 3), ("reconstruct", 6), ("__call__", 6)])
def test_a_tensor_of_the_wrong_width_names_the_shape_expected(method, width):
    model = Autoencoder(ModelConfig(input_dim=6, encoding_dim=3))
    with pytest.raises(DataError, match=rf"has shape \(2, {width + 1}\) but the model expects rows of {width} values"):
        getattr(model, method)(torch.zeros(2, width + 1))
    with pytest.raises(DataError, match=rf"pass a tensor of shape \(n, {width}\)"):
        getattr(model, method)(torch.zeros(2, 1, width))


@pytest.mark.parametrize("dtype", [torch.float64, torch.int64, torch.bool])
@pytest.mark.parametrize("method, width", [("encode", 6), ("decode", 3), ("reconstruct", 6), ("__call__", 6)])
def test_a_tensor_of_another_dtype_is_cast_as_numpy_rows_are(method, width, dtype):
    model = Autoencoder(ModelConfig(input_dim=6, encoding_dim=3))
    x = (torch.arange(2 * width).reshape(2, width) % 2).to(dtype)
    out = getattr(model, method)(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, getattr(model, method)(x.float()))
    torch.testing.assert_close(getattr(model, method)(x[0]), out[:1])  # one row of `width` values: one row, as NumPy


def test_scaler_works_in_user_units():
    model = Autoencoder(ModelConfig(input_dim=2, encoding_dim=2, scale="standard"))
    with pytest.raises(DataError, match="scaler is not fitted"):
        model.encode(np.ones((1, 2)))
    model.set_scaler([100.0, -5.0], [10.0, 2.0])
    x = torch.tensor([[110.0, -3.0]])
    assert torch.equal(model.scale_rows(x), torch.tensor([[1.0, 1.0]]))
    assert torch.allclose(model.unscale_rows(model.scale_rows(x)), x)
    assert torch.allclose(model.encode(x), model.encoder(torch.tensor([[1.0, 1.0]])))
    assert torch.allclose(
        model(x),
        model.decoder(model.encoder(torch.tensor([[1.0, 1.0]]))) * torch.tensor([10.0, 2.0])
        + torch.tensor([100.0, -5.0]),
    )


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


def test_global_residual_adds_the_input_before_the_output_activation():
    shape = dict(architecture="conv", image_shape=(1, 8, 8), input_dim=64, hidden=(4,), encoding_dim=32, skip=True)
    model = Autoencoder(ModelConfig(**shape, global_residual=True, output_activation="clip"))
    plain = Autoencoder(ModelConfig(**shape, output_activation="linear"))
    plain.load_state_dict(model.state_dict())  # the same weights: the one difference is the input added
    x = torch.rand(5, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), (plain(x) + x).clamp(0, 1), atol=1e-6)
        sig = Autoencoder(ModelConfig(**shape, global_residual=True))  # a sigmoid output: its logits hold the input
        sig.load_state_dict(model.state_dict())
        assert torch.allclose(sig.decode_logits(sig.encode(x), x), plain(x) + x, atol=1e-6)
        model.decoder[-3].weight.zero_()  # the last conv: no correction, so the output is the input itself
        model.decoder[-3].bias.zero_()
        assert torch.equal(model(x), x)
        assert torch.equal(model(x + 0.5), (x + 0.5).clamp(0, 1))  # 'clip' keeps the output in [0, 1]
        assert model.decode(model.encode(x)).shape == (5, 64)  # without the input: the correction alone


def test_a_dict_for_a_config_names_the_fix():
    with pytest.raises(
        ConfigError, match=r"config must be a ModelConfig, got dict; .*ModelConfig\(\*\*d\) for a dict d"
    ):
        Autoencoder({"input_dim": 4})
