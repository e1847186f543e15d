"""denoise: PSNR, corrupting with the run's own noise, already-noisy input, `aekit denoise`; on real MNIST."""

import math

import numpy as np
import pytest
import torch
from aekit_subprocess import aekit_cli

import aekit
from aekit.errors import ConfigError, DataError
from aekit.uses.denoising import denoise, denoise_figure, psnr


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("den")
    aekit.train(
        aekit.ModelConfig(),
        aekit.TrainConfig(epochs=3, optimizer="adam", batch_size=64, noise="gaussian", noise_level=0.5),
        limit=1500,
        out=root / "noisy",
        tensorboard=False,
        verbose=0,
    )
    aekit.train(
        aekit.ModelConfig(encoding_dim=4),
        aekit.TrainConfig(epochs=1, optimizer="adam"),
        limit=300,
        out=root / "plain",
        tensorboard=False,
        verbose=0,
    )
    return root / "noisy", root / "plain"


def test_psnr():
    clean = np.zeros((4, 10))
    assert psnr(clean, clean + 0.1, per_image=False) == pytest.approx(20.0)
    assert psnr(clean, clean + 0.1, data_range=2.0, per_image=False) == pytest.approx(20.0 + 20 * math.log10(2))
    assert psnr(clean, clean, per_image=False) == math.inf
    with pytest.raises(DataError, match="shapes differ"):
        psnr(clean, np.zeros((4, 9)), per_image=False)


def test_denoise_uses_the_runs_noise_and_improves_psnr(runs, mnist_small):
    x = mnist_small[2][:200]
    res = denoise(runs[0], x)
    assert (res.noise, res.noise_level) == ("gaussian", 0.5)
    assert res.noisy.shape == res.denoised.shape == res.clean.shape == (200, 784)
    np.testing.assert_array_equal(res.clean, x)
    assert res.psnr_noisy == pytest.approx(psnr(x, res.noisy, per_image=False))
    assert res.psnr_denoised == pytest.approx(psnr(x, res.denoised, per_image=False))
    assert res.psnr_denoised > res.psnr_noisy + 1.0  # even a briefly trained denoiser removes much of σ=0.5 noise
    again = denoise(runs[0], x)
    np.testing.assert_array_equal(again.noisy, res.noisy)  # seeded noise
    assert not np.array_equal(denoise(runs[0], x, seed=1).noisy, res.noisy)
    other = denoise(runs[0], x, noise="masking", noise_level=0.3)
    assert other.noise == "masking" and np.all(other.noisy[x == 0] == 0)
    assert len(denoise_figure(res, image_shape=(28, 28), n=5).axes) == 15


def test_already_noisy_input_is_only_denoised(runs, mnist_small):
    x = mnist_small[2][:20]
    res = denoise(runs[0], x, noisy_input=True)
    model = aekit.load_model(runs[0])
    with torch.no_grad():
        np.testing.assert_allclose(res.denoised, model(torch.from_numpy(x)).numpy(), atol=1e-6)
    assert res.clean is None and res.psnr_noisy is None and res.noise == "none"
    assert len(denoise_figure(res, image_shape=(28, 28), n=5).axes) == 10
    with pytest.raises(ConfigError, match="drop noise/noise_level"):
        denoise(runs[0], x, noisy_input=True, noise="gaussian")


def test_plain_run_needs_a_noise(runs, mnist_small):
    x = mnist_small[2][:20]
    with pytest.raises(ConfigError, match="the run was not trained with noise"):
        denoise(runs[1], x)
    with pytest.raises(ConfigError, match='no noise level for .masking.; pass noise="masking" noise_level=0.5'):
        denoise(runs[1], x, noise="masking")  # it said "the run was not trained with noise; pass noise='gaussian' …"
    assert denoise(runs[1], x, noise="salt_pepper", noise_level=0.2).noise == "salt_pepper"
    with pytest.raises(ConfigError, match="≤ 1"):
        denoise(runs[1], x, noise="masking", noise_level=1.5)
    with pytest.raises(DataError, match="outside \\[0, 1\\]"):
        denoise(runs[1], x * 3, noise="gaussian", noise_level=0.1)


def test_cli_denoise(runs, tmp_path):
    proc = aekit_cli(
        "denoise",
        runs[0],
        "mnist",
        "--limit",
        50,
        "-o",
        tmp_path / "d.npy",
        "--plot",
        tmp_path / "g.png",
        "--save-noisy",
        tmp_path / "n.npy",
    )
    assert proc.returncode == 0, proc.stderr
    assert "gaussian noise 0.5: PSNR noisy" in proc.stdout
    assert np.load(tmp_path / "d.npy").shape == np.load(tmp_path / "n.npy").shape == (50, 784)
    assert (tmp_path / "g.png").is_file()
    proc = aekit_cli("denoise", runs[0], tmp_path / "n.npy", "--noisy", "--noise", "masking", "-o", tmp_path / "e.npy")
    assert proc.returncode == 2 and proc.stderr.startswith("aekit: error: noisy input is denoised as it is")
    assert not (tmp_path / "e.npy").exists()


def test_a_denoised_result_shows_in_a_notebook_as_a_table(runs, mnist_small):
    from html_tables import parse_html

    res = denoise(runs[0], mnist_small[2][:50])
    (rows,), _, _ = parse_html(res._repr_html_())
    assert rows == [
        ["rows", "50"],
        ["noise", "gaussian"],
        ["noise level", "0.5000"],
        ["PSNR noisy (dB)", f"{res.psnr_noisy:,.4f}"],
        ["PSNR denoised (dB)", f"{res.psnr_denoised:,.4f}"],
    ]
    (rows,), _, _ = parse_html(denoise(runs[0], mnist_small[2][:5], noisy_input=True)._repr_html_())
    assert rows == [["rows", "5"], ["noise", "already noisy input"]]


# --------------------------------------------------------------------------- the denoising recipe
def test_mixed_noise_gives_each_row_one_corruption():
    x = torch.full((600, 50), 0.5)
    noisy = aekit.objectives.corrupt(x, "mixed", 0.6, torch.Generator().manual_seed(0))
    assert noisy.shape == x.shape and float(noisy.min()) >= 0 and float(noisy.max()) <= 1
    changed = noisy != x
    values = [set(torch.unique(row[c]).tolist()) for row, c in zip(noisy, changed)]
    masked = sum(v == {0.0} for v in values)
    salted = sum(v == {0.0, 1.0} for v in values)
    gaussian = sum(len(v) > 2 for v in values)
    assert masked > 100 and salted > 100 and gaussian > 100  # about a third each
    again = aekit.objectives.corrupt(x, "mixed", 0.6, torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)


def test_skip_decoder_sees_the_input():
    cfg = aekit.ModelConfig(
        architecture="conv", image_shape=(1, 8, 8), input_dim=64, hidden=(4,), encoding_dim=8 * 4, skip=True
    )
    model = aekit.Autoencoder(cfg)
    x = torch.rand(3, 64)
    code = model.encode(x)
    assert torch.allclose(model(x), model.decode_rows(code, x))
    assert not torch.allclose(model.decode_rows(code, x), model.decode(code))  # without the input: a blank image
    assert torch.allclose(torch.sigmoid(model.decode_logits(code, x)), model(x), atol=1e-6)
    assert "Total params" in aekit.models.summary(model)
    with pytest.raises(ConfigError, match="only for a 'conv' architecture"):
        aekit.ModelConfig(skip=True)


def test_recipe_denoise_trains_one_run_for_every_noise(tmp_path, mnist_small):
    model_cfg, train_cfg = aekit.configure("denoising-conv")
    assert (model_cfg.architecture, model_cfg.skip, model_cfg.encoding_dim) == ("conv", True, 32 * 7 * 7)
    assert (model_cfg.global_residual, model_cfg.output_activation, train_cfg.loss) == (True, "clip", "mse")
    assert (train_cfg.noise, train_cfg.noise_level) == ("mixed", 0.6)
    proc = aekit_cli(
        "train",
        "--recipe",
        "denoise",
        "--limit",
        300,
        "--epochs",
        1,
        "--out",
        tmp_path / "r",
        "--no-tensorboard",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    from aekit.io import read_json

    config = read_json(tmp_path / "r" / "config.json")
    assert config["kind"] == "denoising-conv" and config["train"]["noise"] == "mixed"
    x = mnist_small[2][:20]
    for noise, level in (("gaussian", 0.3), ("masking", 0.5), ("salt_pepper", 0.2)):  # quality: benchmarks/denoise.py
        res = denoise(tmp_path / "r", x, noise=noise, noise_level=level)
        assert res.denoised.shape == x.shape and np.isfinite(res.psnr_denoised)
    proc = aekit_cli("train", "--recipe", "denoise", "--kind", "sparse", "--out", tmp_path / "s")
    assert proc.returncode == 2 and "--recipe denoise is the kind denoising-conv" in proc.stderr


@pytest.mark.parametrize("full_resolution", [False, True], ids=["pooled", "full-resolution"])
@pytest.mark.parametrize("shape", [(3, 1, 8, 8), (3, 8, 8)])
@pytest.mark.parametrize("noisy_input", [False, True])
def test_a_batch_of_images_of_the_models_size_comes_back_as_a_batch(shape, full_resolution, noisy_input):
    """A pooled conv run (or a photo run at its own size) gave a (n, C, H, W) batch back as flat rows."""
    kind = "denoising-photo" if full_resolution else "denoising-conv"
    model = aekit.Autoencoder(aekit.configure(kind, input_dim=64, image_shape=(1, 8, 8), hidden=(4,))[0]).eval()
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    kw = {"noisy_input": True} if noisy_input else {"noise": "gaussian", "noise_level": 0.1}
    res = denoise(model, x, **kw)
    rows = denoise(model, x.reshape(3, -1), **kw)
    assert res.denoised.shape == res.noisy.shape == shape and rows.denoised.shape == (3, 64)
    assert res.clean is None if noisy_input else res.clean.shape == shape
    np.testing.assert_array_equal(res.denoised.reshape(3, -1), rows.denoised)
    assert (res.psnr_denoised, res.psnr_noisy) == (rows.psnr_denoised, rows.psnr_noisy)
    torch_res = denoise(model, torch.from_numpy(x), **kw)
    assert torch_res.denoised.shape == shape
