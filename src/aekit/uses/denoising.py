"""Denoising (`aekit denoise`): corrupt clean rows the way a denoising run was trained (or as asked), pass
them through the model, and measure PSNR against the clean rows. Already-noisy rows are passed through as
they are (``noisy_input=True``), with no clean reference and so no PSNR.

A full-resolution model (``ModelConfig(full_resolution=True)``, the kind ``denoising-photo``) also takes images of
any size, whole (`aekit.full_resolution.apply_whole`): rows whose length is another square image of its channels,
a batch (n, C, H, W), or a list of (C, H, W) images of different sizes; the result has the input's form.
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
    where the model is, the CPU for a file), which runs the model. A full-resolution model (kind denoising-photo)
    also takes images of other sizes whole: rows of another square size, a batch (n, C, H, W), or a list of
    (C, H, W) images of any sizes; the noisy, denoised and clean images then come back in that form. Any model's
    batch of images, (n, C, H, W) or (n, H, W), comes back as such a batch; rows as rows.
    """
    model, config = load_any_model(model, device)
    device = device_of(model)
    _check_channels(model, x)
    whole = _whole_images(model, x)
    if whole is not None:
        return _denoise_whole(model, config, *whole, noise, noise_level, noisy_input, seed, device)
    shape = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
    laid = (lambda a: a.reshape(shape)) if len(shape) > 2 else (lambda a: a)  # a batch (n, C, H, W) stays one
    xt = as_input(model, x)
    if xt.device.type != "cpu":
        xt = xt.cpu()
    if noisy_input:
        _check_noisy(noise, noise_level)
        out = _in_unit_range(model, batched(model, xt, batch_size, device=device))
        return Denoised(laid(xt.numpy()), laid(out), None, "none", 0.0, None, None)
    noise, level = _noise_of(config, noise, noise_level)
    # corrupted as in training: in the units the network sees (a model with an input scaler: the scaled rows)
    net = _scaled(model, xt, device)
    _check_unit_range(model, net, noise)
    noisy_net = corrupt(net, noise, level, torch.Generator().manual_seed(seed))
    noisy = _unscaled(model, noisy_net, device)
    out = _in_unit_range(model, batched(model, noisy, batch_size, device=device))
    out_net = _scaled(model, torch.as_tensor(out), device).numpy()
    return Denoised(
        laid(noisy.numpy()),
        laid(out),
        laid(xt.numpy()),
        noise,
        level,
        psnr(net.numpy(), noisy_net.numpy(), per_image=False),  # PSNR in the network's units ([0, 1])
        psnr(net.numpy(), out_net, per_image=False),
    )


def _in_unit_range(model: Autoencoder, out: np.ndarray) -> np.ndarray:
    """A full-resolution model's output (the noisy input minus a noise estimate: a few values just outside [0, 1])
    clipped to [0, 1], the range of the images it denoises; other models' output as it is (a pooled conv recipe's is
    clipped by the model, a model with an input scaler's is in the user's units)."""
    if model.config.full_resolution and not model.scaled:
        np.clip(out, 0, 1, out=out)
    return out


@torch.no_grad()
def _scaled(model: Autoencoder, x: torch.Tensor, device) -> torch.Tensor:
    """Rows in the user's units → the rows the network sees, on the CPU (`x` itself without an input scaler)."""
    return model.scale_rows(x.to(device)).cpu() if model.scaled else x


@torch.no_grad()
def _unscaled(model: Autoencoder, x: torch.Tensor, device) -> torch.Tensor:
    return model.unscale_rows(x.to(device)).cpu() if model.scaled else x


def _check_unit_range(model: Autoencoder, net: torch.Tensor, noise: str) -> None:
    """Refuse clean rows outside [0, 1] in the network's units for the noises that clip to [0, 1] or set 0 or 1."""
    lo, hi = float(net.min()), float(net.max())
    if noise == "masking" or (lo >= 0 and hi <= 1):
        return
    if model.scaled:
        what = f"the clean input, {model.config.scale}-scaled by the model,"
        fix = (
            "pass rows within the training data's range"
            if model.config.scale == "minmax"
            else f"train the run with {option('scale', 'minmax')}"
        )
    else:
        what, fix = "the clean input", "scale it to [0, 1]"
    raise DataError(
        f"{what} has values outside [0, 1] (min {lo:.4g}, max {hi:.4g}), but {noise} noise puts the corrupted "
        f"values in [0, 1]; {fix}, or pass {option('noise', 'masking')}"
    )


def _check_noisy(noise: str | None, noise_level: float | None) -> None:
    if noise not in (None, "none") or noise_level is not None:
        raise ConfigError(
            f"noisy input is denoised as it is; drop {option('noise')}/{option('noise_level')}, "
            f"or drop {option('noisy')} to corrupt clean input"
        )


def _noise_of(config: dict[str, Any], noise: str | None, noise_level: float | None) -> tuple[str, float]:
    """The (noise, level) to corrupt clean input with: as asked, else the run's; refused when there is none."""
    trained_noise, trained_level = run_noise(config)
    noise = trained_noise if noise is None else noise
    if noise not in NOISES:
        raise ConfigError(f"unknown noise {noise!r}; choose one of: {', '.join(NOISES)}")
    level = (trained_level if noise == trained_noise else None) if noise_level is None else float(noise_level)
    if noise == "none" or not level:
        where = "the run was not trained with noise" if noise == "none" else f"no noise level for {noise!r}"
        asked = "gaussian" if noise == "none" else noise  # a noise named without its level: that noise's level
        raise ConfigError(
            f"nothing to denoise: {where}; pass {option('noise', asked)} {option('noise_level', 0.5)} "
            f"(for example), or {option('noisy', True)} if the input is already noisy"
        )
    if not math.isfinite(level) or level < 0 or (noise != "gaussian" and level > 1):
        raise ConfigError(f"{option('noise_level')} must be ≥ 0 (and ≤ 1 for {noise!r}), got {level}")
    return noise, level


def _check_channels(model: Autoencoder, x: Any) -> None:
    """Refuse a batch (n, C, H, W) of 1 or 3 channels, or a list of such images, whose channels are not the run's:
    its rows' length alone said "input has 720 features but the model expects 64" for colour images and a gray run."""
    if model.config.image_shape is None:
        return
    want = model.config.image_shape[0]
    if isinstance(x, (list, tuple)):
        shapes = [a.shape for a in x if getattr(a, "ndim", 0) == 3]
    else:
        shapes = [x.shape[1:]] if getattr(x, "ndim", 0) == 4 else []
    have = next((s[0] for s in shapes if s[0] in (1, 3) and s[0] != want), None)
    if have is None:
        return
    colour = lambda n: f"{'colour' if n == 3 else 'grayscale'} images ({n} channel{'s' * (n != 1)})"  # noqa: E731
    raise DataError(
        f"the model was trained on {colour(want)} but these are {colour(have)}; convert them to "
        f"{'grayscale' if want == 1 else 'colour (RGB)'} or train on {'colour' if have == 3 else 'grayscale'} images"
    )


def _f32(a: Any) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach().float().cpu()
    return torch.from_numpy(np.array(a, dtype=np.float32))


def _whole_images(model: Autoencoder, x: Any) -> tuple[list[torch.Tensor], str] | None:
    """`x` as a list of (C, H, W) images and its form ('rows', 'batch' or 'list') when a full-resolution model is
    to take it whole: a list of images, a batch (n, C, H, W) or rows of another square size; else None."""
    cfg = model.config
    if not cfg.full_resolution:
        return None
    c = cfg.image_shape[0]
    if isinstance(x, (list, tuple)):
        if not x:
            raise DataError("an empty list of images; pass at least one (C, height, width) image")
        images = [_f32(a) for a in x]
        images = [a[None] if a.ndim == 2 and c == 1 else a for a in images]
        if any(a.ndim != 3 or a.shape[0] != c for a in images):
            raise DataError(f"a list of images must hold ({c}, height, width) arrays, the model's channels")
        return images, "list"
    from aekit.data.pixels import PixelRows

    if isinstance(x, PixelRows):  # an image folder read at one size (--image-size): [0, 1] rows
        x = np.asarray(x)
    if not isinstance(x, (np.ndarray, torch.Tensor)) or x.ndim not in (2, 4):
        return None
    shape = tuple(x.shape)
    if x.ndim == 4 and shape[1:] != tuple(cfg.image_shape) and shape[1] == c:
        return list(_f32(x)), "batch"
    side = math.isqrt(shape[1] // c) if x.ndim == 2 and shape[1] % c == 0 else 0
    if x.ndim == 2 and shape[1] != cfg.input_dim and side * side * c == shape[1]:
        a = _f32(x).reshape(-1, c, side, side)
        return list(a), "rows"
    return None


def _denoise_whole(
    model: Autoencoder,
    config: dict[str, Any],
    images: list[torch.Tensor],
    form: str,
    noise: str | None,
    noise_level: float | None,
    noisy_input: bool,
    seed: int,
    device: torch.device,
) -> Denoised:
    """`denoise` for images a full-resolution model takes whole: grouped by size, a few megapixels a batch."""
    from aekit.full_resolution import apply_whole

    if noisy_input:
        _check_noisy(noise, noise_level)
        noise, level = "none", 0.0
    else:
        noise, level = _noise_of(config, noise, noise_level)
    for i, a in enumerate(images):
        if not bool(torch.isfinite(a).all()):
            raise DataError(f"image {i} holds NaN or inf; clean the data")
        if not noisy_input and (float(a.min()) < 0 or float(a.max()) > 1):
            raise DataError(f"image {i} has values outside [0, 1], which the corruptions assume; scale it to [0, 1]")
    generator = torch.Generator().manual_seed(seed)
    noisy, out = list(images), [None] * len(images)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, a in enumerate(images):
        by_shape.setdefault(tuple(a.shape), []).append(i)
    with torch.inference_mode():
        for shape, where in by_shape.items():
            per_batch = max(1, 2**20 // (shape[1] * shape[2]))
            for start in range(0, len(where), per_batch):
                idx = where[start : start + per_batch]
                batch = torch.stack([images[i] for i in idx])
                if not noisy_input:
                    batch = corrupt(batch, noise, level, generator)
                den = apply_whole(model, batch.to(device)).float().cpu().clamp_(0, 1)  # as `_in_unit_range`
                for k, i in enumerate(idx):
                    noisy[i], out[i] = batch[k], den[k]

    def shaped(parts: list[torch.Tensor]) -> Any:
        if form == "list":
            return [p.numpy() for p in parts]
        a = torch.stack(parts).numpy() if parts else np.empty((0, *model.config.image_shape), np.float32)
        return a.reshape(len(a), -1) if form == "rows" else a

    if noisy_input:
        return Denoised(shaped(noisy), shaped(out), None, "none", 0.0, None, None)
    flat = lambda parts: torch.cat([p.reshape(-1) for p in parts]).numpy()  # noqa: E731
    clean = flat(images)
    return Denoised(
        shaped(noisy),
        shaped(out),
        shaped(images),
        noise,
        level,
        psnr(clean, flat(noisy), per_image=False),
        psnr(clean, flat(out), per_image=False),
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
