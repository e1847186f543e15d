import numpy as np
import pytest
import torch

import aekit.objectives
from aekit import Autoencoder, ModelConfig, TrainConfig, fit
from aekit.objectives import corrupt, loss_terms
from aekit.training.analytic import gradient_step, unsupported
from aekit.training.callbacks.base import Callback

# (ModelConfig fields, TrainConfig fields) of every supported configuration
SUPPORTED = {
    "tutorial": ({}, {}),
    "deep-relu": ({"hidden": (12, 8)}, {}),
    "mse-linear-output": ({"hidden": (8,), "output_activation": "linear"}, {"loss": "mse"}),
    "mse-sigmoid-tanh": ({"activation": "tanh", "hidden": (8,), "code_activation": "tanh"}, {"loss": "mse"}),
    "mse-relu-output": ({"output_activation": "relu"}, {"loss": "mse"}),
    "mse-tanh-output": ({"output_activation": "tanh"}, {"loss": "mse"}),
    "sparse-l1": ({}, {"l1": 1e-2}),
    "sparse-kl": ({"code_activation": "sigmoid"}, {"kl_beta": 3.0, "kl_rho": 0.1, "weight_decay": 3e-3}),
    "weight-decay": ({"hidden": (8,)}, {"weight_decay": 1e-2}),
    "linear-code": ({"code_activation": "linear", "hidden": (8,), "activation": "sigmoid"}, {"l1": 1e-3}),
    "denoising": ({}, {"noise": "gaussian", "noise_level": 0.3}),
    "scaled": ({"scale": "standard", "output_activation": "linear"}, {"loss": "mse"}),
}
UNSUPPORTED = {
    "contractive": ({}, {"contractive": 0.1}, "the contractive penalty"),
    "vae": ({"code": "gaussian"}, {}, "the gaussian code"),
    "vq": ({"code": "categorical", "codebook_size": 8, "codebook_dim": 2}, {}, "the categorical code"),
    "likelihood": ({}, {"likelihood": "bernoulli"}, "a likelihood or binarised input"),
    "bfloat16": ({}, {"precision": "bfloat16"}, "precision='bfloat16'"),
    "elu": ({"activation": "elu", "hidden": (8,)}, {}, "layers other than Linear"),
    "bce-tanh-output": ({"output_activation": "tanh"}, {}, "BCE on a non-sigmoid output"),
    "switched-off": ({}, {"analytic_grad": False}, "analytic_grad=False"),
}


def _configs(model_fields, train_fields, **more):
    mc = ModelConfig(input_dim=20, encoding_dim=4, **model_fields)
    return mc, TrainConfig(**{**train_fields, **more})


def _batch(rows=16, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).random((rows, 20), dtype=np.float32))


def _model(mc):
    model = Autoencoder(mc)
    if model.scaled:
        model.set_scaler(np.full(20, 0.5, np.float32), np.full(20, 0.3, np.float32))
    with torch.no_grad():  # nonzero biases, so that every bias gradient and activation region is exercised
        for p in model.parameters():
            if p.dim() == 1:
                p.uniform_(-0.3, 0.3, generator=torch.Generator().manual_seed(p.numel()))
    return model


@pytest.mark.parametrize("name", ["tutorial", "mse-sigmoid-tanh", "sparse-l1"])
def test_the_steps_kept_buffers_serve_every_batch_size(name):
    """The step keeps its outputs and scratch per batch size: steps of 16, 5 and 16 rows (a short last batch between
    full ones) each give autograd's gradients, and a step's terms are not overwritten by the next step."""
    mc, cfg = _configs(*SUPPORTED[name])
    model = _model(mc)
    step = gradient_step(model, cfg)
    kept_terms = []
    for rows, seed in ((16, 0), (5, 1), (16, 2)):
        x = model.scale_rows(_batch(rows, seed))
        want = loss_terms(model, x, x, cfg)
        model.zero_grad(set_to_none=True)
        want["loss"].backward()
        expected = {n: p.grad.clone() for n, p in model.named_parameters()}
        got = step(x, x)
        kept_terms.append((got, {k: v.detach() for k, v in want.items()}))
        for n, p in model.named_parameters():
            torch.testing.assert_close(p.grad, expected[n], rtol=1e-5, atol=1e-6 * expected[n].abs().max(), msg=n)
    for got, want in kept_terms:
        for k in want:
            torch.testing.assert_close(got[k], want[k], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", SUPPORTED)
def test_analytic_gradients_equal_autograds(name):
    mc, cfg = _configs(*SUPPORTED[name])
    model = _model(mc)
    x = model.scale_rows(_batch())
    x_in = corrupt(x, cfg.noise, cfg.noise_level, torch.Generator().manual_seed(1))
    want = loss_terms(model, x_in, x, cfg)
    model.zero_grad(set_to_none=True)
    want["loss"].backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    step = gradient_step(model, cfg)
    assert step is not None, unsupported(model, cfg)
    got = step(x_in, x)
    assert list(got) == list(want)
    for k in want:
        torch.testing.assert_close(got[k], want[k].detach(), rtol=1e-6, atol=1e-7)
    for n, p in model.named_parameters():
        scale = expected[n].abs().max()
        assert scale > 0, n
        torch.testing.assert_close(p.grad, expected[n], rtol=1e-5, atol=1e-6 * scale, msg=n)


def test_the_gradients_are_those_of_the_latest_batch():
    model = _model(ModelConfig(input_dim=20, encoding_dim=4))
    step = gradient_step(model, TrainConfig())
    step(_batch(seed=1), _batch(seed=1))
    first = model.encoder[0].weight.grad.clone()
    step(_batch(7, seed=2), _batch(7, seed=2))  # a smaller last batch
    assert not torch.allclose(model.encoder[0].weight.grad, first)
    model.zero_grad(set_to_none=True)  # as an optimizer's zero_grad: the next step fills them again
    step(_batch(seed=1), _batch(seed=1))
    torch.testing.assert_close(model.encoder[0].weight.grad, first, rtol=0, atol=0)


class Path(Callback):
    def on_train_begin(self, state):
        self.gradients = state.gradients


@pytest.mark.parametrize("name", ["tutorial", "deep-relu", "sparse-kl", "denoising", "mse-sigmoid-tanh", "scaled"])
@pytest.mark.parametrize("optimizer, lr", [("adadelta", None), ("adam", 1e-2), ("sgd", 0.5)])
def test_fit_with_analytic_gradients_ends_on_autograds_weights(name, optimizer, lr, rng):
    x = rng.random((96, 20), dtype=np.float32)
    weights, paths = [], []
    for analytic in (True, False):
        mc, cfg = _configs(
            *SUPPORTED[name], epochs=3, batch_size=20, optimizer=optimizer, lr=lr, analytic_grad=analytic
        )
        model, path = Autoencoder(mc), Path()
        h = fit(model, x, x, cfg, validation_data=x[:32], callbacks=[path], verbose=0).history
        weights.append([p.detach().clone() for p in model.parameters()] + [torch.tensor(h["val_loss"])])
        paths.append(path.gradients)
    assert paths == ["analytic", "autograd"]
    assert not torch.allclose(weights[0][0], Autoencoder(mc).encoder[0].weight, atol=1e-3)  # it trained
    for a, b in zip(*weights):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_unsupported_configs_take_autograds_step(name, rng):
    model_fields, train_fields, why = UNSUPPORTED[name]
    mc, cfg = _configs(model_fields, train_fields, epochs=1, batch_size=32)
    model = Autoencoder(mc)
    assert unsupported(model, cfg).startswith(why)
    assert gradient_step(model, cfg) is None
    path = Path()
    fit(model, rng.random((64, 20), dtype=np.float32), config=cfg, callbacks=[path], verbose=0)
    assert path.gradients == "autograd"


def test_a_frozen_layer_a_hook_or_an_own_forward_pass_takes_autograds_step():
    model = Autoencoder(ModelConfig(input_dim=20, encoding_dim=4))
    model.encoder[0].bias.requires_grad_(False)
    assert unsupported(model, TrainConfig()) == "frozen or non-float32 parameters"
    model = Autoencoder(ModelConfig(input_dim=20, encoding_dim=4))
    model.decoder[0].register_forward_hook(lambda *a: None)
    assert unsupported(model, TrainConfig()) == "hooks on the model"
    model = Autoencoder(ModelConfig(input_dim=20, encoding_dim=4))
    model.encoder[0].weight.register_hook(lambda grad: grad * 2)
    assert unsupported(model, TrainConfig()) == "hooks on the model"
    assert unsupported(Autoencoder(ModelConfig(input_dim=20, encoding_dim=4)), TrainConfig(), world_size=2)

    class Doubled(Autoencoder):
        def decode_logits(self, z, xs=None):
            return 2 * super().decode_logits(z, xs)

    assert unsupported(Doubled(ModelConfig(input_dim=20, encoding_dim=4)), TrainConfig()).startswith("a model class")

    class Named(Autoencoder):  # a subclass that leaves the forward pass alone keeps the closed form
        pass

    assert unsupported(Named(ModelConfig(input_dim=20, encoding_dim=4)), TrainConfig()) is None


def test_analytic_grad_must_be_a_bool():
    from aekit.errors import ConfigError

    with pytest.raises(ConfigError, match="analytic_grad must be true or false"):
        TrainConfig(analytic_grad="no")


@pytest.mark.parametrize("rows, features", [(256, 784), (3, 7), (5, 64)])
def test_the_bce_from_logits_is_torchs_for_any_logit(rows, features):
    from torch.nn.functional import binary_cross_entropy_with_logits

    from aekit.objectives import bce_and_sigmoid

    g = torch.Generator().manual_seed(rows)
    logits = torch.randn(rows, features, generator=g) * 30  # saturated both ways, and near 0
    logits[0, :3] = torch.tensor([0.0, 90.0, -90.0])[: min(3, features)]
    target = torch.rand(rows, features, generator=g)
    leaf = logits.clone().requires_grad_(True)
    want = binary_cross_entropy_with_logits(leaf, target)
    want.backward()
    loss, s = bce_and_sigmoid(logits, target)
    torch.testing.assert_close(loss, want.detach(), rtol=1e-6, atol=0)
    torch.testing.assert_close(s.sub(target).mul(1.0 / target.numel()), leaf.grad, rtol=1e-6, atol=1e-12)
    with torch.no_grad():  # validation's BCE: σ(|z|) directly, without the sigmoid's output
        torch.testing.assert_close(aekit.objectives.bce_from_logits(logits, target), want.detach(), rtol=1e-6, atol=0)
    assert torch.equal(s, torch.sigmoid(logits)) and not torch.equal(s, logits)  # not overwritten


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_bce_of_mnist_like_logits_is_exact_to_float_rounding(seed):
    """Σ max(z, 0) and Σ t·z nearly cancel where the model is right (t = 0 at z << 0, t ≈ 1 at z >> 0): the mean stays
    within 1e-6 relative of the float64 BCE, as torch's float32 BCE does."""
    from torch.nn.functional import binary_cross_entropy_with_logits as bce_with_logits

    from aekit.objectives import bce_and_sigmoid, bce_from_logits

    g = torch.Generator().manual_seed(seed)
    ink = torch.rand(256, 784, generator=g) < 0.19  # MNIST: ~19% of the pixels are ink, most near 1
    target = torch.where(ink, torch.rand(256, 784, generator=g).pow(0.2), torch.zeros(()))
    logits = torch.where(ink, 6.0, -8.0) + 2.5 * torch.randn(256, 784, generator=g)
    exact = bce_with_logits(logits.double(), target.double()).item()
    torchs = bce_with_logits(logits, target).item()
    for got in (bce_and_sigmoid(logits, target)[0].item(), bce_from_logits(logits, target).item()):
        assert abs(got - exact) <= max(1e-6 * exact, 2 * abs(torchs - exact))


def test_the_cli_switch_reaches_the_config(tmp_path):
    import json

    from aekit_subprocess import aekit_cli

    out = tmp_path / "run"
    aekit_cli(
        "train", "--limit", 300, "--epochs", 1, "--no-analytic-grad", "--out", out, "-q", "--no-tensorboard", check=True
    )
    assert json.loads((out / "config.json").read_text())["train"]["analytic_grad"] is False
    assert TrainConfig().analytic_grad is True
