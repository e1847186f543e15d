"""A run: data in, a trained model and its run folder out. `train` is what `aekit train` calls.

A run folder holds config.json, model.safetensors, history.json / history.csv, metrics.json,
tb/ (TensorBoard event files), reconstructions.png, loss.png, report.html and checkpoint/ (see
aekit.checkpoint); `resume` continues a run from its checkpoint.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import io as _io
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Collection, Sequence

import numpy as np
import torch

from aekit import __version__
from aekit.config import ModelConfig, TrainConfig, from_dict, replace, to_dict
from aekit.data.rows import as_rows, check_features, check_ranges, column_stats, fit_scaler
from aekit.data.sources import RunData, load_run_data, recorded_run_data
from aekit.devices import describe, device_of, resolve_device
from aekit.errors import ConfigError, DataError, ModelFileError, TrainingError, option
from aekit.history import shown_keys
from aekit.io import CONFIG, atomic_write_text, read_json, save_model, write_json
from aekit.models import Autoencoder
from aekit.runfolder import LOCK, clear_run_folder, lock_run_folder
from aekit.scaling import ColumnStats, resolve_scale
from aekit.training import distributed
from aekit.training.callbacks.base import Callback, History
from aekit.training.callbacks.events import TensorBoard
from aekit.training.labels import (
    conditional_jacobian,
    evaluation_labels,
    fit_labels,
    holding_evaluation_labels,
    with_classes,
)
from aekit.training.loop import fit
from aekit.training.memory import check_memory, memory_errors
from aekit.training.optim import check_compile


@dataclass
class RunResult:
    path: Path
    model: Autoencoder
    history: History
    metrics: dict[str, float]

    def _repr_html_(self) -> str:
        """A notebook's view of the run: its folder, final figures, loss curves and reconstructions."""
        from aekit.display import run_html

        hidden = {"recon", "val_recon"} - set(shown_keys(self.history.history))  # the loss itself, once
        return run_html(self.path, {k: v for k, v in self.metrics.items() if k not in hidden})


def prepare_out(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check that `out` can become a run folder (refusing to clobber one), without creating it yet."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"{out}: exists and is a file; choose another {option('out')} folder")
        if any(p.name != LOCK for p in out.iterdir()):  # a lock file alone is no run
            if not overwrite:
                raise ConfigError(
                    f"{out}: run folder already exists; pass {option('overwrite', True)} to replace it, "
                    f"{option('resume')} to continue it, or choose another {option('out')} folder"
                )
            if not (out / CONFIG).is_file():
                raise ConfigError(
                    f"{out}: exists and is not an aekit run folder (no config.json); refusing to delete "
                    f"it, choose another {option('out')}"
                )
    parent = out.parent if not out.exists() else out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{out}: cannot create it, {parent} is a file; choose another {option('out')} folder")
    if not os.access(parent, os.W_OK):
        raise ConfigError(
            f"{out}: cannot write there (no permission on {parent}); choose another {option('out')} folder"
        )
    return out


def default_out(name: str) -> Path:
    return Path("runs") / f"{name or 'run'}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def write_history(path: Path, history: History) -> None:
    write_json(path / "history.json", history.to_dict())
    keys = list(history.history)
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["epoch", *keys])
    for i, epoch in enumerate(history.epoch):
        w.writerow([epoch, *(repr(history.history[k][i]) if i < len(history.history[k]) else "" for k in keys)])
    atomic_write_text(path / "history.csv", buf.getvalue())


@torch.no_grad()
def run_metrics(
    model: Autoencoder, x: np.ndarray, history: History, train_time: float, config: TrainConfig | None = None
) -> dict[str, float | str]:
    """Final figures of a run: its last losses, mean code activation, the mean Jacobian Frobenius norm of the
    encoder, timing, and for a denoising `config` the PSNR (dB) of the noisy and of the denoised rows against the
    clean ones (noise drawn as `evaluate` draws it, seeded by seed + 1).

    The Jacobian norm is exact on the first 1,000 rows for a dense encoder (the closed form for one layer); for a
    conv encoder, where the exact form took ~24 s (a backward pass per code unit and row), it is Hutchinson's
    estimate with 8 random projections per row on the first 256 rows (within 0.1% of the exact value on a trained
    conv model, ~14× faster on 256 rows). ``jacobian_norm_method`` in the figures says which."""
    from aekit.objectives import corrupt, psnr

    model.eval()
    features = int(np.prod(x.shape[1:]))
    big = features > 784  # larger images: fewer rows (memory), the model applied in blocks, a cheaper Jacobian
    device = device_of(model)
    xs = as_rows(np.asarray(x[: min(10000, max(1, (64 << 20) // (4 * features))) if big else 10000]), "x").to(device)

    def apply(fn, t):
        return torch.cat([fn(t[i : i + 256]) for i in range(0, len(t), 256)]) if big else fn(t)

    model.labels.first(len(xs))  # a cvae: the labels of these rows (held as a stream by `train`)
    codes = apply(model.encode, xs)
    n_jac = max(8, 100_352_000 // (features * model.config.encoding_dim)) if big else 1000  # MNIST's conv: 1000
    metrics = {k: v[-1] for k, v in history.history.items() if k != "epoch_time"}
    metrics.update(
        epochs=len(history.epoch),
        mean_code_activation=float(codes.mean()),
        **_jacobian_figures(model, xs[:n_jac], 0 if config is None else config.seed, 32 if big else 256),
        train_seconds=train_time,
        seconds_per_epoch=float(np.mean(history.history["epoch_time"])) if history.epoch else 0.0,
    )
    from aekit.latents import code_summary, warn_collapse

    code = code_summary(model, xs)  # a VAE's KL per unit and active units; a VQ-VAE's codebook usage
    metrics.update({k: v for k, v in code.items() if isinstance(v, (int, float))})
    warn_collapse(code, stacklevel=4)
    if config is not None and config.noise != "none":
        noisy = corrupt(xs, config.noise, config.noise_level, torch.Generator(device).manual_seed(config.seed + 1))
        metrics.update(psnr_noisy=psnr(xs, noisy), psnr_denoised=psnr(xs, apply(model, noisy)))
    return metrics


def _jacobian_figures(model: Autoencoder, xs: torch.Tensor, seed: int, batch: int) -> dict[str, float | str]:
    """The encoder's mean Jacobian norm on `xs` (dense: exact) or its first 256 rows (conv: Hutchinson), and how."""
    from aekit.objectives import closed_form_layer, jacobian_norm

    if model.conditional:  # a cvae: each row with its label
        return conditional_jacobian(model, xs[:256], seed)
    if model.config.architecture == "dense":  # exact, and cheap: the closed form, or a vectorised Jacobian
        how = "exact (closed form)" if closed_form_layer(model.encoder) is not None else "exact"
        return {
            "jacobian_norm": jacobian_norm(model, xs, batch),
            "jacobian_norm_method": f"{how}, {len(xs)} rows",
            "jacobian_rows": len(xs),
        }
    rows = len(xs[:256])
    return {
        "jacobian_norm": jacobian_norm(model, xs[:rows], batch, method="hutchinson", projections=8, seed=seed),
        "jacobian_norm_method": f"Hutchinson estimate, 8 random ±1 projections per row, {rows} rows",
        "jacobian_rows": rows,
    }


def write_figures(path: Path, model: Autoencoder, x: np.ndarray, history: History, image_shape) -> None:
    from aekit.reporting.plots import loss_curves, reconstruction_grid, save_figure

    save_figure(loss_curves(history.history, title="loss"), path / "loss.png")
    if image_shape is not None:
        with torch.no_grad():
            xs = torch.as_tensor(np.array(x[:10], dtype=np.float32))  # a copy: a memmap's view is read-only
            recon = model(xs.to(device_of(model))).cpu().numpy()
        save_figure(
            reconstruction_grid(xs.numpy(), recon, image_shape=tuple(image_shape), n=10), path / "reconstructions.png"
        )


def seed_globals(seed: int) -> None:
    """Seed torch's and numpy's global RNGs: a run is then reproducible even where code draws from them."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


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
    check_memory(model_config, train_config.batch_size)
    seed_globals(train_config.seed)
    with memory_errors(model_config, train_config.batch_size):  # beyond check_memory's estimate
        model = Autoencoder(model_config)
    x_train, x_val = checked_rows(rd, train_config, model, stats)  # every check before the run folder exists
    path = distributed.on_main(prepare_out, out if out is not None else default_out(rd.name), overwrite)
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
                        **({**images, "image_size": _size(image_size), "images": rd.images} if rd.images else {}),
                    },
                    "distributed": {"world_size": distributed.world_size(), "backend": distributed.backend()},
                    **describe(device),
                },
            )
        return _fit_and_write(
            path, model, rd, x_train, x_val, train_config, None, tensorboard, verbose, callbacks, device
        )


def table_stats(rd: RunData, scale: str, is_table: bool) -> ColumnStats | None:
    """Per-column statistics of the training rows where the scale needs them: a user's table (for 'auto', whose
    decision they make; a memory-mapped file that `load_array` found within [0, 1] is not read again), or any rows
    for 'standard' and 'minmax'. None for a named image set under 'auto' or 'none': its rows lie in [0, 1]."""
    from aekit.data.scans import known_range
    from aekit.scaling import SCALES

    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; choose one of: {', '.join(SCALES)}")
    if not is_table and scale in ("auto", "none"):
        return None
    x = as_rows(rd.x_train, "training data", keep_memmap=True, check=False)
    known = known_range(x) if isinstance(x, np.memmap) else None
    if known is not None and 0 <= known[0] and known[1] <= 1 and scale in ("auto", "none"):
        return None
    return column_stats(x)


def follow_data(
    model_config: ModelConfig,
    train_config: TrainConfig,
    scale: str,
    stats: ColumnStats | None,
    explicit: Collection[str] | None,
) -> tuple[ModelConfig, TrainConfig]:
    """The configs with the scale decided and, where the network's rows leave [0, 1], the loss and the output
    activation that fit them ('mse', 'linear'), unless `explicit` names them (see `train`)."""
    if explicit is None:
        pairs = (
            ("loss", train_config.loss, TrainConfig.loss),
            ("output_activation", model_config.output_activation, ModelConfig.output_activation),
        )
        explicit = {name for name, ours, default in pairs if ours != default}
    wanted = model_config.scale if model_config.scale != "none" else scale
    resolved = resolve_scale(wanted, stats, loss_given_bce="loss" in explicit and train_config.loss == "bce")
    in_unit = resolved == "minmax" or (resolved == "none" and (stats is None or stats.in_unit_range))
    if not in_unit:
        if "loss" not in explicit:
            train_config = replace(train_config, loss="mse")
        if "output_activation" not in explicit:
            model_config = replace(model_config, output_activation="linear")
    return replace(model_config, scale=resolved), train_config


def checked_rows(
    rd: RunData, train_config: TrainConfig, model: Autoencoder | None = None, stats: ColumnStats | None = None
):
    """The training and validation rows (a memmap stays one), scanned once each for NaN/inf and, where the loss or
    the noise needs it, for values outside [0, 1] (as the network sees them: the input scaler of `model`, fitted
    here from the training rows or their `stats` when not yet fitted), with as many columns each; `fit` is then
    told not to scan them again. Every check here comes before the run folder is made."""
    x_train = as_rows(rd.x_train, "training data", keep_memmap=True)
    x_val = None if rd.x_val is None else as_rows(rd.x_val, "validation data", keep_memmap=True)
    if x_val is not None and x_val.shape[1] != x_train.shape[1]:
        v, t = x_val.shape[1], x_train.shape[1]
        raise DataError(
            f"the validation data has {v} feature{'s' * (v != 1)} but the training data has {t}; "
            "pass validation rows with the same columns"
        )
    if model is not None and not model.scaler_fitted:
        fit_scaler(model, x_train, x_val, stats)
    check_ranges(train_config, x_train, "the training data", model=model)
    if x_val is not None:
        check_ranges(train_config, x_val, "the validation data", model=model)
    return x_train, x_val


def _size(image_size) -> list[int] | None:
    from aekit.data.image_files import parse_image_size

    size = parse_image_size(image_size)
    return None if size is None else list(size)


def _absolute(path: str | os.PathLike | None) -> str | None:
    """A data path as an absolute one, so that `resume` finds the data from any working directory."""
    return None if path is None else str(Path(path).resolve())


def _fit_and_write(
    path: Path,
    model: Autoencoder,
    rd: RunData,
    x_train,
    x_val,
    train_config: TrainConfig,
    state,
    tensorboard: bool,
    verbose: int,
    callbacks: Sequence[Callback],
    device: torch.device,
) -> RunResult:
    """Fit with checkpoints (+ TensorBoard), then write the run's files; the shared tail of `train` and `resume`."""
    from aekit.training.callbacks.stopping import Checkpoint
    from aekit.training.checkpoint import (
        CHECKPOINT_DIR,
        LAST,
        Interrupted,
        data_fingerprint,
    )

    main = distributed.is_main()  # under torchrun only rank 0 checkpoints and writes
    checkpoint = (
        Checkpoint(path / CHECKPOINT_DIR, meta={"data_fingerprint": data_fingerprint(rd.x_train)}) if main else None
    )
    cbs = [*callbacks, checkpoint] if main else list(callbacks)
    if tensorboard and main:
        images = rd.x_val if rd.x_val is not None else rd.x_train
        labels = rd.y_val if rd.x_val is not None else rd.y_train
        class_labels = evaluation_labels(model, rd)  # a cvae's class indices of the same rows
        features = int(np.prod(images.shape[1:]))
        n_emb = 2000 if features <= 784 else max(100, (32 << 20) // (4 * features))  # larger images: fewer of them
        if labels is not None and rd.images and rd.images.get("classes"):
            labels = np.asarray(rd.images["classes"])[labels]  # the projector shows class folder names
        cbs.append(
            TensorBoard(
                str(path / "tb"),
                images=np.asarray(images[:10]),
                image_shape=rd.image_shape,
                embedding=np.asarray(images[:n_emb]),
                embedding_labels=None if labels is None else labels[:n_emb],
                class_labels=None if class_labels is None else class_labels[:n_emb],
            )
        )
    if main:
        cbs.append(_ImportWhileTraining("aekit.reporting.plots"))  # the end of the run draws with matplotlib
    t0 = time.perf_counter()
    done = state.epoch if state is not None else 0
    try:
        with memory_errors(model.config, train_config.batch_size):
            history = fit(
                model,
                x_train,
                None,
                train_config,
                validation_data=x_val,
                callbacks=cbs,
                verbose=verbose if main else 0,
                state=state,
                check_input=False,
                device=device,
                **fit_labels(model, rd),
            )  # checked by `checked_rows`
    except (TrainingError, DataError, KeyboardInterrupt) as exc:  # DataError: the file changed during training
        if checkpoint is not None:
            with contextlib.suppress(OSError):  # the last epoch's files reach the disk before we say what is kept
                checkpoint.wait()
        kept = checkpoint.saved_epoch if checkpoint is not None and checkpoint.saved_epoch is not None else done
        where = (
            f"the last complete epoch ({kept}) is kept in {path / CHECKPOINT_DIR / LAST}"
            if kept
            else f"no epoch was complete, nothing was kept in {path}"
        )
        if isinstance(exc, (TrainingError, DataError)):
            raise type(exc)(f"{exc.args[0] if exc.args else exc}; {where}") from None
        if kept:
            where += f"; continue with `aekit train --resume {path}`"
        raise Interrupted(where, getattr(exc, "signum", 2)) from None
    train_time = time.perf_counter() - t0
    eval_x = rd.x_val if rd.x_val is not None else rd.x_train
    with holding_evaluation_labels(model, rd):  # a cvae: the labels of eval_x
        metrics = run_metrics(model, eval_x, history, train_time, train_config)
    if rd.images is not None:
        metrics["skipped_images"] = rd.images["skipped"] + rd.images.get("val_skipped", 0)
    if main:
        save_model(model, path)
        write_history(path, history)
        write_json(path / "metrics.json", metrics)
        with holding_evaluation_labels(model, rd):
            write_figures(path, model, eval_x, history, rd.image_shape)
        from aekit.reporting.run_report import report

        report(path, x=eval_x, device=device, labels=evaluation_labels(model, rd))
        for cb in callbacks:
            cb.on_run_end(path, metrics)
    distributed.barrier()  # on every rank, train() returns once the run folder is complete
    return RunResult(path, model, history, metrics)


class _ImportWhileTraining(Callback):
    """Imports a module in a thread once the first epoch is done, so that the end of the run finds it imported."""

    def __init__(self, module: str) -> None:
        self.module, self.started = module, False

    def on_epoch_end(self, state, logs) -> None:
        if not self.started:
            self.started = True
            threading.Thread(target=importlib.import_module, args=(self.module,), name="aekit-imports").start()


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
