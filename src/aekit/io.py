"""Model files: safetensors weights (never pickle) with the config in the metadata, JSON beside them.

A run folder holds ``config.json`` and ``model.safetensors``; a lone ``.safetensors`` file carries
its config in its metadata, so either loads on its own. Every write goes to a temporary name in
the same folder and is renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from aekit import __version__
from aekit.config import ModelConfig, from_dict, to_dict
from aekit.config_checks import must_be
from aekit.devices import resolve_device
from aekit.errors import AekitError, ConfigError, ModelFileError
from aekit.files import atomic_write
from aekit.models import Autoencoder

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CHECKPOINT_FORMAT = "aekit-checkpoint"  # the 'format' of a training checkpoint's metadata (aekit.training.checkpoint)
# A run folder's checkpoints, written by aekit.training.checkpoint (which imports these, so load_model names them too)
CHECKPOINT_DIR = "checkpoint"
LAST = "last.safetensors"  # the state after the last complete epoch
BEST = "best.safetensors"  # the best epoch's state (keep_best)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, sync: bool = True) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and an atomic rename.

    With `sync` (the default) the data reach the disk before the rename; ``sync=False`` leaves that to a later
    `sync_file` (the rename still makes the file whole or absent for any reader and after any killed process).
    """
    path = Path(path)
    atomic_write(path, lambda f: f.write(data), sync=sync)
    return path


def sync_file(path: str | os.PathLike) -> None:
    """Flush a written file and its folder's entry for it to the disk (fsync of both)."""
    path = Path(path)
    for target, flags in ((path, os.O_RDONLY), (path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))):
        fd = os.open(target, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """`text` as UTF-8; a file name of other bytes in it (lone surrogates, as Python reads one) keeps its bytes."""
    return atomic_write_bytes(path, text.encode("utf-8", errors="surrogateescape"))


def write_json(path: str | os.PathLike, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: file not found; pass a run folder written by `aekit train`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(
            f"{path}: not valid JSON ({exc}); the file is damaged, re-run training or restore it"
        ) from None


def save_model(model: Autoencoder, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Save weights as safetensors; the metadata holds the aekit version and the model config.

    `path` is a ``.safetensors`` file, or a folder (an existing one, or a name without a suffix), which then
    holds ``model.safetensors``. Another suffix (``ae.h5``, ``ae.pt`` …) is refused: the file would not be what
    its name says.
    """
    must_be("model", model, Autoencoder, "pass the Autoencoder to save, then the path")
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / WEIGHTS
    elif path.suffix != ".safetensors":
        raise ConfigError(
            f"{path}: aekit saves models as safetensors, not {path.suffix} files; name the file "
            f"{path.with_suffix('.safetensors').name}, or pass a folder name without a suffix"
        )
    return atomic_write_bytes(path, model_bytes(model, extra))


def model_bytes(model: Autoencoder, extra: dict[str, Any] | None = None) -> bytes:
    """The bytes of the model file `save_model` writes (so that a caller may write them elsewhere or later)."""
    from safetensors.torch import save

    meta = {"format": "aekit", "aekit_version": __version__, "model_config": json.dumps(to_dict(model.config))}
    if extra:
        meta.update({k: json.dumps(v) for k, v in extra.items()})
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}  # from any device
    meta["sha256"] = _digest(tensors, meta["model_config"])
    return save(tensors, metadata=meta)


def _digest(tensors: dict[str, torch.Tensor], model_config: str) -> str:
    """SHA-256 over the model config and every tensor's name, dtype, shape and bytes (detects damage and edits)."""
    h = hashlib.sha256(model_config.encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode("utf-8"))
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Every tensor and the metadata of a safetensors file (never unpickles). safetensors raises its own
    error types for a truncated or garbled file; callers turn them into their one-line message."""
    from safetensors import safe_open

    if not _utf8(path):  # safetensors opens only UTF-8 paths: read the bytes here instead
        from safetensors.torch import load

        data = Path(path).read_bytes()
        return load(data), safetensors_metadata(path, data)
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}


def safetensors_metadata(path: Path, data: bytes | None = None) -> dict[str, str]:
    """The metadata of a safetensors file (its header only, unless its `data` are given); raises on a damaged one."""
    from safetensors import safe_open

    if data is None and _utf8(path):
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    if data is None:
        with open(path, "rb") as f:
            data = f.read(8)
            data += f.read(int.from_bytes(data, "little"))
    size = int.from_bytes(data[:8], "little")
    if len(data) < 8 or len(data) < 8 + size:
        raise ValueError("the header is cut short")
    header = json.loads(data[8 : 8 + size])
    return dict(header.get("__metadata__") or {}) if isinstance(header, dict) else {}


def _utf8(path: str | os.PathLike) -> bool:
    """Whether `path` is valid UTF-8 (a file name of other bytes reads as lone surrogates)."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found; pass a run folder or a .safetensors file written by aekit")
    try:
        tensors, meta = read_safetensors(path)
    except Exception as exc:  # safetensors raises its own error types for truncated/garbled files
        if path.suffix.lower() != ".safetensors":  # a data file in RUN's place: no damaged model, a mix-up
            raise ModelFileError(
                f"{path}: not a model file; pass a run folder or a .safetensors file written by aekit (a command "
                "that reads data takes RUN first, then INPUT)"
            ) from None
        raise ModelFileError(
            f"{path}: not a readable safetensors file ({str(exc).splitlines()[0]}); it is truncated or damaged, "
            "save it again or restore it"
        ) from None
    return tensors, meta


def _check_version(meta: dict[str, str], path: Path) -> None:
    version = meta.get("aekit_version")
    if version is None:
        return
    major = version.split(".")[0]
    if major != __version__.split(".")[0]:
        raise ModelFileError(
            f"{path}: written by aekit {version}, which this aekit {__version__} cannot read; "
            f"install aekit {major}.x to load it"
        )


def _checkpoint_hint(path: Path) -> str:
    """What to say when a training checkpoint is passed where a model file is expected."""
    run = path.parent.parent if path.parent.name == CHECKPOINT_DIR else None
    where = (
        (
            f"pass the run folder {run} (or {run / CHECKPOINT_DIR / BEST}, the best epoch's model), "
            f"or continue training with `aekit train --resume {run}`"
        )
        if run is not None
        else ("pass its run folder, or load it with aekit.load_checkpoint to continue training")
    )
    return f"{path}: is a training checkpoint, not a model file; {where}"


def load_model(path: str | os.PathLike, *, device: str | torch.device | None = None) -> Autoencoder:
    """Load a model from a run folder or a ``.safetensors`` file; never unpickles, never runs code. The weights load
    on the CPU, whatever device wrote them, and move to `device` when one is given ('auto', 'cuda', …)."""

    if not isinstance(path, (str, os.PathLike)):  # Path(None) was a TypeError from pathlib
        raise ModelFileError(
            f"the path must be a str or a Path, got {type(path).__name__}; "
            "pass a run folder or a .safetensors file written by aekit"
        )
    path = Path(path)
    if path.is_dir():
        weights = path / WEIGHTS
        run_config = read_json(path / CONFIG) if (path / CONFIG).is_file() else {}
        if not isinstance(run_config, dict):
            raise ModelFileError(f"{path / CONFIG}: not a JSON object; the file is damaged, restore it or train again")
        cfg_dict = run_config.get("model")
        last = path / CHECKPOINT_DIR / LAST  # aekit.training.checkpoint's, written after every epoch
        if not weights.is_file() and last.is_file():
            raise ModelFileError(
                f"{weights}: not there, the run has not finished or the file was removed (its last complete epoch "
                f"is in {last}); "
                f"continue it with `aekit train --resume {path}`, or pass {last.parent / BEST}"
            )
    else:
        weights, cfg_dict = path, None
    tensors, meta = _read_safetensors(weights)
    if meta.get("format") == CHECKPOINT_FORMAT:
        raise ModelFileError(_checkpoint_hint(weights))
    _check_version(meta, weights)
    if "sha256" in meta and meta["sha256"] != _digest(tensors, meta.get("model_config", "")):
        raise ModelFileError(
            f"{weights}: checksum mismatch, the file was damaged or edited after aekit wrote it; "
            "restore it or train again"
        )
    file_config = None
    if "model_config" in meta:
        try:
            file_config = from_dict(ModelConfig, json.loads(meta["model_config"]))
        except json.JSONDecodeError:
            raise ModelFileError(
                f"{weights}: the model config in the metadata is not valid JSON; the file was tampered with"
            ) from None
        except AekitError as exc:
            newer = meta.get("aekit_version", __version__) != __version__
            hint = (
                f"; it was written by aekit {meta['aekit_version']} (this is {__version__}), upgrade aekit to load it"
                if newer
                else ""
            )
            raise ModelFileError(f"{weights}: bad model config ({exc}){hint}") from None
    if cfg_dict is None:
        if file_config is None:
            raise ModelFileError(
                f"{weights}: no model config in the file's metadata nor a config.json beside it; "
                "it was not written by aekit"
            )
        config = file_config
    else:
        try:
            config = from_dict(ModelConfig, cfg_dict)
        except AekitError as exc:
            raise ModelFileError(
                f"{path / CONFIG}: bad model config ({exc}); the file was edited or damaged, restore it or train again"
            ) from None
        if file_config is not None and file_config != config:
            fields = [k for k, v in to_dict(config).items() if to_dict(file_config)[k] != v]
            raise ModelFileError(
                f"{path / CONFIG} and {weights} disagree on {', '.join(fields)}; "
                "keep config.json and model.safetensors from the same run"
            )
    try:  # shapes first, on the meta device: a tampered config cannot make us allocate a huge model
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in Autoencoder(config).state_dict().items()}
    except Exception:  # an architecture that cannot be built on the meta device
        expected = {k: tuple(v.shape) for k, v in Autoencoder(config).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
        extra = sorted(set(found) - set(expected))
        detail = "; ".join(
            s
            for s in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(extra)}" if extra else "",
                ", ".join(f"{k} is {found[k]} not {expected[k]}" for k in wrong),
            )
            if s
        )
        raise ModelFileError(
            f"{weights}: the weights do not match the config ({detail}); "
            "keep config.json and model.safetensors from the same run"
        )
    wrong_dtype = sorted(k for k, v in tensors.items() if v.dtype != torch.float32)
    if wrong_dtype:
        raise ModelFileError(
            f"{weights}: tensors {', '.join(wrong_dtype)} are not float32; "
            "the file was not written by aekit or was edited"
        )
    model = Autoencoder(config)
    model.load_state_dict(tensors)
    model.eval()
    if device is not None:
        model.to(resolve_device(device))
    return model
