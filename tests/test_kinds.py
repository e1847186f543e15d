"""The kinds: presets, training through the API and the CLI, and each kind's measurable effect on real MNIST."""

import json
import warnings

import numpy as np
import pytest
import torch
from aekit_subprocess import aekit_cli

import aekit
from aekit import Autoencoder, ModelConfig, TrainConfig, configure, fit
from aekit.jacobians import jacobian_norm
from aekit.kinds import KINDS, IdentityWarning, identity_risk
from aekit.objectives import corrupt, psnr


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread here: on the shared 2-core machine two threads made these small fits ~20× slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- presets
def test_presets_set_what_each_kind_needs():
    m, t = configure("undercomplete")
    assert (m, t) == (ModelConfig(), TrainConfig())
    assert configure("complete")[0].encoding_dim == 784
    assert configure("overcomplete", input_dim=100)[0].encoding_dim == 200
    assert configure("sparse")[1].l1 == 1e-4
    m, t = configure("sparse-kl")
    assert (m.encoding_dim, m.code_activation, t.kl_rho, t.loss) == (196, "sigmoid", 0.1, "mse")
    assert t.kl_beta == pytest.approx(3 / 392) and t.weight_decay == pytest.approx(3e-3 / 392)
    m, t = configure("contractive")
    assert m.code_activation == "relu" and t.contractive == 1e-3
    assert configure("deep")[0].hidden == (128, 64)
    m, _ = configure("conv")
    assert (m.architecture, m.image_shape, m.hidden, m.encoding_dim) == ("conv", (1, 28, 28), (16, 8), 128)
    assert sum(p.numel() for p in Autoencoder(m).parameters()) == 4385  # the Keras blog's conv autoencoder


@pytest.mark.parametrize("noise, level", [("gaussian", 0.5), ("masking", 0.25), ("salt_pepper", 0.2)])
def test_denoising_level_follows_the_noise_type(noise, level):
    assert configure("denoising", noise=noise)[1].noise_level == level
    assert configure("denoising", noise=noise, noise_level=0.05)[1].noise_level == 0.05


def test_explicit_fields_win_over_presets_and_bad_names_are_refused():
    m, t = configure("sparse-kl", encoding_dim=64, kl_rho=0.05, loss="bce", seed=4)
    assert (m.encoding_dim, t.kl_rho, t.loss, m.seed, t.seed) == (64, 0.05, "bce", 4, 4)
    assert configure("complete", encoding_dim=32)[0].encoding_dim == 32
    assert configure("conv", hidden=(16,))[0].encoding_dim == 8 * 7 * 7
    with pytest.raises(aekit.ConfigError, match="unknown kind 'wide'"):
        configure("wide")
    with pytest.raises(aekit.ConfigError, match="unknown field"):
        configure("sparse", sparsity=3)
    with pytest.raises(aekit.ConfigError, match="multiple of 16"):
        ModelConfig(architecture="conv", image_shape=(1, 28, 28), hidden=(16, 8), encoding_dim=100)


@pytest.mark.parametrize(
    "image_shape, code",
    [
        ((1, 5, 5), 12),  # 8 channels on a 2×2 grid were 32 values for a 25-pixel image: an identity at hand
        ((1, 2, 2), 2),
        ((1, 2, 8), 8),  # a strip: 8 × 1×2 = 16 values for 16
        ((1, 8, 8), 32),  # 8×8 digits and larger: 8 channels, unchanged
        ((1, 28, 28), 8 * 7 * 7),
        ((3, 32, 32), 16 * 8 * 8),
        ((1, 30, 30), 8 * 8 * 8),
    ],
)
def test_the_anomaly_recipe_picks_a_code_smaller_than_a_small_image(image_shape, code):
    c, h, w = image_shape
    model_config, train_config = configure("anomaly", input_dim=c * h * w, image_shape=image_shape)
    assert model_config.architecture == "conv" and model_config.encoding_dim == code
    assert model_config.encoding_dim < model_config.input_dim and not identity_risk(model_config, train_config)


def test_a_given_epoch_count_wins_over_the_least_number_of_steps():
    assert configure("anomaly", input_dim=5)[1].min_steps == 600
    assert configure("anomaly", input_dim=5, epochs=4)[1].min_steps == 0
    assert configure("anomaly", input_dim=5, epochs=4, min_steps=50)[1].min_steps == 50
    cfg = TrainConfig(epochs=2, batch_size=10, min_steps=25)
    assert (cfg.for_rows(95).epochs, cfg.for_rows(200).epochs, cfg.for_rows(0).epochs) == (3, 2, 2)


def test_identity_warning_only_without_penalty_or_noise():
    m, t = configure("overcomplete")
    assert identity_risk(m, t)
    for extra in (
        {"l1": 1e-4},
        {"contractive": 0.1},
        {"noise": "masking"},
        {"kl_beta": 0.01, "code_activation": "sigmoid"},
    ):
        assert not identity_risk(*configure("overcomplete", **extra))
    assert not identity_risk(*configure("undercomplete"))
    for kind in ("vae", "vq-vae"):  # a code larger than 6 inputs, held back by the KL term or the codebook
        assert not identity_risk(*configure(kind, input_dim=6))
    x = np.random.default_rng(0).random((16, 6), dtype=np.float32)
    with pytest.warns(IdentityWarning, match=r"learning the identity; add a penalty \(l1, kl_beta, contractive\)"):
        fit(Autoencoder(ModelConfig(input_dim=6, encoding_dim=12)), x, epochs=1, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdentityWarning)
        fit(
            Autoencoder(ModelConfig(input_dim=6, encoding_dim=12)),
            x,
            epochs=1,
            noise="masking",
            noise_level=0.2,
            verbose=0,
        )


# --------------------------------------------------------------------------- every kind trains, API and CLI
EXPECTED_TERMS = {"sparse": {"l1"}, "sparse-kl": {"kl", "weight_decay"}, "contractive": {"contractive"}}
# the full-resolution kind with fewer channels: its 32-channel layers at 28×28 took ~25 s of CPU here
SMALLER = {"denoising-photo": {"hidden": (8,), "encoding_dim": 8 * 784}}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_trains_through_the_api(kind, tmp_path):
    m, t = configure(kind, epochs=2, batch_size=64, optimizer="adam", **SMALLER.get(kind, {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentityWarning)
        result = aekit.train(m, t, kind=kind, limit=240, out=tmp_path / kind, tensorboard=False, verbose=0)
    cfg = json.loads((result.path / "config.json").read_text())
    assert cfg["kind"] == kind and cfg["model"]["encoding_dim"] == m.encoding_dim
    h = result.history.history
    assert {"recon", "loss", "val_recon", "val_loss"} | EXPECTED_TERMS.get(kind, set()) <= set(h)
    assert h["loss"][1] < h["loss"][0]
    metrics = result.metrics
    assert metrics["jacobian_norm"] > 0 and np.isfinite(metrics["mean_code_activation"])
    assert ("psnr_denoised" in metrics) == kind.startswith("denoising")
    assert aekit.load_model(result.path).config == result.model.config


def test_train_takes_missing_configs_from_the_kind(tmp_path, rng):
    np.save(tmp_path / "rows.npy", rng.random((40, 16), dtype=np.float32))
    _, t = configure("complete", epochs=3, batch_size=64)
    with pytest.warns(IdentityWarning):
        result = aekit.train(
            train_config=t,
            kind="complete",
            data=str(tmp_path / "rows.npy"),
            out=tmp_path / "run",
            tensorboard=False,
            verbose=0,
        )
    assert result.model.config.encoding_dim == 16  # complete: the code is as large as the data's 16 features
    cfg = json.loads((result.path / "config.json").read_text())
    assert cfg["kind"] == "complete" and cfg["train"]["epochs"] == 3


def test_terms_are_logged_separately_in_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    m, t = configure("sparse-kl", epochs=2, batch_size=64, contractive=0.01)
    result = aekit.train(m, t, kind="sparse-kl", limit=120, out=tmp_path / "run", verbose=0)
    train, val = (EventAccumulator(str(result.path / "tb" / run)).Reload() for run in ("train", "validation"))
    for term in ("recon", "kl", "weight_decay", "contractive"):
        assert term in train.Tags()["scalars"] and term in val.Tags()["scalars"]
        assert [e.value for e in train.Scalars(term)] == pytest.approx(result.history.history[term], rel=1e-5)
        assert [e.value for e in val.Scalars(term)] == pytest.approx(result.history.history[f"val_{term}"], rel=1e-5)


def test_cli_kind_presets_explicit_flags_and_the_identity_warning(tmp_path):
    out = tmp_path / "dn"
    proc = aekit_cli(
        "train",
        "--kind",
        "denoising",
        "--noise",
        "masking",
        "--encoding-dim",
        32,
        "--limit",
        200,
        "--epochs",
        2,
        "--batch-size",
        64,
        "--out",
        out,
        "--quiet",
        "--no-tensorboard",
    )
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["kind"] == "denoising" and cfg["train"]["noise"] == "masking" and cfg["train"]["noise_level"] == 0.25
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["psnr_noisy"] > 0 and "psnr_denoised" in metrics
    out = tmp_path / "oc"
    proc = aekit_cli(
        "train", "--kind", "complete", "--limit", 100, "--epochs", 1, "--out", out, "--quiet", "--no-tensorboard"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "config.json").read_text())["model"]["encoding_dim"] == 784
    warning_lines = [line for line in proc.stderr.splitlines() if line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("aekit: warning: the code (784 units)")
    proc = aekit_cli("train", "--kind", "wide", "--out", tmp_path / "x", "--quiet")
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "aekit: error: argument --kind: unknown kind 'wide'; choose one of: "
        + ", ".join(KINDS)
        + "; see `aekit train --help`"
    )


def test_cli_flags_given_explicitly_win_even_when_equal_to_the_default():
    from aekit.cli.main import build_parser
    from aekit.cli.training import kind_configs_from_args

    args = build_parser().parse_args(
        ["train", "--kind", "sparse-kl", "--encoding-dim", "32", "--loss", "bce", "--seed", "0"]
    )
    m, t = kind_configs_from_args(args)
    assert (m.encoding_dim, t.loss, m.code_activation, t.kl_rho) == (32, "bce", "sigmoid", 0.1)
    m, t = kind_configs_from_args(build_parser().parse_args(["train", "--kind", "sparse-kl"]))
    assert (m.encoding_dim, t.loss) == (196, "mse")
    m, t = kind_configs_from_args(build_parser().parse_args(["train"]))
    assert (m, t) == (ModelConfig(), TrainConfig())
    # a recipe's training values and a kind's presets combine; explicit flags still win over both
    m, t = kind_configs_from_args(
        build_parser().parse_args(["train", "--recipe", "fast", "--kind", "sparse-kl", "--epochs", "3"])
    )
    assert (m.encoding_dim, t.loss, t.optimizer, t.schedule, t.epochs) == (196, "mse", "adam", "onecycle", 3)


def test_deep_hinton_sets_its_own_training_and_explicit_flags_still_win():
    from aekit.cli.main import build_parser
    from aekit.cli.training import kind_configs_from_args

    m, t = kind_configs_from_args(build_parser().parse_args(["train", "--kind", "deep-hinton"]))
    assert (m.hidden, m.encoding_dim, m.activation, m.code_activation) == ((1000, 500, 250), 30, "elu", "linear")
    assert (t.optimizer, t.learning_rate, t.batch_size, t.epochs, t.schedule, t.min_lr, t.ema, t.weight_decay) == (
        "adam",
        1e-3,
        128,
        150,
        "cosine",
        2.5e-4,
        0.999,
        5e-6,
    )  # the recipe of benchmarks/kinds.py's deep row
    m, t = kind_configs_from_args(
        build_parser().parse_args(["train", "--kind", "deep-hinton", "--epochs", "3", "--lr", "4e-3"])
    )
    assert (t.epochs, t.learning_rate, t.min_lr) == (3, 4e-3, 1e-3)  # the cosine ends at a quarter of the learning rate
    _, t = configure("deep-hinton", schedule="constant")
    assert (t.schedule, t.min_lr) == ("constant", 0.0)  # no cosine, no floor: the config stays valid
    _, t = configure("deep-hinton", optimizer="adadelta")
    assert (t.learning_rate, t.min_lr) == (1.0, 0.25)
    with pytest.raises(
        aekit.ConfigError,
        match="--kind deep-hinton sets its own batch_size, epochs, optimizer, schedule, "
        "which --recipe fast sets too; drop --recipe",
    ):
        kind_configs_from_args(build_parser().parse_args(["train", "--kind", "deep-hinton", "--recipe", "fast"]))


# --------------------------------------------------------------------------- effects, on real MNIST
def trained(model_config, x, epochs=6, **train):
    model = Autoencoder(model_config)
    fit(model, x, None, TrainConfig(epochs=epochs, batch_size=64, optimizer="adam", **train), verbose=0)
    return model.eval()


@torch.no_grad()
def mean_code(model, x):
    return float(model.encode(torch.as_tensor(x)).mean())


@pytest.mark.parametrize(
    "kind, plain",
    [
        ("sparse", {"l1": 0.0}),
        ("sparse-kl", {"kl_beta": 0.0, "weight_decay": 0.0}),
    ],
)
def test_sparsity_lowers_the_mean_code_activation(mnist_small, kind, plain):
    x, _, xt, _ = mnist_small
    m, t = configure(kind)
    penalties = {k: getattr(t, k) for k in ("l1", "kl_beta", "kl_rho", "weight_decay")}
    sparse = trained(m, x, loss=t.loss, **penalties)
    dense = trained(m, x, loss=t.loss, **{**penalties, **plain})
    assert mean_code(sparse, xt) < 0.9 * mean_code(dense, xt)
    if kind == "sparse-kl":  # near the target ρ = 0.1
        assert abs(mean_code(sparse, xt) - 0.1) < 0.05


DENOISE_EPOCHS = 60  # masking needs this long before the denoiser overtakes the plain model (at 20 it does not)


@pytest.fixture(scope="module")
def plain_64(mnist_small):
    return trained(ModelConfig(encoding_dim=64), mnist_small[0], epochs=DENOISE_EPOCHS)


@pytest.mark.parametrize("noise", ["gaussian", "masking", "salt_pepper"])
def test_denoising_beats_a_plain_autoencoder_on_noisy_digits(mnist_small, plain_64, noise):
    x, _, xt, _ = mnist_small
    m, t = configure("denoising", noise=noise, encoding_dim=64)
    denoiser = trained(m, x, epochs=DENOISE_EPOCHS, noise=t.noise, noise_level=t.noise_level)
    clean = torch.as_tensor(xt)
    noisy = corrupt(clean, noise, t.noise_level, torch.Generator().manual_seed(9))
    with torch.no_grad():
        denoised, plain = psnr(clean, denoiser(noisy)), psnr(clean, plain_64(noisy))
    assert denoised > plain + 0.2, (denoised, plain)
    if noise != "masking":  # a quarter of the ink masked is still closer to the digit than a 64-unit reconstruction
        assert denoised > psnr(clean, noisy)


def test_contractive_lowers_the_jacobian_norm(mnist_small):
    x, _, xt, _ = mnist_small
    m, t = configure("contractive")
    cae = trained(m, x, epochs=10, lr=3e-3, contractive=t.contractive)
    plain = trained(m, x, epochs=10, lr=3e-3)
    assert jacobian_norm(cae, xt) < 0.5 * jacobian_norm(plain, xt)


def test_overcomplete_with_corruption_does_not_copy_its_noisy_input(mnist_small):
    # 14×14 digits (2×2 means) keep the 2× overcomplete code (392 units) small enough for a unit test
    def small(a):
        return a.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(len(a), 196)

    x, xt = small(mnist_small[0]), torch.as_tensor(small(mnist_small[2]))
    m, t = configure("overcomplete", input_dim=196, noise="salt_pepper")
    assert m.encoding_dim == 392 and not identity_risk(m, t)
    model = trained(m, x, epochs=8, noise=t.noise, noise_level=t.noise_level)
    noisy = corrupt(xt, "salt_pepper", 0.2, torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(noisy)
    assert float((out - noisy).abs().mean()) > 0.03  # not the identity
    assert psnr(xt, out) > psnr(xt, noisy) + 1.0  # and closer to the clean digits than its input was


@pytest.mark.parametrize(
    "shape, hidden, code",
    [
        ((1, 28, 28), (16, 8), 128),
        ((3, 28, 28), (16, 8), 256),
        ((3, 32, 32), (16, 8), 256),
        ((1, 48, 48), (32, 16, 8), 72),
        ((3, 64, 64), (32, 16, 8), 256),
        ((3, 64, 48), (32, 16, 8), 192),
        ((1, 100, 100), (32, 32, 16, 8), 128),
        ((3, 128, 128), (32, 32, 16, 8), 256),
        ((3, 96, 128), (32, 32, 16, 8), 192),
    ],
)
def test_conv_stages_follow_the_image_and_the_decoder_lands_on_it(shape, hidden, code):
    c, h, w = shape
    m, _ = configure("conv", input_dim=c * h * w, image_shape=shape)
    assert (m.hidden, m.encoding_dim) == (hidden, code)
    model = Autoencoder(m)
    x = torch.rand(2, c * h * w)
    assert tuple(model.encode(x).shape) == (2, code) and tuple(model(x).shape) == (2, c * h * w)
    assert model.encoder[0].unflattened_size == shape and model.decoder[-3].out_channels == c
    summary = aekit.summary(model)
    assert f"(None, {c}, {h}, {w})" in summary and f"(None, {c * h * w})" in summary
