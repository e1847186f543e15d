"""encode: codes of rows (library and `aekit encode`), the code map, k-NN and PCA helpers; on real MNIST."""

import numpy as np
import pytest
import torch
from aekit_subprocess import aekit_cli

import aekit
from aekit.errors import DataError
from aekit.uses.encoding import (
    code_plot,
    decode,
    encode,
    knn_accuracy,
    pca_baseline,
    reconstruct,
    reconstruction_mse,
)
from aekit.uses.inputs import load_rows


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("enc") / "run"
    aekit.train(
        aekit.ModelConfig(encoding_dim=8),
        aekit.TrainConfig(epochs=2, optimizer="adam", batch_size=128),
        limit=1200,
        out=out,
        tensorboard=False,
        verbose=0,
    )
    return out


def test_encode_gives_the_models_codes(run, mnist_small):
    x = mnist_small[2][:64]
    model = aekit.load_model(run)
    codes = encode(run, x)
    assert codes.shape == (64, 8) and codes.dtype == np.float32
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(encode(model, x, batch_size=10), codes, rtol=1e-5, atol=1e-6)  # batching changes nothing
    np.testing.assert_allclose(encode(run / "model.safetensors", x), codes, rtol=1e-5, atol=1e-6)
    assert reconstruct(run, x).shape == (64, 784)


def test_encoding_a_memmap_reads_it_in_blocks(run, big_npy, rss_file_kib):
    rows = load_rows(big_npy)
    assert isinstance(rows.x, np.memmap)  # a float32 .npy is not copied into memory
    before = rss_file_kib()
    codes = encode(run, rows.x)
    grown = rss_file_kib() - before
    assert grown < 16 * 1024, f"encoding left {grown / 1024:.0f} MiB of the file mapped"
    np.testing.assert_array_equal(codes, encode(run, np.load(big_npy)))
    np.testing.assert_array_equal(reconstruct(run, rows.x[:100]), reconstruct(run, np.load(big_npy)[:100]))


def test_wrong_feature_count_is_a_data_error(run):
    with pytest.raises(DataError, match="has 30 features but the model expects 784"):
        encode(run, np.zeros((5, 30), dtype=np.float32))
    with pytest.raises(
        DataError,
        match=r"has 1 feature but the model expects 784; a single row\? pass it as one row, x.reshape\(1, -1\)",
    ):
        encode(run, np.zeros(784, dtype=np.float32))  # one image as a 1-D array: a column of 784 values
    assert encode(run, np.zeros((1, 784), dtype=np.float32)).shape == (1, 8)


@pytest.mark.parametrize(
    "codes, words",
    [
        (np.zeros(3), r"codes have 1 value per row but the model's code has 3; a single code\? .*z.reshape\(1, -1\)"),
        (np.zeros((2, 5)), "codes have 5 values per row but the model's code has 3; pass codes from encode"),
    ],
)
def test_decode_of_codes_of_the_wrong_width_names_the_fix(codes, words):
    with pytest.raises(DataError, match=words):
        decode(aekit.Autoencoder(aekit.ModelConfig(input_dim=4, encoding_dim=3)), codes)


def test_load_rows_splits_and_labels(tmp_path):
    test, train = load_rows("mnist", limit=20), load_rows("mnist:train", limit=20)
    assert test.name == "mnist:test" and train.name == "mnist:train"
    assert test.x.shape == (20, 784) and test.y.shape == (20,) and test.image_shape == (1, 28, 28)
    assert not np.array_equal(test.x, train.x)
    with pytest.raises(DataError, match="unknown split 'valid'"):
        load_rows("mnist:valid")
    np.save(tmp_path / "x.npy", np.zeros((4, 3), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.arange(3))
    with pytest.raises(DataError, match="3 labels for 4 rows"):
        load_rows(tmp_path / "x.npy", labels=tmp_path / "y.npy")
    np.save(tmp_path / "y.npy", np.arange(4))
    assert load_rows(tmp_path / "x.npy", labels=tmp_path / "y.npy").y.tolist() == [0, 1, 2, 3]
    for spec in ("cifar", "cifar:test", "rows.txt"):
        with pytest.raises(DataError, match="neither a dataset"):
            load_rows(spec)
    with pytest.raises(DataError, match="no such file"):
        load_rows(tmp_path / "missing.csv")


def test_cli_encode_writes_codes_and_a_map(run, tmp_path):
    out = tmp_path / "codes.csv"
    proc = aekit_cli("encode", run, "mnist", "--limit", 40, "-o", out, "--plot", tmp_path / "map.png")
    assert proc.returncode == 0, proc.stderr
    assert "40 rows × 8 code units" in proc.stdout
    np.testing.assert_allclose(aekit.load_array(out), encode(run, load_rows("mnist", limit=40).x), rtol=1e-5, atol=1e-5)
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_encode_file_input_to_parquet(run, tmp_path, mnist_small):
    np.save(tmp_path / "x.npy", mnist_small[2][:30])
    np.save(tmp_path / "y.npy", mnist_small[3][:30])
    proc = aekit_cli(
        "encode",
        run,
        tmp_path / "x.npy",
        "--labels",
        tmp_path / "y.npy",
        "-o",
        tmp_path / "c.parquet",
        "--plot",
        tmp_path / "map.png",
        "--method",
        "pca",
    )
    assert proc.returncode == 0, proc.stderr
    import pandas as pd

    df = pd.read_parquet(tmp_path / "c.parquet")
    assert df.shape == (30, 8) and list(df.columns)[:2] == ["code_0", "code_1"]
    np.testing.assert_allclose(df.to_numpy(), encode(run, mnist_small[2][:30]), rtol=1e-5, atol=1e-5)
    assert (tmp_path / "map.png").is_file()


def test_cli_wrong_features_is_one_line_and_leaves_nothing(run, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((5, 13), dtype=np.float32))
    proc = aekit_cli("encode", run, tmp_path / "x.npy", "-o", tmp_path / "c.npy")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "aekit: error: input has 13 features but the model expects 784; "
        "pass data with the same columns as the training data"
    ]
    assert not (tmp_path / "c.npy").exists()


def test_code_plot_draws_a_two_unit_code_directly_and_projects_others():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype(np.float32)[:300]
    model = aekit.Autoencoder(aekit.ModelConfig(input_dim=64, encoding_dim=2, code_activation="linear"))
    codes = encode(model, x)
    assert codes.shape == (300, 2)
    fig = code_plot(codes, y[:300])
    assert fig.axes[0].get_xlabel() == "code 1"
    ax = fig.axes[0]
    drawn = np.concatenate([c.get_offsets() for c in ax.collections])
    assert drawn.shape == (300, 2) and len(ax.collections) == 10  # one scatter per label
    assert code_plot(np.random.default_rng(0).random((50, 5)), limit=20).axes[0].get_xlabel() == "PC 1"


def test_knn_and_pca_helpers_on_digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype(np.float32)
    tr, te = slice(0, 1200), slice(1200, None)
    train_codes, test_codes, recon = pca_baseline(x[tr], x[te], 10)
    assert train_codes.shape == (1200, 10) and test_codes.shape == (597, 10) and recon.shape == (597, 64)
    assert knn_accuracy(train_codes, y[tr], test_codes, y[te]) > 0.85  # 10 PCs of 8x8 digits classify well
    assert reconstruction_mse(x[te], recon) < reconstruction_mse(x[te], pca_baseline(x[tr], x[te], 2)[2])
    with pytest.raises(DataError, match="needs at least 5"):
        knn_accuracy(train_codes[:3], y[:3], test_codes, y[te])
