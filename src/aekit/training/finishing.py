"""The end of a run, shared by `train` and `resume`: fit with checkpoints (+ TensorBoard), then the run's files
(model, history.json / history.csv, metrics.json, loss.png, reconstructions.png, report.html) and `RunResult`."""

from __future__ import annotations

import contextlib
import csv
import importlib
import io as _io
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from aekit.config import TrainConfig
from aekit.data.rows import as_rows
from aekit.data.sources import RunData
from aekit.devices import device_of
from aekit.errors import DataError, TrainingError
from aekit.history import shown_keys
from aekit.io import WEIGHTS, atomic_write_text, save_model, write_json
from aekit.models import Autoencoder
from aekit.training import distributed
from aekit.training.callbacks.base import Callback, History
from aekit.training.callbacks.events import TensorBoard
from aekit.training.labels import conditional_jacobian, evaluation_labels, fit_labels, holding_evaluation_labels
from aekit.training.loop import fit
from aekit.training.memory import memory_errors


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
    from aekit.jacobians import closed_form_layer, jacobian_norm

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
    from aekit.reporting.curves import loss_curves
    from aekit.reporting.plots import reconstruction_grid
    from aekit.reporting.rendering import save_figure

    save_figure(loss_curves(history.history, title="loss"), path / "loss.png")
    if image_shape is not None:
        with torch.no_grad():
            xs = torch.as_tensor(np.array(x[:10], dtype=np.float32))  # a copy: a memmap's view is read-only
            recon = model(xs.to(device_of(model))).cpu().numpy()
        save_figure(
            reconstruction_grid(xs.numpy(), recon, image_shape=tuple(image_shape), n=10), path / "reconstructions.png"
        )


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
        try:
            save_model(model, path)
            write_history(path, history)
            write_json(path / "metrics.json", metrics)
            with holding_evaluation_labels(model, rd):
                write_figures(path, model, eval_x, history, rd.image_shape)
            from aekit.reporting.run_report import report

            report(path, x=eval_x, device=device, labels=evaluation_labels(model, rd))
        except DataError as exc:  # a write refused after training (a full disk): say what the run kept
            saved = path / WEIGHTS
            kept = saved if saved.is_file() else path / CHECKPOINT_DIR / LAST
            raise DataError(f"{exc.args[0] if exc.args else exc}; the trained model is kept in {kept}") from None
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
