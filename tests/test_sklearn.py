import doctest
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import aekit
import aekit.sklearn
from aekit import Autoencoder, ConfigError, ModelConfig, TrainConfig
from aekit.sklearn import AutoencoderTransformer

# Checks that AutoencoderTransformer cannot pass on every CPU, with the reason (scikit-learn marks them xfail, not
# strict: where one passes it shows as XPASS). (check_array_api_input is skipped by scikit-learn itself unless
# SCIPY_ARRAY_API=1 is set; aekit takes NumPy-compatible input only.)
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_methods_sample_order_invariance": (
        "the model computes in float32: MKL's AVX2 sgemm kernels round a row by one ulp differently depending on its "
        "place in the batch, beyond the check's rtol of 1e-7 (AVX-512 kernels happen not to); "
        "test_methods_are_invariant_to_row_order_to_float32_rounding checks the property at float32's precision"
    ),
}


@parametrize_with_checks(
    [
        AutoencoderTransformer(encoding_dim=3, epochs=2, random_state=0),
        # a deep, sparse, denoising one: the kinds do not change the estimator's contract
        AutoencoderTransformer(
            encoding_dim=2, hidden=(6,), epochs=2, l1=1e-3, noise="masking", noise_level=0.2, random_state=0
        ),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("hidden", [(), (6,)])
def test_methods_are_invariant_to_row_order_to_float32_rounding(hidden):
    """scikit-learn's check_methods_sample_order_invariance at the model's own precision (float32)."""
    X = np.random.default_rng(0).normal(size=(53, 7))
    ae = AutoencoderTransformer(encoding_dim=3, hidden=hidden, epochs=2, random_state=0).fit(X)
    order = np.random.default_rng(1).permutation(len(X))
    for method in ("transform", "score_samples"):
        whole = getattr(ae, method)(X)
        np.testing.assert_allclose(getattr(ae, method)(X[order]), whole[order], rtol=1e-6, atol=1e-6)
        assert not np.allclose(getattr(ae, method)(X[order]), whole, rtol=1e-6, atol=1e-6)  # the rows did move


def test_docstring_example_runs():
    result = doctest.testmod(aekit.sklearn, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


def _digits():
    d = load_digits()
    return (d.data / 16.0), d.target  # 1,797 real 8×8 digit images, in [0, 1]


def test_transform_inverse_transform_score():
    X, _ = _digits()
    ae = AutoencoderTransformer(encoding_dim=12, epochs=15, batch_size=64, random_state=0).fit(X)
    codes = ae.transform(X)
    assert codes.shape == (len(X), 12) and codes.dtype == np.float64
    recon = ae.inverse_transform(codes)
    assert recon.shape == X.shape
    np.testing.assert_allclose(recon, ae.reconstruct(X), atol=1e-6)
    mse = ((recon - X) ** 2).mean()
    assert ae.score(X) == pytest.approx(-mse, rel=1e-5)
    assert mse < 0.5 * X.var(axis=0).sum() / X.shape[1]  # far better than predicting the column means
    assert ae.n_iter_ == 15 and len(ae.history_["loss"]) == 15 and ae.history_["loss"][-1] < ae.history_["loss"][0]
    assert ae.transform(X.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="expects codes of 12"):
        ae.inverse_transform(codes[:, :5])


def test_same_model_as_aekit_fit_with_that_seed():
    X = np.random.default_rng(1).random((90, 10))
    ae = AutoencoderTransformer(encoding_dim=4, hidden=(7,), epochs=3, batch_size=16, random_state=5).fit(X)
    mc = ModelConfig(input_dim=10, encoding_dim=4, hidden=(7,), output_activation="linear", seed=5)
    model = Autoencoder(mc)
    aekit.fit(model, X, None, TrainConfig(epochs=3, batch_size=16, optimizer="adam", loss="mse", seed=5), verbose=0)
    with torch.no_grad():
        expected = model.eval().encode(torch.tensor(X, dtype=torch.float32)).numpy()
    np.testing.assert_array_equal(ae.transform(X).astype(np.float32), expected)
    assert ae.model_.config == mc
    averaged = AutoencoderTransformer(
        encoding_dim=4, hidden=(7,), epochs=3, batch_size=16, random_state=5, ema=0.9
    ).fit(X)
    model = Autoencoder(mc)
    aekit.fit(
        model, X, None, TrainConfig(epochs=3, batch_size=16, optimizer="adam", loss="mse", seed=5, ema=0.9), verbose=0
    )
    with torch.no_grad():
        np.testing.assert_array_equal(
            averaged.transform(X).astype(np.float32), model.eval().encode(torch.tensor(X, dtype=torch.float32)).numpy()
        )
    assert not np.allclose(averaged.transform(X), ae.transform(X))
    decayed = AutoencoderTransformer(
        encoding_dim=4, hidden=(7,), epochs=3, batch_size=16, random_state=5, schedule="cosine", min_lr=1e-4
    ).fit(X)
    model = Autoencoder(mc)
    aekit.fit(
        model,
        X,
        None,
        TrainConfig(epochs=3, batch_size=16, optimizer="adam", loss="mse", seed=5, schedule="cosine", min_lr=1e-4),
        verbose=0,
    )
    with torch.no_grad():
        np.testing.assert_array_equal(
            decayed.transform(X).astype(np.float32), model.eval().encode(torch.tensor(X, dtype=torch.float32)).numpy()
        )
    assert not np.allclose(decayed.transform(X), ae.transform(X))
    halved = AutoencoderTransformer(
        encoding_dim=4, hidden=(7,), epochs=3, batch_size=16, random_state=5, precision="bfloat16"
    ).fit(X)
    model = Autoencoder(mc)
    aekit.fit(
        model,
        X,
        None,
        TrainConfig(epochs=3, batch_size=16, optimizer="adam", loss="mse", seed=5, precision="bfloat16"),
        verbose=0,
    )
    with torch.no_grad():
        np.testing.assert_array_equal(
            halved.transform(X).astype(np.float32), model.eval().encode(torch.tensor(X, dtype=torch.float32)).numpy()
        )
    assert not np.array_equal(halved.transform(X), ae.transform(X))
    np.testing.assert_allclose(halved.transform(X), ae.transform(X), atol=0.05)
    with pytest.raises(aekit.ConfigError, match="min_lr is where the 'cosine' schedule ends"):
        AutoencoderTransformer(min_lr=1e-4).fit(X)


def test_pipeline_and_grid_search_on_digits():
    X, y = _digits()
    X_train, y_train, X_test, y_test = X[:1000], y[:1000], X[1000:], y[1000:]
    pipe = make_pipeline(
        StandardScaler(),
        AutoencoderTransformer(encoding_dim=16, epochs=10, batch_size=64, random_state=0),
        LogisticRegression(max_iter=500),
    )
    pipe.fit(X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.7  # 16 learned features still separate the ten digits (chance: 0.1)

    search = GridSearchCV(
        AutoencoderTransformer(epochs=8, batch_size=64, random_state=0), {"encoding_dim": [2, 16]}, cv=2
    )
    search.fit(X_train[:600])
    assert search.best_params_ == {"encoding_dim": 16}  # score = −reconstruction error: the wider code wins
    assert search.best_estimator_.transform(X_test).shape == (len(X_test), 16)


def test_column_transformer_with_pandas_output():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(60, 5)), columns=list("abcde"))
    df["kind"] = rng.choice(["x", "y"], size=60)
    ct = ColumnTransformer(
        [
            ("ae", AutoencoderTransformer(encoding_dim=2, epochs=2, random_state=0), list("abcde")),
            ("cat", OneHotEncoder(sparse_output=False), ["kind"]),
        ]
    ).set_output(transform="pandas")
    out = ct.fit_transform(df)
    assert list(out.columns) == [
        "ae__autoencodertransformer0",
        "ae__autoencodertransformer1",
        "cat__kind_x",
        "cat__kind_y",
    ]
    assert list(ct.named_transformers_["ae"].feature_names_in_) == list("abcde")


def test_clone_params_and_pickle():
    ae = AutoencoderTransformer(
        encoding_dim=3, hidden=(5,), kl_beta=3.0, code_activation="sigmoid", epochs=2, random_state=0
    )
    c = clone(ae)
    assert c.get_params() == ae.get_params() and c is not ae
    c.set_params(encoding_dim=4, noise="masking", noise_level=0.3)
    assert c.get_params()["encoding_dim"] == 4 and ae.encoding_dim == 3
    X = np.random.default_rng(0).random((40, 6))
    c.fit(X)
    again = pickle.loads(pickle.dumps(c))
    np.testing.assert_array_equal(again.transform(X), c.transform(X))
    assert not hasattr(clone(c), "model_")


def test_model_saves_to_a_safetensors_file(tmp_path):
    X = np.random.default_rng(0).random((40, 6))
    ae = AutoencoderTransformer(encoding_dim=3, epochs=2, random_state=0).fit(X)
    path = aekit.save_model(ae.model_, tmp_path / "ae.safetensors")
    with torch.no_grad():
        codes = aekit.load_model(path).encode(torch.tensor(X, dtype=torch.float32)).numpy()
    np.testing.assert_array_equal(codes, ae.transform(X).astype(np.float32))


def test_tutorial_settings_on_mnist(mnist_small):
    x, _, xt, _ = mnist_small
    ae = AutoencoderTransformer(loss="bce", output_activation="sigmoid", optimizer="adadelta", epochs=3, random_state=0)
    ae.fit(x)
    assert ae.history_["loss"][-1] < ae.history_["loss"][0]
    untrained = AutoencoderTransformer(loss="bce", output_activation="sigmoid", epochs=1, lr=1e-9, random_state=0).fit(
        x
    )
    assert ae.score(xt) > untrained.score(xt)


def test_scale_param_keeps_the_scaler_in_the_model_and_rows_in_x_units(rng):
    X = rng.normal(size=(120, 4)) * [1.0, 500.0, 0.1, 3.0] + [0.0, 2000.0, 5.0, -7.0]
    ae = AutoencoderTransformer(encoding_dim=2, epochs=20, batch_size=32, scale="standard", random_state=0).fit(X)
    assert ae.model_.config.scale == "standard"
    np.testing.assert_allclose(ae.model_.input_offset.numpy(), X.mean(axis=0), rtol=1e-5)
    recon = ae.inverse_transform(ae.transform(X))
    np.testing.assert_allclose(recon.mean(axis=0), X.mean(axis=0), atol=0.5 * X.std(axis=0).max())
    unscaled = AutoencoderTransformer(encoding_dim=2, epochs=20, batch_size=32, random_state=0).fit(X)
    assert ae.score(X) > unscaled.score(X)  # the scaled model reconstructs the raw columns better


def test_bad_settings_are_value_errors_naming_the_fix():
    X = np.random.default_rng(0).normal(size=(30, 4))
    with pytest.raises(ConfigError, match="loss='mse', scale='minmax' or put a MinMaxScaler"):
        AutoencoderTransformer(loss="bce", epochs=1).fit(X)
    AutoencoderTransformer(loss="bce", scale="minmax", epochs=1).fit(X)  # the scale the message names works
    with pytest.raises(ValueError, match="noise='masking'"):
        AutoencoderTransformer(noise="gaussian", noise_level=0.1, epochs=1).fit(X)
    with pytest.raises(ValueError, match="unknown activation 'nope'"):
        AutoencoderTransformer(activation="nope", epochs=1).fit(X)
    # the fix works: scaled into [0, 1], BCE and gaussian noise are fine
    make_pipeline(MinMaxScaler(), AutoencoderTransformer(loss="bce", noise="gaussian", noise_level=0.1, epochs=1)).fit(
        X
    )
