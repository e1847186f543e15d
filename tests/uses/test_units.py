"""features: weights, decoded code units and most-activating inputs (library and `aekit features`)."""

import csv

import numpy as np
import pytest
import torch
from aekit_subprocess import aekit_cli

import aekit
from aekit.errors import ConfigError, DataError
from aekit.uses.encoding import encode
from aekit.uses.units import feature_figures, features, write_features


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("feat") / "run"
    aekit.train(
        aekit.ModelConfig(encoding_dim=6),
        aekit.TrainConfig(epochs=1, optimizer="adam", batch_size=128),
        limit=600,
        out=out,
        tensorboard=False,
        verbose=0,
    )
    return out


def test_shallow_model_features(run, mnist_small):
    x = mnist_small[2][:200]
    f = features(run, x, top=4)
    model = aekit.load_model(run)
    assert f.weights.shape == (6, 784) and f.decoded.shape == (6, 784) and f.image_shape == (28, 28)
    np.testing.assert_array_equal(f.weights, model.encoder[0].weight.detach().numpy())
    codes = encode(model, x)
    assert f.top_index.shape == (6, 4) and f.top_activation.shape == (6, 4)
    for j in range(6):  # the listed rows are the unit's 4 largest activations, in decreasing order
        np.testing.assert_allclose(f.top_activation[j], np.sort(codes[:, j])[::-1][:4], rtol=1e-6)
        np.testing.assert_allclose(codes[f.top_index[j], j], f.top_activation[j], rtol=1e-6)
    with torch.no_grad():  # each decoded image is the decoder's output for that unit alone
        np.testing.assert_allclose(
            f.decoded[2], model.decode(torch.eye(6)[2:3] * float(f.levels[2]))[0].numpy(), atol=1e-6
        )
    figs = feature_figures(f, x)
    assert sorted(figs) == ["decoded.png", "top_inputs.png", "weights.png"]
    assert sum(ax.get_visible() for ax in figs["top_inputs.png"].axes) == 6 * 4


def test_without_rows_only_weights_and_decodings():
    f = features(aekit.Autoencoder(aekit.ModelConfig(encoding_dim=3)))
    assert f.top_index is None and np.all(f.levels == 1.0)
    assert sorted(feature_figures(f)) == ["decoded.png", "weights.png"]
    with pytest.raises(ConfigError, match="top must be a positive integer"):
        features(aekit.Autoencoder(), top=0)


def test_deep_model_draws_the_first_layer(mnist_small):
    model = aekit.Autoencoder(aekit.ModelConfig(hidden=(20,), encoding_dim=5))
    f = features(model, mnist_small[2][:50], top=3)
    assert f.weights.shape == (20, 784) and f.decoded.shape == (5, 784) and f.top_index.shape == (5, 3)
    assert len([a for a in feature_figures(f)["weights.png"].axes if a.get_visible()]) == 20


def test_table_model_gets_heatmaps_and_a_csv(tmp_path):
    from sklearn.datasets import load_wine

    x = load_wine().data
    x = ((x - x.min(0)) / (x.max(0) - x.min(0))).astype(np.float32)
    model = aekit.Autoencoder(aekit.ModelConfig(input_dim=13, encoding_dim=3))
    f = features(model, x, top=5)
    assert f.image_shape is None and f.weights.shape == (3, 13)
    written = write_features(f, tmp_path / "out", x)
    assert sorted(p.name for p in written) == ["decoded.png", "top_inputs.csv", "weights.png"]
    rows = list(csv.DictReader(open(tmp_path / "out" / "top_inputs.csv")))
    assert len(rows) == 3 * 5 and rows[0].keys() == {"unit", "rank", "row", "activation"}
    assert {int(r["row"]) for r in rows} <= set(range(len(x)))
    with pytest.raises(DataError, match="has 784 features but the model expects 13"):
        features(model, np.zeros((2, 784), dtype=np.float32))


def test_cli_features(run, tmp_path):
    out = tmp_path / "pics"
    proc = aekit_cli("features", run, "--limit", 100, "--top", 3, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["decoded.png", "top_inputs.csv", "top_inputs.png", "weights.png"]
    assert len(list(csv.DictReader(open(out / "top_inputs.csv")))) == 6 * 3
    proc = aekit_cli("features", run / "model.safetensors", "--input", "none")  # default folder beside the file
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (run / "model-features").iterdir()) == ["decoded.png", "weights.png"]


def test_cli_features_of_a_table_run_uses_its_validation_rows(tmp_path):
    from sklearn.datasets import load_wine

    x = load_wine().data
    np.save(tmp_path / "wine.npy", ((x - x.min(0)) / (x.max(0) - x.min(0))).astype(np.float32))
    aekit.train(
        aekit.ModelConfig(input_dim=13, encoding_dim=3),
        aekit.TrainConfig(epochs=2, optimizer="adam"),
        data=str(tmp_path / "wine.npy"),
        val_split=0.25,
        out=tmp_path / "run",
        tensorboard=False,
        verbose=0,
    )
    proc = aekit_cli("features", tmp_path / "run", "--top", 2)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "run" / "features"
    assert sorted(p.name for p in out.iterdir()) == ["decoded.png", "top_inputs.csv", "weights.png"]
    rows = list(csv.DictReader(open(out / "top_inputs.csv")))
    assert len(rows) == 3 * 2 and max(int(r["row"]) for r in rows) < 44  # 44 of the 178 rows were held out
