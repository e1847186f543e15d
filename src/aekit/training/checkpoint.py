"""Checkpoints and early stopping: never lose a run.

A checkpoint is ONE safetensors file, written to a temporary name and renamed into place, so a crash or
a SIGKILL at any moment leaves either the previous checkpoint or the new one, never a mix. It holds the
whole training state that `fit` needs to continue bitwise: the model's weights, the optimizer's state,
the state of the generator that drives shuffling and corruption, torch's and numpy's global RNG states,
the history, the epoch and step counts, both configs and the callbacks' own state (``TrainState.extra``,
e.g. early stopping's best weights). Tensors are safetensors tensors; everything else is JSON in the
file's metadata. Nothing is pickled. A checkpoint written on a GPU loads on the CPU and the other way round
(`load_checkpoint` builds the state on the CPU; `fit` moves it to its device, see `TrainState.to`).

In a run folder::

    checkpoint/last.safetensors   the state after the last complete epoch (read by `load_checkpoint`)
    checkpoint/best.safetensors   a model file (`aekit.load_model` reads it) of the best epoch so far

>>> import numpy as np, aekit, tempfile, pathlib
>>> x = np.random.default_rng(0).random((64, 8), dtype=np.float32)
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = aekit.fit(aekit.Autoencoder(aekit.ModelConfig(input_dim=8, encoding_dim=2)), x, epochs=2, verbose=0,
...               callbacks=[aekit.Checkpoint(folder)])
>>> state, meta = load_checkpoint(folder / LAST)
>>> state.epoch, len(state.history.history["loss"])
(2, 2)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from aekit import __version__
from aekit.config import ModelConfig, TrainConfig, from_dict, to_dict
from aekit.data.pixels import PixelRows
from aekit.data.reading import _read_runs
from aekit.data.scans import release_pages
from aekit.errors import AekitError, ModelFileError, option
from aekit.io import (
    BEST,
    CHECKPOINT_DIR,
    CHECKPOINT_FORMAT,
    LAST,
    atomic_write_bytes,
    read_safetensors,
    safetensors_metadata,
    sync_file,
)
from aekit.io import _digest as tensor_digest  # SHA-256 of named tensors + a text
from aekit.models import Autoencoder
from aekit.training.background import InThread
from aekit.training.callbacks.base import History, TrainState, seed_of
from aekit.training.optim import make_optimizer

FORMAT = CHECKPOINT_FORMAT  # "aekit-checkpoint"
FORMAT_VERSION = 1

__all__ = [
    "save_checkpoint",
    "checkpoint_bytes",
    "load_checkpoint",
    "checkpoint_epoch",
    "BackgroundWrites",
    "data_fingerprint",
    "Interrupted",
    "signals_interrupt",
    "CHECKPOINT_DIR",
    "LAST",
    "BEST",
]


# --------------------------------------------------------------------------- tensors + JSON, no pickle
def _flatten(obj: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """`obj` as JSON, each tensor replaced by ``{"__tensor__": name}`` and stored in `tensors` under that name."""
    if isinstance(obj, torch.Tensor):
        if key in tensors:
            raise ValueError(f"two tensors would be stored as {key!r}")
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _flatten(v, f"{key}/{k}", tensors) for k, v in obj.items()}
        return {"__items__": [[k, _flatten(v, f"{key}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(
        f"cannot store a {type(obj).__name__} in a checkpoint (at {key}); use tensors, numbers, strings, lists or dicts"
    )


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__ndarray__" in obj:
        return np.asarray(obj["__ndarray__"], dtype=np.dtype(obj["dtype"]))
    if "__tuple__" in obj:
        return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {k: _unflatten(v, tensors) for k, v in obj["__items__"]}
    return {k: _unflatten(v, tensors) for k, v in obj.items()}


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, so Ctrl-C never interrupts a checkpoint write half-way.

    Python runs signal handlers in the main thread, so the handlers are swapped for recorders (masking the
    signals in one thread would not stop another thread from taking them); main thread only.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for sig in pending:
            if callable(old[sig]):
                old[sig](sig, None)
            elif old[sig] == signal.SIG_DFL:
                signal.raise_signal(sig)


def save_checkpoint(state: TrainState, path: str | os.PathLike, meta: dict[str, Any] | None = None) -> Path:
    """Write the whole training state to `path` (one safetensors file, atomically). `meta`: extra JSON."""
    data = checkpoint_bytes(state, meta)
    with _signals_deferred():
        return atomic_write_bytes(path, data)


def checkpoint_bytes(state: TrainState, meta: dict[str, Any] | None = None) -> bytes:
    """The bytes of the checkpoint file of `state` (a copy of it: training may go on while they are written)."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    for name, value in state.model.state_dict().items():
        tensors[f"model/{name}"] = value.detach().cpu().contiguous().clone()
    body = {
        "epoch": state.epoch,
        "step": state.step,
        "stop_training": bool(state.stop_training),
        "model_config": to_dict(state.model.config),
        "train_config": to_dict(state.config),
        "history": state.history.to_dict(),
        "optimizer": _flatten(state.optimizer.state_dict(), "optimizer", tensors),
        "generator": _flatten(state.generator.get_state(), "rng/generator", tensors),
        "generator_device": state.generator.device.type,
        "torch_rng": _flatten(torch.get_rng_state(), "rng/torch", tensors),
        "numpy_rng": _flatten(np.random.get_state(), "rng/numpy", tensors),
        "extra": _flatten(state.extra, "extra", tensors),
        "meta": _flatten(meta or {}, "meta", tensors),
    }
    text = json.dumps(body)
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "aekit_version": __version__,
        "epoch": str(state.epoch),
        "state": text,
        "sha256": tensor_digest(tensors, text),
    }
    return save(tensors, metadata=metadata)


def _bad(path: Path, what: str) -> ModelFileError:
    return ModelFileError(
        f"{path}: {what}; the checkpoint is damaged: restore it, or start the run again with "
        f"{option('overwrite', True)}"
    )


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.is_file():
        raise ModelFileError(f"{path}: no checkpoint there; pass a run folder written by `aekit train`")
    try:
        tensors, meta = read_safetensors(path)
    except Exception as exc:  # safetensors raises its own types for truncated or garbled files
        raise _bad(path, f"not a readable safetensors file ({' '.join(str(exc).split())[:120]})") from None
    if meta.get("format") != FORMAT:
        raise _bad(path, "not an aekit checkpoint (no 'format: aekit-checkpoint' in its metadata)")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(
            f"{path}: checkpoint format {meta.get('format_version')!r} is not the {FORMAT_VERSION} "
            f"this aekit {__version__} reads; resume it with the aekit that wrote it"
        )
    if meta.get("sha256") != tensor_digest(tensors, meta.get("state", "")):
        raise _bad(path, "its contents do not match the checksum stored in it (modified or damaged)")
    return tensors, meta


def checkpoint_epoch(path: str | os.PathLike) -> int:
    """The number of complete epochs a checkpoint holds (reads the header only)."""
    path = Path(path)
    try:
        return int(safetensors_metadata(path)["epoch"])
    except Exception:
        raise _bad(path, "cannot read its epoch") from None


def load_checkpoint(path: str | os.PathLike, *, restore_rng: bool = True) -> tuple[TrainState, dict[str, Any]]:
    """The `TrainState` saved in `path` (pass it to ``fit(..., state=...)``) and the `meta` saved with it.

    With `restore_rng`, torch's and numpy's global RNG states are set to the saved ones (needed for a
    bitwise-equal continuation when anything draws from them). Raises ModelFileError for a missing,
    truncated, tampered or inconsistent file.
    """
    path = Path(path)
    tensors, meta = _read(path)
    try:
        body = json.loads(meta["state"])
        model_cfg = from_dict(ModelConfig, body["model_config"])
        train_cfg = from_dict(TrainConfig, body["train_config"])
        history = History.from_dict(body["history"])
        epoch, step, stop = int(body["epoch"]), int(body["step"]), bool(body["stop_training"])
        optim = _unflatten(body["optimizer"], tensors)
        generator_state = _unflatten(body["generator"], tensors)
        torch_rng = _unflatten(body["torch_rng"], tensors)
        numpy_rng = _unflatten(body["numpy_rng"], tensors)
        extra = _unflatten(body["extra"], tensors)
        user_meta = _unflatten(body["meta"], tensors)
    except AekitError as exc:
        raise _bad(path, f"bad config inside ({exc})") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # JSONDecodeError is a ValueError
        raise _bad(path, f"its state record is incomplete or tampered with ({type(exc).__name__}: {exc})") from None
    model = Autoencoder(model_cfg)  # (draws from torch's global RNG: restore that afterwards)
    weights = {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in weights.items()}
    if expected != found:
        diff = sorted(set(expected) ^ set(found)) or sorted(k for k in expected if expected[k] != found[k])
        raise _bad(path, f"its weights do not match its model config (first difference: {diff[0]})")
    model.load_state_dict(weights)
    optimizer = make_optimizer(model, train_cfg)
    try:
        optimizer.load_state_dict(optim)
        generator = _generator(body.get("generator_device", "cpu"), generator_state, train_cfg.seed, epoch)
        if restore_rng:
            rng_check = torch.Generator()
            rng_check.set_state(torch_rng)  # validates before touching the global state
            np.random.RandomState().set_state(numpy_rng)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        raise _bad(
            path,
            f"its optimizer or RNG state is inconsistent ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})",
        ) from None
    for p in model.parameters():
        for name, value in optimizer.state.get(p, {}).items():
            if isinstance(value, torch.Tensor) and value.ndim and value.shape != p.shape:
                raise _bad(path, f"its optimizer state {name!r} has shape {tuple(value.shape)}, not {tuple(p.shape)}")
    if restore_rng:
        torch.set_rng_state(torch_rng)
        np.random.set_state(numpy_rng)
    model.train()
    state = TrainState(
        model, optimizer, train_cfg, generator, history, epoch=epoch, step=step, stop_training=stop, extra=extra
    )
    return state, user_meta


def _generator(kind: str, saved: torch.Tensor, seed: int, epoch: int) -> torch.Generator:
    """The generator a checkpoint saved, on the CPU, or on the GPU it was saved from where there is one; a GPU's
    state without a GPU (it means nothing to the CPU's generator): a CPU generator seeded from (seed, epoch), as
    `TrainState.to` seeds one moved between kinds of device."""
    mps = getattr(torch.backends, "mps", None)
    here = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": mps is not None and mps.is_available()}
    if here.get(kind):
        generator = torch.Generator(kind)
        generator.set_state(saved)
        return generator
    if not isinstance(saved, torch.Tensor) or saved.dtype != torch.uint8 or saved.ndim != 1:
        raise ValueError(f"a {kind} generator's state must be bytes")
    return torch.Generator().manual_seed(seed_of(seed, epoch))


def data_fingerprint(x: Any) -> str:
    """A cheap fingerprint of training rows: shape and the bytes of up to 2048 evenly spaced rows.

    A float32 memmap's rows are read with ``pread`` (nothing mapped); other memmaps' 16 at a time, their pages
    released after each read: reading them at once through the mapping had mapped ~820 MB of a 1.75 GB file into
    RSS (each page fault maps a whole page-cache folio).
    """
    a = x if isinstance(x, (np.ndarray, PixelRows)) else np.asarray(x)  # an image cache: only the rows read below
    digest = hashlib.sha256(repr((a.shape, a.dtype.str)).encode())
    if len(a):
        rows = np.unique(np.linspace(0, len(a) - 1, num=min(len(a), 2048)).astype(np.int64))
        read = _read_runs(a, rows) if isinstance(a, np.memmap) else None
        if read is not None:  # the same bytes in the same order: the same digest
            digest.update(read.tobytes())
            return digest.hexdigest()[:32]
        for start in range(0, len(rows), 16):
            digest.update(np.ascontiguousarray(a[rows[start : start + 16]]).tobytes())
            release_pages(a)
    return digest.hexdigest()[:32]


# --------------------------------------------------------------------------- flushing off the training thread
class BackgroundWrites:
    """Writes files whole at once and flushes them to the disk in a thread of their own, so that training goes on
    during the fsyncs (most of a checkpoint's cost).

    `submit` first waits for the previous batch's flush, then writes each file to a temporary name and renames it
    into place in the caller's thread: from then on a killed process, Ctrl-C or any reader finds the new file
    whole (or, before the rename, the previous one). The fsync of each file and of its folder follows in the
    thread; at most one batch is on its way to the disk at a time. `wait` returns the tag of the last batch
    written and raises, in the caller's thread, the error a flush met. The thread is not a daemon: an interpreter
    that exits first finishes the flush under way.
    """

    def __init__(self, name: str = "aekit-writes") -> None:
        self.name, self.written = name, None
        self._flushing: InThread | None = None

    def submit(self, files: list[tuple[Path, bytes]], tag: Any = None) -> None:
        self.wait()
        for path, data in files:
            atomic_write_bytes(path, data, sync=False)
        self.written = tag
        paths = [path for path, _ in files]

        def flush() -> None:
            for path in paths:
                sync_file(path)

        self._flushing = InThread(flush, self.name, daemon=False)

    def wait(self) -> Any:
        if self._flushing is not None:
            flushing, self._flushing = self._flushing, None
            flushing.join()  # a flush's error is raised here, in the training thread
        return self.written


# --------------------------------------------------------------------------- signals
class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during training; `signum` tells which (the CLI exits with 128 + signum)."""

    def __init__(self, message: str = "", signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = int(signum)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM into `Interrupted` (as Ctrl-C is a KeyboardInterrupt) inside the block; main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupted(signum, frame):
        raise Interrupted("", signum)

    old = signal.signal(signal.SIGTERM, raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
