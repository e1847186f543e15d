"""Reading a run folder (config.json, model.safetensors, history.json) without the training stack, and locking it
while one process trains into it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aekit.config import TrainConfig, from_dict
from aekit.errors import ConfigError, ModelFileError
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
        try:
            from_dict(TrainConfig, config["train"])  # validates
        except ConfigError as exc:  # not an option given now: the file's (a bare message would name the flag)
            raise ModelFileError(
                f"{path / CONFIG}: bad train config ({exc}); the file was edited or damaged, restore it or train again"
            ) from None
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
        raise ModelFileError(
            f"{path}: not an aekit run folder (no config.json); pass a folder written by `aekit train`"
        )
    config = read_json(path / CONFIG)
    if not isinstance(config, dict):
        raise ModelFileError(f"{path / CONFIG}: expected a JSON object; the file is damaged, re-run training")
    return path, config


# --------------------------------------------------------------------------- one training at a time per run folder
LOCK = ".aekit.lock"  # inside the run folder; kept there (removing it would let two processes lock two files)


class RunLock:
    """An exclusive lock on a run folder, held while one process trains into it (``flock`` on ``RUN/.aekit.lock``).

    The file holds the holder's pid while it is held. The system releases the lock when the process ends, however
    it ends (SIGKILL included), so a lock left by a dead process never blocks; `release` (or leaving the ``with``
    block) releases it sooner.
    """

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)  # the holder's pid goes: an idle run folder's lock file is empty
            finally:
                os.close(self._fd)  # closing the descriptor releases the flock
                self._fd = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_run_folder(path: str | os.PathLike, *, create: bool = False) -> RunLock:
    """Lock the run folder `path` for this process (with `create`, making the folder first if it is missing), or
    raise ConfigError naming the process that holds it. Never waits and never changes anything else in the folder."""
    try:
        import fcntl
    except ImportError:  # no flock on this system: no lock
        return RunLock(Path(path), None)
    path = Path(path)
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot create the run folder ({exc.strerror or exc}); choose another --out folder"
            ) from None
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        pid = f" (pid {holder})" if holder.isdigit() else ""
        raise ConfigError(
            f"{path}: another aekit process{pid} is training into this run folder; "
            "wait for it to finish, or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
    return RunLock(path, fd)


def clear_run_folder(path: Path) -> None:
    """Delete everything in the run folder `path` but its lock (to be called with the lock held: --overwrite)."""
    import shutil

    for entry in path.iterdir():
        if entry.name == LOCK:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
