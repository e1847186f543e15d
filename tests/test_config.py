import json

import pytest

from aekit.config import ModelConfig, TrainConfig, from_dict, replace, to_dict
from aekit.errors import ConfigError


def test_defaults_are_the_tutorial():
    m, t = ModelConfig(), TrainConfig()
    assert (m.input_dim, m.encoding_dim, m.hidden, m.code_activation, m.output_activation) == (
        784,
        32,
        (),
        "relu",
        "sigmoid",
    )
    assert (t.epochs, t.batch_size, t.optimizer, t.loss, t.learning_rate) == (100, 256, "adadelta", "bce", 1.0)


@pytest.mark.parametrize(
    "cls, kwargs, words",
    [
        (ModelConfig, {"encoding_dim": 0}, "encoding_dim must be a positive integer"),
        (ModelConfig, {"input_dim": -3}, "input_dim must be a positive integer"),
        (ModelConfig, {"hidden": (128, 0)}, "hidden size"),
        (ModelConfig, {"hidden": 64}, r"hidden must be a list of layer sizes, got 64; e\.g\. \(128, 64\)"),
        (ModelConfig, {"hidden": "64,32"}, "hidden must be a list of layer sizes, got '64,32'"),
        (ModelConfig, {"hidden": None}, "hidden must be a list of layer sizes, got None"),
        (ModelConfig, {"activation": "swish2"}, "unknown activation 'swish2'"),
        (ModelConfig, {"architecture": "rnn"}, "unknown architecture"),
        (ModelConfig, {"image_shape": (1, 28, 27)}, "make them agree"),
        (ModelConfig, {"global_residual": True}, "true only with skip=True"),
        (ModelConfig, {"output_activation": "clamp"}, "unknown output_activation 'clamp'"),
        (TrainConfig, {"epochs": 0}, "epochs must be a positive integer"),
        (TrainConfig, {"batch_size": -1}, "batch_size must be a positive integer"),
        (TrainConfig, {"optimizer": "rmsprop2"}, "unknown optimizer"),
        (TrainConfig, {"loss": "hinge"}, "unknown loss 'hinge'"),
        (TrainConfig, {"lr": 0.0}, "lr must be greater than 0"),
        (TrainConfig, {"l1": -1e-5}, "l1 must be a finite number"),
        (TrainConfig, {"kl_rho": 1.5}, "kl_rho must lie strictly between 0 and 1"),
        (TrainConfig, {"noise": "gaussian"}, "needs a noise_level"),
        (TrainConfig, {"noise": "masking", "noise_level": 1.5}, "must be ≤ 1"),
        (TrainConfig, {"noise": "blur", "noise_level": 0.1}, "unknown noise"),
        (TrainConfig, {"seed": -1}, r"seed must be a whole number from 0 to 2\*\*64 - 1"),  # numpy's traceback
        (ModelConfig, {"seed": 2**64}, "seed must be a whole number from 0"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(cls, kwargs, words):
    with pytest.raises(ConfigError, match=words):
        cls(**kwargs)


@pytest.mark.parametrize(
    "name, words", [("epoch", "did you mean 'epochs'"), ("zzz", "known fields: analytic_grad, batch_size")]
)
def test_replace_with_an_unknown_field_names_it_and_the_closest(name, words):
    with pytest.raises(ConfigError, match=f"unknown TrainConfig field '{name}'; {words}"):
        replace(TrainConfig(), **{name: 1})


@pytest.mark.parametrize(
    "cls, kwargs, library, cli",
    [
        (TrainConfig, {"epochs": -1}, "epochs must be a positive integer, got -1; pass a whole number ≥ 1", "--epochs"),
        (
            TrainConfig,
            {"batch_size": 0},
            "batch_size must be a positive integer, got 0; pass a whole number ≥ 1",
            "--batch-size",
        ),
        (TrainConfig, {"lr": -1}, "lr must be a finite number ≥ 0, got -1", "--lr"),
        (
            TrainConfig,
            {"patience": -2},
            "patience must be an integer ≥ 0 (0 turns early stopping off), got -2",
            "--patience",
        ),
        (
            ModelConfig,
            {"codebook_dim": -1},
            "codebook_dim must be a whole number ≥ 0 (0: from the code), got -1",
            "--codebook-dim",
        ),
    ],
)
def test_a_library_caller_reads_the_field_and_the_cli_prints_the_flag(cls, kwargs, library, cli):
    from aekit.errors import cli_text

    with pytest.raises(ConfigError) as e:
        cls(**kwargs)
    assert str(e.value) == library
    field = library.split(" ")[0]
    assert cli_text(e.value) == cli + library[len(field) :]
    assert cli_text(e.value, frozenset({"--quiet"})) == library  # a command without that flag: the field's name


def test_json_round_trip():
    m = ModelConfig(hidden=(128, 64), encoding_dim=16, image_shape=(1, 28, 28))
    t = TrainConfig(epochs=3, noise="gaussian", noise_level=0.5, l1=1e-5)
    m2 = from_dict(ModelConfig, json.loads(json.dumps(to_dict(m))))
    t2 = from_dict(TrainConfig, json.loads(json.dumps(to_dict(t))))
    assert (m2, t2) == (m, t)


def test_unknown_field_is_named():
    with pytest.raises(ConfigError, match="unknown ModelConfig field"):
        from_dict(ModelConfig, {"encoding_dim": 32, "dropout": 0.1})


def test_configs_are_frozen():
    with pytest.raises(Exception):
        ModelConfig().encoding_dim = 3


@pytest.mark.parametrize(
    "given, stored",
    [
        ({"loss": "binary_crossentropy"}, ("bce", "adadelta")),
        ({"loss": "mean_squared_error", "optimizer": "Adam"}, ("mse", "adam")),
        ({"loss": "mse", "optimizer": "SGD"}, ("mse", "sgd")),
        ({"optimizer": "Adadelta"}, ("bce", "adadelta")),
    ],
)
def test_keras_names_are_stored_as_aekits(given, stored):
    cfg = TrainConfig(**given)
    assert (cfg.loss, cfg.optimizer) == stored
    assert (to_dict(cfg)["loss"], to_dict(cfg)["optimizer"]) == stored


def test_a_model_stores_a_decided_scale():
    assert ModelConfig().scale == "none" and ModelConfig(scale="minmax").scale == "minmax"
    with pytest.raises(ConfigError, match="decided from the data"):
        ModelConfig(scale="auto")
