"""Reading a run folder (config.json, model.safetensors, history.json) without the training stack."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aekit.config import TrainConfig, from_dict
from aekit.errors import ModelFileError
from aekit.history import History
from aekit.io import CONFIG, load_model, read_json
from aekit.models import Autoencoder


def load_run(path: str | os.PathLike) -> tuple[Autoencoder, dict[str, Any], History]:
    """A run folder's model, config dict and history."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFileError(f"{path}: no such run folder; pass a folder written by `aekit train`")
    config = read_json(path / CONFIG)
    model = load_model(path)
    hist_path = path / "history.json"
    history = History.from_dict(read_json(hist_path)) if hist_path.is_file() else History()
    if "train" in config:
        from_dict(TrainConfig, config["train"])  # validates
    return model, config, history


def read_optional_json(path: Path) -> Any | None:
    """A JSON file of the run folder, or None when it is not there (a damaged one still raises)."""
    return read_json(path) if path.is_file() else None


def run_config(run_dir: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """The run folder as a Path and its config.json, with a clear error when it is not a run folder."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ModelFileError(f"{path}: no such run folder; pass a folder written by `aekit train`")
    if not (path / CONFIG).is_file():
        raise ModelFileError(f"{path}: not an aekit run folder (no config.json); pass a folder written by `aekit train`")
    config = read_json(path / CONFIG)
    if not isinstance(config, dict):
        raise ModelFileError(f"{path / CONFIG}: expected a JSON object; the file is damaged, re-run training")
    return path, config
