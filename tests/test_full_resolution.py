"""ModelConfig(full_resolution=True): the DnCNN-like conv model (aekit.full_resolution) and the kind denoising-photo."""

import numpy as np
import pytest
import torch
from aekit_subprocess import aekit_cli

import aekit
from aekit.errors import ConfigError
from aekit.full_resolution import ResidualDecoder
from aekit.uses.denoising import denoise


def tiny(**kw) -> aekit.ModelConfig:
    base = dict(
        architecture="conv",
        image_shape=(1, 8, 8),
        input_dim=64,
        hidden=(4,),
        encoding_dim=6 * 64,
        full_resolution=True,
        output_activation="linear",
    )
    return aekit.ModelConfig(**{**base, **kw})


def test_layers_keep_the_image_size_and_the_code_is_feature_maps():
    model = aekit.Autoencoder(tiny())
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 4), (4, 6), (6, 4), (4, 1)]
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.Upsample)) for m in model.modules())
    x = torch.rand(5, 64)
    assert model.encode(x).shape == (5, 6 * 64) and model(x).shape == (5, 64)
    assert isinstance(model.decoder, ResidualDecoder)
    text = aekit.models.summary(model)
    assert "(None, 6, 8, 8)" in text and f"Total params: {sum(p.numel() for p in model.parameters()):,}" in text


def test_output_is_the_input_minus_the_noise_estimate():
    model = aekit.Autoencoder(tiny())
    x = torch.rand(3, 64)
    code = model.encode(x)
    estimate = -model.decode(code)  # without the input the decoder sees a blank image: 0 − estimate
    assert estimate.abs().max() > 0
    assert torch.allclose(model(x), x - estimate, atol=1e-6)
    with torch.no_grad():  # a zero noise estimate: the model is the identity
        model.decoder[-3].weight.zero_()
        model.decoder[-3].bias.zero_()
    assert torch.equal(model(x), x)


def test_sigmoid_output_logits_are_the_residual():
    model = aekit.Autoencoder(tiny(output_activation="sigmoid"))
    x = torch.rand(3, 64)
    code = model.encode(x)
    assert torch.allclose(torch.sigmoid(model.decode_logits(code, x)), model(x), atol=1e-6)


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(full_resolution=1), "true or false"),
        (dict(architecture="dense", image_shape=None), "only for a 'conv' architecture"),
        (dict(skip=True), "no skip"),
        (dict(code="gaussian"), "deterministic code"),
        (dict(encoding_dim=6 * 16), "a multiple of 64"),  # a pooled grid's size is not the image's
    ],
)
def test_bad_settings_are_refused(changes, match):
    with pytest.raises(ConfigError, match=match):
        tiny(**changes)


def test_kind_denoising_photo_presets():
    model_cfg, train_cfg = aekit.configure("denoising-photo", input_dim=16 * 16)
    assert model_cfg.full_resolution and model_cfg.image_shape == (1, 16, 16)
    assert model_cfg.encoding_dim == 32 * 16 * 16 and model_cfg.output_activation == "linear"
    assert (train_cfg.loss, train_cfg.noise) == ("mse", "gaussian")
    assert train_cfg.noise_level == pytest.approx(25 / 255, rel=1e-3)
    assert aekit.configure("denoising-photo", input_dim=16 * 16, full_resolution=False)[0].encoding_dim == 32 * 256
    with pytest.raises(ConfigError, match="image_shape"):
        aekit.configure("denoising-photo", input_dim=10)


def test_denoising_photo_learns_to_denoise_and_round_trips(tmp_path, mnist_small):
    """Trained briefly on 600 real MNIST crops (16×16) at σ 25/255, it beats the noisy input by PSNR on unseen
    crops; saved and loaded, it gives the same output (photograph figures: benchmarks/denoise.py)."""
    x, _, x_test, _ = mnist_small
    crop = lambda a: np.ascontiguousarray(a.reshape(-1, 28, 28)[:, 6:22, 6:22].reshape(-1, 256))  # noqa: E731
    model_cfg, train_cfg = aekit.configure("denoising-photo", input_dim=256, hidden=(16,), epochs=4, seed=0)
    model = aekit.Autoencoder(model_cfg)
    aekit.fit(model, crop(x[:600]), config=train_cfg, verbose=0)
    model.eval()
    res = denoise(model, crop(x_test[:50]), noise="gaussian", noise_level=train_cfg.noise_level, seed=1)
    assert res.noise == "gaussian" and res.psnr_denoised > res.psnr_noisy + 1.5
    path = aekit.save_model(model, tmp_path / "photo.safetensors")
    again = aekit.load_model(path)
    assert again.config.full_resolution
    np.testing.assert_allclose(again.reconstruct(res.noisy), model.reconstruct(res.noisy), atol=1e-6)


def test_cli_trains_the_kind_and_denoises_with_the_run(tmp_path, mnist_small):
    """`aekit train --kind denoising-photo` keeps the kind's linear output and MSE over the CLI's own defaults, and
    `aekit denoise` corrupts with the run's σ 25/255 and denoises."""
    crops = mnist_small[0][:100].reshape(-1, 28, 28)[:, 6:22, 6:22].reshape(-1, 256)
    np.save(tmp_path / "x.npy", np.ascontiguousarray(crops))
    args = ("--data", tmp_path / "x.npy", "--epochs", 1, "--out", tmp_path / "r", "--no-tensorboard", "--quiet")
    aekit_cli("train", "--kind", "denoising-photo", *args, check=True)
    from aekit.io import read_json

    config = read_json(tmp_path / "r" / "config.json")
    assert config["model"]["full_resolution"] and config["model"]["output_activation"] == "linear"
    assert (config["train"]["loss"], config["train"]["noise"]) == ("mse", "gaussian")
    proc = aekit_cli("denoise", tmp_path / "r", tmp_path / "x.npy", "-o", tmp_path / "clean.npy", check=True)
    assert "gaussian noise 0.098" in proc.stdout and np.load(tmp_path / "clean.npy").shape == (100, 256)
