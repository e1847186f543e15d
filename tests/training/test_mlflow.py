"""MLflowLogger against a real local MLflow store (SQLite and an artifact folder in tmp_path), read back with
MLflow's client."""

import json

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from aekit import Autoencoder, ConfigError, MLflowLogger, ModelConfig, TrainConfig, fit, train


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store folder; the first logger creates its database (a few seconds), the others reuse it."""
    return tmp_path_factory.mktemp("mlflow") / "store"


def test_train_logs_configs_every_term_final_metrics_and_the_run_folder(store, tmp_path):
    logger = MLflowLogger(store, run_name="sparse")
    result = train(
        None,
        TrainConfig(epochs=2, l1=1e-4),
        limit=300,
        out=tmp_path / "run",
        verbose=0,
        tensorboard=False,
        callbacks=[logger],
    )
    client = MlflowClient(logger.uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "sparse"
    assert client.get_experiment(run.info.experiment_id).name == "aekit"
    params = run.data.params
    assert params["model.encoding_dim"] == "32" and params["train.epochs"] == "2" and params["train.l1"] == "0.0001"
    assert params["data.limit"] == "300" and params["data.dataset"] == "mnist"
    for term in ("loss", "recon", "l1", "val_loss", "val_recon", "val_l1", "epoch_time"):
        points = client.get_metric_history(logger.run_id, term)
        assert [p.step for p in points] == [1, 2], term
        assert [p.value for p in points] == pytest.approx(result.history.history[term], rel=1e-12), term
    metrics = json.loads((result.path / "metrics.json").read_text())
    for key in ("mean_code_activation", "jacobian_norm", "train_seconds"):
        assert run.data.metrics[key] == pytest.approx(metrics[key], rel=1e-12), key
    artifacts = {a.path for a in client.list_artifacts(logger.run_id)}
    assert {"report.html", "loss.png", "reconstructions.png", "model.safetensors", "config.json"} <= artifacts
    assert not {"tb", "checkpoint"} & artifacts
    model_file = client.download_artifacts(logger.run_id, "model.safetensors", str(tmp_path))
    assert open(model_file, "rb").read() == (result.path / "model.safetensors").read_bytes()
    assert run.data.tags["aekit.run_folder"] == str(result.path.resolve())


def test_fit_alone_logs_the_configs_and_each_epoch(store, rng):
    x = rng.random((64, 6), dtype=np.float32)
    logger = MLflowLogger(store, experiment="fit-only")
    history = fit(
        Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)), x, epochs=3, batch_size=16, verbose=0, callbacks=[logger]
    )
    client = MlflowClient(logger.uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.data.params["model.input_dim"] == "6"
    assert [p.value for p in client.get_metric_history(logger.run_id, "loss")] == pytest.approx(history.history["loss"])
    assert client.list_artifacts(logger.run_id) == []  # no run folder, nothing to attach


def test_a_file_where_the_store_goes_is_one_clear_error(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(ConfigError, match=r"taken: is a file; pass a folder for the store") as info:
        MLflowLogger(tmp_path / "taken")
    assert "\n" not in str(info.value)
