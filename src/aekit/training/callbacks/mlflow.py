"""Experiment tracking with MLflow, the optional extra ``pip install 'aekit[mlflow]'``: `MLflowLogger`.

MLflow is imported when a logger is made, never by ``import aekit``. The default store is a folder, ``mlruns/``,
holding an SQLite database (``mlruns/mlflow.db``) and the artifacts (``mlruns/artifacts/``): it needs no server and
works offline (MLflow 3 refuses its older plain-file store unless told to). Look at it with
``mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db``, or read it with ``mlflow.tracking.MlflowClient``.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aekit.config import to_dict
from aekit.errors import ConfigError, TrainingError
from aekit.training import distributed
from aekit.training.callbacks.base import Callback, TrainState

DEFAULT_STORE = "mlruns"
INSTALL = "pip install 'aekit[mlflow]'"
# the run folder's files logged as artifacts (tb/ and checkpoint/ stay in the folder)
ARTIFACTS = ("report.html", "model.safetensors", "config.json", "metrics.json", "history.json", "history.csv")


def store_uri(uri: str | os.PathLike | None = None) -> tuple[str, str | None]:
    """(tracking URI, artifact location of a new experiment) for `uri`: a URI (``sqlite:///…``, ``http://…``,
    ``file:…``, ``databricks``) is used as it is; a folder (default ``mlruns``) holds an SQLite store and its
    artifacts."""
    text = os.fspath(uri) if uri is not None else DEFAULT_STORE
    if "://" in text or text.startswith(("sqlite:", "file:", "databricks")):
        return text, None
    folder = Path(text).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--mlflow {text}: is a file; pass a folder for the store (default mlruns) or a tracking URI")
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


def _import_mlflow():
    try:
        import mlflow
    except ImportError:
        raise ConfigError(f"MLflow is not installed; {INSTALL}") from None
    return mlflow


@contextmanager
def _quiet_store_setup():
    """MLflow announces the creation of its database tables at INFO level: keep that off aekit's output."""
    loggers = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class MLflowLogger(Callback):
    """Logs a run to MLflow: both configs as parameters (``model.*``, ``train.*``), every loss term each epoch
    (step = epoch), and, under `aekit.train` / `aekit.resume`, the final metrics (metrics.json), the data
    settings and the run folder's report, figures and model file as artifacts.

    `uri`: a tracking URI, or a folder for a local store (default ``mlruns/``; see the module's notes).
    Each `fit` / `train` / `resume` with the logger is one MLflow run in `experiment`; its id is ``run_id``.
    Under torchrun only rank 0 logs.
    """

    def __init__(
        self,
        uri: str | os.PathLike | None = None,
        *,
        experiment: str = "aekit",
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        mlflow = _import_mlflow()
        self.uri, artifact_location = store_uri(uri)
        self.run_name, self.tags, self.run_id, self.client = run_name, dict(tags or {}), None, None
        self._logged: set[str] = set()  # metric names that have per-epoch values
        if not distributed.is_main():
            return
        try:
            if artifact_location is not None:
                Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            with _quiet_store_setup():
                self.client = mlflow.tracking.MlflowClient(self.uri)
                found = self.client.get_experiment_by_name(experiment)
                self.experiment_id = (
                    found.experiment_id
                    if found is not None
                    else self.client.create_experiment(experiment, artifact_location=artifact_location)
                )
        except ImportError as exc:  # the SQLite store needs sqlalchemy and alembic
            missing = exc.name or "a module that is missing"
            raise ConfigError(f"the MLflow store {self.uri} needs {missing}; {INSTALL}") from None
        except mlflow.exceptions.MlflowException as exc:
            first = str(exc.message if hasattr(exc, "message") else exc).strip().splitlines()[0]
            raise ConfigError(
                f"--mlflow {uri if uri is not None else DEFAULT_STORE}: {first}; pass a folder for a "
                "local store (default mlruns) or a reachable tracking URI"
            ) from None
        except OSError as exc:
            raise ConfigError(f"--mlflow {self.uri}: {exc.strerror or exc}; choose a writable folder") from None

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One client call; an MLflow failure mid-run stops training with one line (the checkpoint is kept)."""
        mlflow = _import_mlflow()
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except mlflow.exceptions.MlflowException as exc:
            first = str(exc).strip().splitlines()[0]
            raise TrainingError(
                f"logging to MLflow at {self.uri} failed ({first}); check the store, or train without --mlflow"
            ) from None

    def _log(
        self, *, metrics: dict[str, float] | None = None, params: dict[str, Any] | None = None, step: int = 0
    ) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        ms = [Metric(k, float(v), now, step) for k, v in (metrics or {}).items()]
        ps = [Param(k, str(v)) for k, v in (params or {}).items()]
        for i in range(0, max(len(ms), len(ps)), 100):  # MLflow takes at most 100 parameters in one batch
            self._call("log_batch", self.run_id, metrics=ms[i : i + 100], params=ps[i : i + 100])

    def on_train_begin(self, state: TrainState) -> None:
        if self.client is None:
            return
        tags = {"aekit.resumed_from_epoch": str(state.epoch)} if state.epoch else {}
        run = self._call("create_run", self.experiment_id, run_name=self.run_name, tags={**self.tags, **tags})
        self.run_id, self._logged = run.info.run_id, set()
        params = {f"model.{k}": v for k, v in to_dict(state.model.config).items()}
        params.update({f"train.{k}": v for k, v in to_dict(state.config).items()})
        self._log(params=params)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if self.run_id is not None:
            self._log(metrics=logs, step=state.epoch)
            self._logged.update(logs)

    def on_train_end(self, state: TrainState) -> None:
        if self.run_id is not None:
            self._call("set_terminated", self.run_id, "FINISHED")

    def on_run_end(self, path: Path, metrics: dict[str, float]) -> None:
        """The final metrics not already logged per epoch, the data settings, and the run folder's files."""
        if self.run_id is None:
            return
        from aekit.io import read_json

        config = read_json(path / "config.json")
        params = {f"data.{k}": v for k, v in (config.get("data") or {}).items()}
        params.update({k: config[k] for k in ("kind", "aekit_version") if k in config})
        final = {k: v for k, v in metrics.items() if k not in self._logged and isinstance(v, (int, float))}
        self._log(metrics=final, params=params, step=int(metrics.get("epochs", 0)))
        self._call("set_tag", self.run_id, "aekit.run_folder", str(path.resolve()))
        for name in [*ARTIFACTS, *sorted(p.name for p in path.glob("*.png"))]:
            if (path / name).is_file():
                self._call("log_artifact", self.run_id, str(path / name))
