import json

import numpy as np
import pytest
from aekit_subprocess import aekit_cli

from aekit import ModelConfig, TrainConfig, load_run, train
from aekit.errors import ConfigError, DataError

RUN_FILES = {
    "config.json",
    "model.safetensors",
    "history.json",
    "history.csv",
    "metrics.json",
    "loss.png",
    "reconstructions.png",
    "tb",
}


def test_short_real_mnist_run_writes_every_file(tmp_path):
    out = tmp_path / "run"
    result = train(ModelConfig(encoding_dim=16), TrainConfig(epochs=2, batch_size=128), limit=2000, out=out, verbose=0)
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert not list(out.glob(".*.tmp"))
    h = json.loads((out / "history.json").read_text())["history"]
    assert h["loss"][1] < h["loss"][0] and len(h["val_loss"]) == 2
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["encoding_dim"] == 16 and cfg["train"]["epochs"] == 2 and cfg["data"]["n_train"] == 2000
    assert cfg["model"]["image_shape"] == [1, 28, 28]
    lines = (out / "history.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,") and len(lines) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_loss"] == pytest.approx(h["val_loss"][-1]) and metrics["mean_code_activation"] > 0
    model, config, history = load_run(out)
    assert history.history["loss"] == h["loss"] and model.config == result.model.config
    assert (out / "reconstructions.png").read_bytes()[:4] == b"\x89PNG"


def test_user_csv_file_with_a_validation_split(tmp_path, rng):
    data = tmp_path / "rows.csv"
    x = rng.random((200, 6))
    np.savetxt(data, x, delimiter=",", header="a,b,c,d,e,f", comments="")
    result = train(
        ModelConfig(encoding_dim=3),
        TrainConfig(epochs=2, batch_size=32, loss="mse"),
        data=str(data),
        out=tmp_path / "r",
        verbose=0,
    )
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["model"]["input_dim"] == 6 and cfg["data"]["n_train"] == 180 and cfg["data"]["n_val"] == 20
    assert "val_loss" in result.history.history
    assert not (tmp_path / "r" / "reconstructions.png").exists()  # a table has no images


def test_a_write_refused_after_training_says_the_trained_model_is_kept(tmp_path, rng, monkeypatch):
    """A full disk when the loss curve is written (after model.safetensors): one DataError naming the figure, the
    system's reason, and where the trained model is; that model loads."""
    import errno

    import aekit.reporting.rendering as rendering

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    def on_a_full_disk(*args, **kwargs):  # the real save_figure, its fsync refused
        with monkeypatch.context() as m:
            m.setattr(rendering.os, "fsync", full)
            return real(*args, **kwargs)

    real = rendering.save_figure
    np.save(tmp_path / "x.npy", rng.random((60, 5)).astype(np.float32))
    monkeypatch.setattr(rendering, "save_figure", on_a_full_disk)
    out = tmp_path / "r"
    with pytest.raises(
        DataError, match=r"loss\.png: cannot write \(No space left on device\).*kept in .*model\.safetensors"
    ):
        train(ModelConfig(encoding_dim=2), TrainConfig(epochs=2, loss="mse"), data=str(tmp_path / "x.npy"), out=out)
    monkeypatch.undo()
    assert load_run(out)[0].config.encoding_dim == 2


def test_a_batch_larger_than_the_data_trains_as_one_batch_of_all_rows(tmp_path, rng):
    """`--batch-size 1000000000` on 40 rows: one batch a step, as `--batch-size 36` (its 36 training rows); it was
    refused as needing 566 GiB, and past that check the epoch's sort allocated 7.5 GiB."""
    np.save(tmp_path / "x.npy", rng.random((40, 6), dtype=np.float32))
    runs = [
        train(
            ModelConfig(encoding_dim=2),
            TrainConfig(epochs=2, batch_size=b),
            data=str(tmp_path / "x.npy"),
            out=tmp_path / str(b),
            verbose=0,
            tensorboard=False,
        )  # fmt: skip
        for b in (36, 10**9)
    ]
    assert runs[0].history.history["loss"] == runs[1].history.history["loss"]


def test_existing_run_folder_is_refused_then_overwritten(tmp_path):
    out = tmp_path / "run"
    kw = dict(limit=300, out=out, verbose=0, tensorboard=False)
    train(ModelConfig(encoding_dim=4), TrainConfig(epochs=1), **kw)
    with pytest.raises(ConfigError, match="already exists; pass overwrite=True"):
        train(ModelConfig(encoding_dim=4), TrainConfig(epochs=1), **kw)
    train(ModelConfig(encoding_dim=5), TrainConfig(epochs=1), overwrite=True, **kw)
    assert json.loads((out / "config.json").read_text())["model"]["encoding_dim"] == 5


def test_overwrite_never_deletes_a_foreign_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(ConfigError, match="not an aekit run folder"):
        train(None, TrainConfig(epochs=1), limit=100, out=tmp_path, overwrite=True, verbose=0)
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_bad_data_leaves_no_run_folder(tmp_path):
    data = tmp_path / "big.npy"
    np.save(data, np.full((20, 4), 5.0, dtype=np.float32))
    # a chosen bce meets the rows as they are, and is refused
    with pytest.raises(DataError, match=r"outside \[0, 1\].*pass scale=\"minmax\""):
        train(None, TrainConfig(epochs=1), data=str(data), out=tmp_path / "r", verbose=0, explicit=("loss",))
    assert not (tmp_path / "r").exists()


def test_bad_validation_data_leaves_no_run_folder(tmp_path, rng):
    np.save(tmp_path / "x.npy", rng.random((40, 4), dtype=np.float32))
    np.save(tmp_path / "v.npy", rng.random((10, 4), dtype=np.float32) * 3)
    with pytest.raises(DataError, match=r"the validation data has values outside \[0, 1\]"):
        train(
            None,
            TrainConfig(epochs=1),
            data=str(tmp_path / "x.npy"),
            val_data=str(tmp_path / "v.npy"),
            out=tmp_path / "r",
            verbose=0,
        )
    assert not (tmp_path / "r").exists()


def test_a_run_scans_its_rows_once(tmp_path, rng, monkeypatch):
    import collections
    import importlib

    rows_module = importlib.import_module("aekit.data.rows")
    finite, ranged = collections.Counter(), []
    real_finite, real_range = rows_module._check_finite, rows_module._unit_range
    count_finite = lambda block, name, start=0: finite.update([name]) or real_finite(block, name, start)  # noqa: E731
    monkeypatch.setattr(rows_module, "_check_finite", count_finite)
    monkeypatch.setattr(rows_module, "_unit_range", lambda x: ranged.append(x.shape[0]) or real_range(x))
    import aekit.data.arrays

    files, real_scan = [], aekit.data.arrays._scan_npy_file
    monkeypatch.setattr(
        aekit.data.arrays, "_scan_npy_file", lambda path, *a: files.append(path.name) or real_scan(path, *a)
    )
    np.save(tmp_path / "x.npy", rng.random((200, 6), dtype=np.float32))
    train(
        None,
        TrainConfig(epochs=2, batch_size=32),
        data=str(tmp_path / "x.npy"),
        out=tmp_path / "r",
        tensorboard=False,
        verbose=0,
    )
    assert files == ["x.npy"]  # the file is read once, when it is loaded: NaN/inf, and its range remembered
    assert ranged == [180, 20]  # the [0, 1] check: training and validation rows, once each (answered by that scan)
    # NaN/inf: the load's scan answers the checks before the run folder exists, and `fit` makes none ("x",
    # "validation x"); then the final metrics look at up to 10,000 validation rows ("x" once; the Jacobian norm
    # reuses those rows)
    assert finite == {"x": 1}
    np.save(tmp_path / "y.npy", rng.random((200, 6)))  # float64: converted to float32 in memory, so scanned here
    train(
        None,
        TrainConfig(epochs=1, batch_size=32),
        data=str(tmp_path / "y.npy"),
        out=tmp_path / "r2",
        tensorboard=False,
        verbose=0,
    )
    assert finite == {"training data": 1, "validation data": 1, "x": 2}


def test_val_split_of_a_memmapped_npy_keeps_both_parts_on_disk(tmp_path):
    import numpy as np

    from aekit.data.sources import load_run_data

    x = np.random.default_rng(0).random((200, 12), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    rd = load_run_data(data=str(tmp_path / "x.npy"), val_split=0.1)
    assert isinstance(rd.x_train, np.memmap) and isinstance(rd.x_val, np.memmap)  # views, not copies
    assert np.array_equal(rd.x_train, x[:180]) and np.array_equal(rd.x_val, x[180:])


def test_a_data_file_cut_short_during_training_keeps_the_finished_epoch(tmp_path, rng):
    from aekit import Callback

    path = tmp_path / "x.npy"
    np.save(path, rng.random((400, 12), dtype=np.float32))
    cut = []

    class CutTheFile(Callback):  # someone overwrites the file with a shorter one after epoch 1
        def on_epoch_end(self, state, logs):
            if state.epoch == 1:
                with open(path, "r+b") as f:
                    f.truncate(path.stat().st_size - 200 * 12 * 4)
                cut.append(True)

    with pytest.raises(DataError, match=r"shorter than when it was loaded.*the last complete epoch \(1\) is kept in "):
        train(
            ModelConfig(input_dim=12, encoding_dim=3),
            TrainConfig(epochs=3, batch_size=32),
            data=str(path),
            out=tmp_path / "run",
            tensorboard=False,
            verbose=0,
            callbacks=[CutTheFile()],
        )
    assert cut and (tmp_path / "run" / "checkpoint" / "last.safetensors").exists()


@pytest.mark.slow
def test_the_tutorial_command_on_all_of_mnist(tmp_path):
    """`aekit train` at its defaults on the 60,000 MNIST images (3 epochs): every file, TensorBoard's two runs with
    the pictures of the first and last epochs, and the tutorial's learning curve under way."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tutorial"
    proc = aekit_cli("train", "--epochs", 3, "--out", out, "--quiet", check=True)
    assert f"{out}: 3 epochs" in proc.stdout and proc.stderr == ""
    assert RUN_FILES | {"report.html", "checkpoint"} <= {p.name for p in out.iterdir()}
    h = json.loads((out / "history.json").read_text())["history"]
    assert json.loads((out / "config.json").read_text())["data"]["n_train"] == 60000
    assert h["val_loss"][2] < h["val_loss"][0] < 0.3 and h["val_loss"][2] < 0.24  # 0.2697, 0.2258 with seed 0
    train_run = EventAccumulator(str(out / "tb" / "train"), size_guidance={"images": 0}).Reload()
    validation = EventAccumulator(str(out / "tb" / "validation")).Reload()
    assert [e.value for e in validation.Scalars("loss")] == pytest.approx(h["val_loss"], rel=1e-6)
    assert [e.step for e in train_run.Images("reconstructions")] == [1, 3]


# ------------------------------------------------------------ a user's own table (scikit-learn's, as raw CSV)
def _sklearn_csv(folder, name):
    from sklearn import datasets

    frame = {
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": lambda **kw: datasets.load_diabetes(scaled=False, **kw),
    }[name](as_frame=True).data
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)  # raw values with a header row, as a user has them (wine's proline reaches 1680)
    return path, frame.to_numpy(dtype=np.float32)


@pytest.mark.parametrize("name", ["wine", "breast_cancer", "diabetes"])
def test_a_raw_table_trains_scaled_and_is_used_in_its_units(tmp_path, name):
    import json

    import torch

    import aekit

    path, raw = _sklearn_csv(tmp_path, name)
    run = train(
        ModelConfig(encoding_dim=4),
        TrainConfig(batch_size=32, epochs=30, optimizer="adam", lr=0.01),
        data=str(path),
        out=tmp_path / "r",
        verbose=0,
        tensorboard=False,
    )
    config = json.loads((run.path / "config.json").read_text())
    assert (config["model"]["scale"], config["model"]["output_activation"], config["train"]["loss"]) == (
        "standard",
        "linear",
        "mse",
    )  # the loss and the output follow the scaled rows
    model = aekit.load_model(run.path)  # the scaler lives in the model file
    held = np.zeros(len(raw), dtype=bool)
    held[np.random.default_rng(0).permutation(len(raw))[: round(len(raw) * 0.1)]] = True  # the run's validation rows
    np.testing.assert_allclose(model.input_offset.numpy(), raw[~held].mean(axis=0), rtol=1e-4)
    with torch.no_grad():
        scaled = model.scale_rows(torch.tensor(raw)).numpy()
    mean_predictor = float((scaled[held] ** 2).mean())  # every column's training mean (0 once standardised)
    val = run.metrics["val_loss"]  # MSE of the standardised columns
    assert val < 0.8 * mean_predictor and val < 1.0, (val, mean_predictor)
    codes = aekit.encode(run.path, raw)  # raw rows in, as the user has them
    with torch.no_grad():
        want = model.encoder(torch.from_numpy(scaled)).numpy()
    np.testing.assert_allclose(codes, want, rtol=1e-5, atol=1e-5)
    recon = aekit.reconstruct(run.path, raw)  # in the user's units: columns keep their means
    np.testing.assert_allclose(recon.mean(axis=0), raw.mean(axis=0), atol=0.5 * raw.std(axis=0).max())
    np.testing.assert_allclose(aekit.decode(run.path, codes), recon, rtol=1e-5, atol=1e-4 * np.abs(raw).max())


@pytest.mark.parametrize(
    "config, method",
    [
        (ModelConfig(input_dim=64, encoding_dim=4), "exact (closed form), 300 rows"),
        (ModelConfig(input_dim=64, hidden=(16,), encoding_dim=4), "exact, 300 rows"),
        (
            ModelConfig(input_dim=64, architecture="conv", image_shape=(1, 8, 8), hidden=(4,), encoding_dim=8),
            "Hutchinson estimate, 8 random ±1 projections per row, 256 rows",
        ),
    ],
)
def test_run_metrics_say_how_the_jacobian_norm_was_found(config, method, rng):
    import torch

    from aekit import Autoencoder, History
    from aekit.jacobians import jacobian_norm
    from aekit.training.finishing import run_metrics

    model = Autoencoder(config)
    x = rng.random((300, 64), dtype=np.float32)
    metrics = run_metrics(model, x, History({"loss": [0.5], "epoch_time": [1.0]}, [1]), 1.0, TrainConfig())
    assert metrics["jacobian_norm_method"] == method
    exact = jacobian_norm(model, torch.from_numpy(x[: 256 if "Hutchinson" in method else 300]))
    assert metrics["jacobian_norm"] == pytest.approx(exact, rel=0.03 if "Hutchinson" in method else 1e-5)


def test_a_run_shows_in_a_notebook_as_its_figures_and_metrics(tiny_runs):
    from html_tables import parse_html

    plain, sparse = tiny_runs
    tables, images, text = parse_html(sparse._repr_html_())
    (rows,) = tables
    shown = {name: value for name, value in rows[1:]}
    assert rows[0] == ["metric", "value"] and shown["val_loss"] == f"{sparse.metrics['val_loss']:,.4f}"
    assert "recon" in shown and "l1" in shown  # a penalised run: its terms differ
    assert "recon" not in dict(parse_html(plain._repr_html_())[0][0][1:])  # the plain run's recon is its loss
    assert [img["alt"] for img in images] == ["loss.png", "reconstructions.png"]
    assert all(img["src"].startswith("data:image/png;base64,iVBOR") for img in images)
    assert str(sparse.path) in text
