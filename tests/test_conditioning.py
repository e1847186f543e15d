"""Label conditioning (aekit.conditioning, kind cvae): one-hot labels joined to the encoder's and the decoder's
input, held per call, per training batch or as a stream; bad labels are refused in one line."""

import numpy as np
import pytest
import torch

import aekit
from aekit.conditioning import LabelSlot, count_classes, cycling_labels, one_hot
from aekit.config import ModelConfig, TrainConfig
from aekit.errors import ConfigError, DataError
from aekit.objectives import loss_terms


def small_cvae(seed=0, **kw):
    return aekit.Autoencoder(
        ModelConfig(input_dim=12, encoding_dim=2, hidden=(8,), code="gaussian", n_classes=3, seed=seed, **kw)
    )


def rows(n=30, seed=0):
    return np.random.default_rng(seed).random((n, 12), dtype=np.float32)


def test_one_hot_checks_its_labels():
    assert one_hot([2, 0], 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert one_hot(np.array([1.0]), 3).tolist() == [[0, 1, 0]]  # whole floats are indices
    with pytest.raises(DataError, match=r"label 3 is outside this model's classes 0…2"):
        one_hot([0, 3], 3)
    with pytest.raises(DataError, match="whole-number class indices"):
        one_hot(["a", "b"], 3)
    assert count_classes([0, 4, 1]) == 5 and count_classes([0], ["a", "b"]) == 2
    assert cycling_labels(5, 3).tolist() == [0, 1, 2, 0, 1] and cycling_labels(2, 3, 1).tolist() == [1, 1]


def test_the_label_joins_encoder_and_decoder_and_changes_the_output():
    model = small_cvae()
    assert model.encoder[1].in_features == 12 + 3 and model.decoder[1].in_features == 2 + 3
    x = rows(4)
    a, b = model.reconstruct(x, labels=[0] * 4), model.reconstruct(x, labels=[1] * 4)
    assert a.shape == (4, 12) and not np.allclose(a, b)
    assert np.allclose(model.reconstruct(x[:1], labels=[0]), a[:1], atol=1e-6)  # one row's own label
    assert model.labels.onehot is None  # nothing stays held after a call
    with pytest.raises(DataError, match=r"conditioned on 3 class labels .* pass the rows' labels"):
        model.encode(x)
    with pytest.raises(DataError, match="not conditioned on labels"):
        aekit.Autoencoder(ModelConfig(input_dim=12, encoding_dim=2)).encode(x, labels=[0] * 4)
    with pytest.raises(ConfigError, match="dense architecture only"):
        ModelConfig(architecture="conv", image_shape=(1, 28, 28), encoding_dim=392, hidden=(8,), n_classes=10)


def test_a_stream_gives_each_block_its_rows_labels():
    slot = LabelSlot(3)
    with slot.holding([0, 1, 2, 0], stream=True):
        assert slot.labels_for(3, encoder=True).argmax(1).tolist() == [0, 1, 2]
        assert slot.labels_for(3, encoder=False).argmax(1).tolist() == [0, 1, 2]  # the decoder: the same block
        assert slot.labels_for(1, encoder=True).argmax(1).tolist() == [0]
        assert slot.labels_for(2, encoder=True).argmax(1).tolist() == [0, 1]  # past the end: from the first again
    assert slot.stream is None and slot.onehot is None
    with slot.holding([2, 1, 0, 1, 2], stream=True):
        slot.first(2)  # a pass over the first two rows of five
        assert slot.labels_for(2, encoder=True).argmax(1).tolist() == [2, 1]
        assert slot.labels_for(1, encoder=True).argmax(1).tolist() == [2]  # the pass starts again
    model = small_cvae()
    x, y = rows(10), np.arange(10) % 3
    whole = model.reconstruct(x, labels=y)
    assert np.allclose(aekit.reconstruct(model, x, labels=y, batch_size=4), whole, atol=1e-6)


def test_the_importance_weighted_bound_repeats_the_labels_per_draw():
    model = small_cvae()
    x = torch.from_numpy(rows(6))
    with model.conditioned(np.arange(6) % 3):
        terms = loss_terms(model, x, x, TrainConfig(iw_samples=4, likelihood="bernoulli"))
    assert torch.isfinite(terms["loss"]) and float(terms["iw"].detach()) <= 0


def test_fit_trains_on_labels_and_refuses_bad_ones(tmp_path):
    model = small_cvae()
    x, y = rows(40), np.arange(40) % 3
    h = aekit.fit(model, x, epochs=2, batch_size=16, labels=y, validation_split=0.25, verbose=0, optimizer="adam")
    assert len(h.history["val_loss"]) == 2 and model.labels.onehot is None
    with pytest.raises(DataError, match=r"trains on them; pass labels"):
        aekit.fit(small_cvae(), x, epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"outside this model's classes 0…2"):
        aekit.fit(small_cvae(), x, epochs=1, labels=y + 1, verbose=0)
    with pytest.raises(DataError, match="39 labels for 40 rows"):
        aekit.fit(small_cvae(), x, epochs=1, labels=y[:39], verbose=0)
    with pytest.raises(DataError, match="not conditioned on labels"):
        aekit.fit(aekit.Autoencoder(ModelConfig(input_dim=12, encoding_dim=2)), x, epochs=1, labels=y, verbose=0)
    aekit.save_model(model, tmp_path / "cvae.safetensors")
    loaded = aekit.load_model(tmp_path / "cvae.safetensors")
    assert loaded.config.n_classes == 3
    assert np.array_equal(loaded.encode(x, labels=y), model.eval().encode(x, labels=y))


def test_the_sklearn_transformer_takes_y_as_labels():
    from aekit.sklearn import AutoencoderTransformer

    x, y = rows(40).astype(np.float64), np.arange(40) % 4
    est = AutoencoderTransformer(kind="cvae", hidden=(8,), encoding_dim=2, epochs=2, batch_size=16, random_state=0)
    codes = est.fit_transform(x, y)
    assert est.model_.config.n_classes == 4 and codes.shape == (40, 2)
    assert np.allclose(est.transform(x, y), codes)
    with pytest.raises(DataError, match="pass the rows' labels"):
        est.transform(x)
    with pytest.raises(ConfigError, match=r"pass them as y"):
        AutoencoderTransformer(kind="cvae", epochs=1).fit(x)


def test_onnx_export_of_a_cvae_is_refused_in_one_line(tmp_path):
    from aekit.uses.onnx import export_onnx

    with pytest.raises(ConfigError, match="label-conditioned model") as err:
        export_onnx(small_cvae(), tmp_path / "onnx")
    assert "\n" not in str(err.value) and not (tmp_path / "onnx").exists()
