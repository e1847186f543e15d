"""A run: data in, a trained model and its run folder out. `train` is what `aekit train` calls.

A run folder holds config.json, model.safetensors, history.json / history.csv, metrics.json,
tb/ (TensorBoard event files), reconstructions.png, loss.png, report.html and checkpoint/ (see
aekit.training.checkpoint); `resume` continues a run from its checkpoint. The checks before a run are in
`aekit.training.preparation`, the fit and the files after it in `aekit.training.finishing`.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Collection, Sequence

import numpy as np
import torch

from aekit import __version__
from aekit.config import ModelConfig, TrainConfig, from_dict, replace, to_dict
from aekit.data.rows import check_features
from aekit.data.sources import load_run_data, recorded_run_data
from aekit.devices import describe, resolve_device
from aekit.errors import ConfigError, DataError, ModelFileError, option
from aekit.io import CONFIG, WEIGHTS, read_json, write_json
from aekit.models import Autoencoder
from aekit.runfolder import clear_run_folder, lock_run_folder
from aekit.training import distributed
from aekit.training.callbacks.base import Callback
from aekit.training.finishing import RunResult, _fit_and_write
from aekit.training.labels import with_classes
from aekit.training.memory import check_memory, memory_errors
from aekit.training.optim import check_compile
from aekit.training.preparation import (
    check_inputs_outside,
    check_out_outside,
    checked_rows,
    default_out,
    follow_data,
    prepare_out,
    seed_globals,
    table_stats,
)


def train(
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    *,
    dataset: str = "mnist",
    data: str | None = None,
    val_data: str | None = None,
    data_dir: str | None = None,
    limit: int | None = None,
    val_split: float = 0.1,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    tensorboard: bool = True,
    verbose: int = 1,
    callbacks: Sequence[Callback] = (),
    kind: str | None = None,
    image_size=None,
    resize: str = "crop",
    color: str | None = None,
    skip_bad_images: bool = False,
    scale: str = "auto",
    explicit: Collection[str] | None = None,
    device: str | torch.device | None = None,
) -> RunResult:
    """Train an autoencoder and write its run folder; the library side of `aekit train`.

       Defaults are the Keras tutorial: MNIST, 784 → 32 → 784, adadelta, BCE, 100 epochs, batch 256.
       `kind` is recorded in config.json; a config left out comes from the kind's presets
       (``aekit.configure(kind, ...)`` gives both, to change before passing them).

       `scale` ('auto', 'standard', 'minmax' or 'none'; a `model_config.scale` other than 'none' wins) scales the
       rows inside the model (`aekit.scaling`): 'auto' leaves rows in [0, 1] as they are and standardises other tables.
       The loss and the output activation then follow the rows the network sees: outside [0, 1], 'bce' becomes 'mse'
       and 'sigmoid' 'linear', except for the fields named in `explicit` (the options the caller chose; by default
       those that differ from the dataclass defaults). A chosen 'bce' on rows outside [0, 1] is refused.
       `data` may be a folder of images or a .txt list of them (`aekit.load_images`): `image_size` (64 or "64x48"),
       `resize` ("crop" or "stretch"), `color` ("gray", "rgb"; default what the files are) and `skip_bad_images`.
    `device` ('auto', 'cpu', 'cuda',
       'cuda:N', 'mps'; default None: the CPU) is where it trains; config.json records it.
    """
    distributed.init()  # under torchrun: join the process group; only rank 0 writes the run folder
    device = torch.device("cpu") if device is None else resolve_device(device)  # refused before anything is read
    seed = train_config.seed if train_config is not None else TrainConfig().seed
    images = {"image_size": image_size, "resize": resize, "color": color, "skip_bad_images": bool(skip_bad_images)}
    rd = load_run_data(
        dataset, data, val_data=val_data, data_dir=data_dir, limit=limit, val_split=val_split, seed=seed, **images
    )
    features = int(np.prod(rd.x_train.shape[1:]))
    if kind is not None and (model_config is None or train_config is None):  # the kind's presets fill what is missing
        from aekit.kinds import configure

        kind_model, kind_train = configure(kind, input_dim=features, image_shape=rd.image_shape)
        model_config, train_config = model_config or kind_model, train_config or kind_train
    train_config = train_config or TrainConfig()
    distributed.per_rank_batch(train_config.batch_size)  # refuse a batch that does not split, before any file
    check_compile(train_config, distributed.world_size())
    if model_config is None:
        model_config = ModelConfig(input_dim=features, image_shape=rd.image_shape)
    elif model_config.input_dim != features:
        if model_config.input_dim == ModelConfig().input_dim:  # the default: adapt to the data
            model_config = replace(model_config, input_dim=features, image_shape=rd.image_shape)
        else:
            raise DataError(
                f"the data has {features} features but input_dim is {model_config.input_dim}; "
                "drop --input-dim or fix the data"
            )
    if model_config.image_shape is None and rd.image_shape is not None:
        model_config = replace(model_config, image_shape=rd.image_shape)
    model_config = with_classes(model_config, rd)  # a cvae: the data's classes
    is_table = data is not None and not rd.images  # image files are read as [0, 1] pixels
    stats = table_stats(rd, scale if model_config.scale == "none" else model_config.scale, is_table)
    model_config, train_config = follow_data(model_config, train_config, scale, stats, explicit)
    train_config = train_config.for_rows(len(rd.x_train))  # a recipe's least number of steps (min_steps): small data
    check_memory(model_config, min(train_config.batch_size, len(rd.x_train)))  # a batch is at most the rows
    seed_globals(train_config.seed)
    with memory_errors(model_config, train_config.batch_size):  # beyond check_memory's estimate
        model = Autoencoder(model_config)
    x_train, x_val = checked_rows(rd, train_config, model, stats)  # every check before the run folder exists
    path = out if out is not None else default_out(rd.name)
    check_out_outside(path, data)
    check_inputs_outside(path, [data, val_data, data_dir])
    path = distributed.on_main(prepare_out, path, overwrite)
    main = distributed.is_main()
    lock = lock_run_folder(path, create=True) if main else None  # one training at a time in a run folder
    with lock or contextlib.nullcontext():
        if main:
            prepare_out(path, overwrite)  # again, with the lock held: another run may have written there meanwhile
            clear_run_folder(path)
            write_json(
                path / CONFIG,
                {
                    "aekit_version": __version__,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "model": to_dict(model_config),
                    "train": to_dict(train_config),
                    "kind": None if kind is None else str(kind),
                    "data": {
                        "dataset": dataset if data is None else None,
                        "data": _absolute(data),
                        "val_data": _absolute(val_data),
                        "data_dir": _absolute(data_dir),
                        "limit": limit,
                        "val_split": val_split,
                        "scale": scale,
                        "name": rd.name,
                        "n_train": int(len(rd.x_train)),
                        "n_val": int(len(rd.x_val)) if rd.x_val is not None else 0,
                        **_columns(data),
                        **({**images, "image_size": _size(image_size), "images": rd.images} if rd.images else {}),
                    },
                    "distributed": {"world_size": distributed.world_size(), "backend": distributed.backend()},
                    **describe(device),
                },
            )
        return _fit_and_write(
            path, model, rd, x_train, x_val, train_config, None, tensorboard, verbose, callbacks, device
        )


def resume(
    run: str | os.PathLike,
    *,
    epochs: int | None = None,
    tensorboard: bool | None = None,
    verbose: int = 1,
    callbacks: Sequence[Callback] = (),
    device: str | torch.device | None = None,
) -> RunResult:
    """Continue a run folder from its last checkpoint (or from the start if it has none); `aekit train --resume`.

    The configs and data options come from the run's config.json; `epochs` may raise (never lower below the
    epochs done) the number of epochs, and is then written to config.json. The result is bitwise the same
    as an uninterrupted run with the same seed on the same machine (same torch, same thread count, same device).
    `device` (default None: the CPU) may differ from the one the run began on: the checkpoint loads on any device,
    and config.json then records the new one. Its shuffling then goes on from a generator seeded from (seed,
    epoch), not from the saved state (a GPU's generator state means nothing to the CPU's; `TrainState.to`).
    """
    path = Path(run)
    distributed.init()  # under torchrun: every rank reads the run folder (a shared file system across machines)
    device = torch.device("cpu") if device is None else resolve_device(device)
    if not path.is_dir():
        raise ModelFileError(f"{path}: no such run folder; pass the --out folder of an earlier `aekit train`")
    if not (path / CONFIG).is_file():
        raise ModelFileError(
            f"{path}: has no config.json, so it is not an aekit run folder (or its training never began); "
            "pass the --out folder of an earlier `aekit train`, or start the run again"
        )
    lock = lock_run_folder(path) if distributed.is_main() else None  # not while another process trains into it
    with lock or contextlib.nullcontext():
        return _resume_locked(path, epochs, tensorboard, verbose, callbacks, device)


def _resume_locked(
    path: Path,
    epochs: int | None,
    tensorboard: bool | None,
    verbose: int,
    callbacks: Sequence[Callback],
    device: torch.device,
) -> RunResult:
    from aekit.training.checkpoint import CHECKPOINT_DIR, LAST, data_fingerprint, load_checkpoint

    config = read_json(path / CONFIG)
    try:
        model_config = from_dict(ModelConfig, config["model"])
        train_config = from_dict(TrainConfig, config["train"])
        d = dict(config["data"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise ModelFileError(
            f"{path / CONFIG}: not a complete aekit run config ({exc}); restore it or start a new run"
        ) from None
    if epochs is not None:
        train_config = replace(train_config, epochs=epochs)
    distributed.per_rank_batch(train_config.batch_size)  # refuse a batch that does not split over the processes
    check_compile(train_config, distributed.world_size())
    rd = recorded_run_data(d, train_config.seed)
    state, ckpt = None, path / CHECKPOINT_DIR / LAST
    if ckpt.is_file():
        state, meta = load_checkpoint(ckpt)
        for name, ours, theirs in (
            ("model", to_dict(model_config), to_dict(state.model.config)),
            ("train", to_dict(replace(train_config, epochs=state.config.epochs)), to_dict(state.config)),
        ):
            diff = [k for k in ours if ours[k] != theirs.get(k)]
            if diff:
                k = diff[0]
                raise ModelFileError(
                    f"{path / CONFIG}: its {name} config does not match the checkpoint's ({k}: {ours[k]!r} "
                    f"in config.json, {theirs.get(k)!r} in the checkpoint); restore config.json or start a new run"
                )
        if train_config.epochs != state.config.epochs and train_config.schedule != "constant":
            raise ConfigError(
                f"the {train_config.schedule!r} learning-rate schedule of {path} "
                f"spans its {state.config.epochs} epochs; "
                "resume without --epochs, or start a new run for more epochs"
            )
        if train_config.epochs < state.epoch:
            raise ConfigError(
                f"epochs {train_config.epochs} is fewer than the {state.epoch} epochs already done; "
                f"pass at least {state.epoch}"
            )
        state.config = train_config
        model = state.model
    elif (path / WEIGHTS).is_file():  # a finished run whose checkpoint is gone: a restart would replace its model
        raise ModelFileError(
            f"{ckpt}: not there, but {path} holds a trained {WEIGHTS}, which resuming from the start would replace; "
            f"restore {CHECKPOINT_DIR}/, or train a new run with another {option('out')}"
        )
    else:
        seed_globals(train_config.seed)  # as `train` did
        model = Autoencoder(model_config)
    x_train, x_val = checked_rows(rd, train_config, model)  # as `train`: a memmap stays on disk
    check_features(model, x_train, "the training data")
    if state is not None and meta.get("data_fingerprint") not in (None, data_fingerprint(rd.x_train)):
        raise DataError(
            f"the training data of {path} have changed since the checkpoint (same shape, other values); "
            "resume with the data the run started with, or start a new run"
        )
    recorded = {k: config[k] for k in ("device", "device_name") if k in config}
    if (train_config.epochs != config["train"]["epochs"] or recorded != describe(device)) and distributed.is_main():
        config = {k: v for k, v in config.items() if k not in recorded}
        write_json(path / CONFIG, {**config, "train": to_dict(train_config), **describe(device)})
    if tensorboard is None:
        tensorboard = (path / "tb").is_dir()
    return _fit_and_write(path, model, rd, x_train, x_val, train_config, state, tensorboard, verbose, callbacks, device)


def _size(image_size) -> list[int] | None:
    from aekit.data.image_files import parse_image_size

    size = parse_image_size(image_size)
    return None if size is None else list(size)


def _columns(data) -> dict:
    """{"columns": the names} of a table file with a header (checked against the tables a use reads), else {}."""
    from aekit.data.arrays import column_names

    names = None if data is None or os.path.isdir(data) else column_names(data)
    return {"columns": names} if names else {}


def _absolute(path: str | os.PathLike | None) -> str | None:
    """A data path as an absolute one, so that `resume` finds the data from any working directory."""
    return None if path is None else str(Path(path).resolve())
