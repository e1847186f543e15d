"""Denoising (`aekit denoise`): corrupt clean rows the way a denoising run was trained (or as asked), pass
them through the model, and measure PSNR against the clean rows. Already-noisy rows are passed through as
they are (``noisy_input=True``), with no clean reference and so no PSNR.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aekit.config import NOISES
from aekit.devices import device_of
from aekit.errors import ConfigError, DataError, option
from aekit.models import Autoencoder
from aekit.objectives import corrupt, psnr
from aekit.uses.inputs import as_input, batched, load_any_model


def run_noise(config: dict[str, Any]) -> tuple[str, float]:
    """The (noise, noise_level) a run was trained with, from its config.json dict ('none', 0.0 if absent)."""
    train = config.get("train") or {}
    return str(train.get("noise", "none")), float(train.get("noise_level", 0.0))


@dataclass
class Denoised:
    noisy: np.ndarray  # what the model saw
    denoised: np.ndarray  # the model's output
    clean: np.ndarray | None  # the clean rows (None for already-noisy input)
    noise: str  # the corruption applied ('none' for already-noisy input)
    noise_level: float
    psnr_noisy: float | None  # PSNR (dB) of noisy against clean
    psnr_denoised: float | None  # PSNR (dB) of denoised against clean

    def _repr_html_(self) -> str:
        """A notebook's view: the rows, the corruption and the PSNR before and after."""
        from aekit.display import table

        noise = self.noise if self.clean is not None else "already noisy input"
        rows = [("rows", len(self.denoised)), ("noise", noise)]
        if self.clean is not None:
            rows += [
                ("noise level", float(self.noise_level)),
                ("PSNR noisy (dB)", float(self.psnr_noisy)),
                ("PSNR denoised (dB)", float(self.psnr_denoised)),
            ]
        return table(rows, caption="Denoised")


def denoise(
    model: Autoencoder | str | os.PathLike,
    x: Any,
    *,
    noise: str | None = None,
    noise_level: float | None = None,
    noisy_input: bool = False,
    seed: int = 0,
    batch_size: int = 4096,
    device: str | torch.device | None = None,
) -> Denoised:
    """Denoise rows with a (denoising) autoencoder.

    By default `x` is clean: it is corrupted with `noise` / `noise_level` (default: the noise the run was
    trained with, read from its config.json) using a generator seeded with `seed`, then denoised, and both
    noisy and denoised rows are scored against `x` by PSNR. With ``noisy_input=True`` `x` is taken as
    already noisy and only denoised. The noise is drawn on the CPU, so it is the same on any `device` (default None:
    where the model is, the CPU for a file), which runs the model.
    """
    model, config = load_any_model(model, device)
    device = device_of(model)
    xt = as_input(model, x)
    if xt.device.type != "cpu":
        xt = xt.cpu()
    if noisy_input:
        if noise not in (None, "none") or noise_level is not None:
            raise ConfigError(
                f"noisy input is denoised as it is; drop {option('noise')}/{option('noise_level')}, "
                f"or drop {option('noisy')} to corrupt clean input"
            )
        out = batched(model, xt, batch_size, device=device)
        return Denoised(xt.numpy(), out, None, "none", 0.0, None, None)
    trained_noise, trained_level = run_noise(config)
    noise = trained_noise if noise is None else noise
    if noise not in NOISES:
        raise ConfigError(f"unknown noise {noise!r}; choose one of: {', '.join(NOISES)}")
    level = (trained_level if noise == trained_noise else None) if noise_level is None else float(noise_level)
    if noise == "none" or not level:
        where = "the run was not trained with noise" if trained_noise == "none" else f"no noise level for {noise!r}"
        raise ConfigError(
            f"nothing to denoise: {where}; pass {option('noise', 'gaussian')} {option('noise_level', 0.5)} "
            f"(for example), or {option('noisy', True)} if the input is already noisy"
        )
    if not math.isfinite(level) or level < 0 or (noise != "gaussian" and level > 1):
        raise ConfigError(f"noise_level must be ≥ 0 (and ≤ 1 for {noise!r}), got {level}")
    if float(xt.min()) < 0 or float(xt.max()) > 1:
        raise DataError("the clean input has values outside [0, 1], which the corruptions assume; scale it to [0, 1]")
    noisy = corrupt(xt, noise, level, torch.Generator().manual_seed(seed))
    out = batched(model, noisy, batch_size, device=device)
    clean = xt.numpy()
    return Denoised(
        noisy.numpy(),
        out,
        clean,
        noise,
        level,
        psnr(clean, noisy.numpy(), per_image=False),
        psnr(clean, out, per_image=False),
    )


def denoise_figure(result: Denoised, *, image_shape: tuple[int, int], n: int = 10):
    """Rows noisy / denoised / clean (noisy / denoised for already-noisy input)."""
    from aekit.reporting.plots import reconstruction_grid

    if result.clean is None:
        fig = reconstruction_grid(result.noisy, result.denoised, image_shape=image_shape, n=n)
        labels = ("noisy", "denoised")
    else:
        fig = reconstruction_grid(result.clean, result.denoised, noisy=result.noisy, image_shape=image_shape, n=n)
        labels = ("noisy", "denoised", "clean")
    cols = len(fig.axes) // len(labels)
    for row, label in enumerate(labels):
        fig.axes[row * cols].set_ylabel(label)
    fig.subplots_adjust(left=0.05)
    return fig


__all__ = ["psnr", "denoise", "Denoised", "denoise_figure", "run_noise"]
