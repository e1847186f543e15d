"""What the units learned (`aekit features`): the first encoder layer's weights, each code unit's decoded
image, and the inputs that most activate each code unit.

For image models each is a picture. For a deep model the weight pictures are those of the *first* encoder
layer (the only weights that live in input space); the code units are shown through the decoder. For
non-image models (no image shape and not a square input) the weights and decodings are drawn as heatmaps
(units × input features) and the most-activating inputs are listed by row index only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aekit.config_checks import positive_int
from aekit.devices import device_of
from aekit.errors import ConfigError, option
from aekit.models import Autoencoder
from aekit.uses.inputs import as_input, batched, image_shape_of, load_any_model


@dataclass
class Features:
    """The arrays behind the pictures."""

    weights: np.ndarray  # (units of the first encoder layer, input_dim): each unit's incoming weights
    decoded: np.ndarray  # (encoding_dim, input_dim): decode(a·e_j), unit j alone at activation a_j
    levels: np.ndarray  # (encoding_dim,): the activation a_j used for each decoded image
    top_index: np.ndarray | None  # (encoding_dim, top): rows of x that most activate each code unit
    top_activation: np.ndarray | None  # (encoding_dim, top): their activations
    image_shape: tuple[int, int] | None  # (height, width) when the inputs are images


def features(
    model: Autoencoder | str | os.PathLike,
    x: Any = None,
    *,
    top: int = 8,
    batch_size: int = 4096,
    device: str | torch.device | None = None,
) -> Features:
    """Weights, decoded code units and (when rows `x` are given) each code unit's `top` most-activating rows.

    Each code unit j is decoded alone: ``decode(a_j · e_j)`` with ``a_j`` the 99th percentile of the unit's
    activation over `x` (1.0 when no `x` is given, or when the unit never activates), so each image shows
    what the unit adds when it is strongly on. `device` (default None: where the model is, the CPU for a file) runs it.
    """
    model, _ = load_any_model(model, device)
    device = device_of(model)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"{option('top')} must be a positive integer, got {top!r}")
    first = next((m for m in model.encoder if isinstance(m, nn.Linear)), None)
    if first is None:
        raise ConfigError(
            f"features draws the weights of a dense first encoder layer, but this model's encoder is "
            f"{model.config.architecture} (its first layer has no weight per input value); pass a run trained with "
            f"{option('architecture', 'dense')}"
        )
    weights = first.weight.detach().cpu().numpy().astype(np.float32).copy()
    k = model.config.encoding_dim
    levels = np.ones(k, dtype=np.float32)
    top_index = top_activation = None
    if x is not None:
        codes = batched(model.encode, as_input(model, x, keep_memmap=True, check=False), batch_size, device=device)
        p99 = np.percentile(codes, 99, axis=0).astype(np.float32)
        levels = np.where(np.abs(p99) > 1e-6, p99, 1.0).astype(np.float32)
        t = min(top, len(codes))
        top_index = np.argsort(-codes, axis=0, kind="stable")[:t].T.copy()  # (k, t)
        top_activation = np.take_along_axis(codes.T, top_index, axis=1)
    with torch.no_grad():
        decoded = model.decode(torch.diag(torch.from_numpy(levels)).to(device)).cpu().numpy().astype(np.float32)
    return Features(weights, decoded, levels, top_index, top_activation, image_shape_of(model))


def _heatmap(matrix: np.ndarray, title: str, ylabel: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, max(2.5, min(10, 0.2 * matrix.shape[0] + 1.5))))
    ax = fig.subplots()
    lim = float(np.abs(matrix).max()) or 1.0
    im = ax.imshow(matrix, aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_xlabel("input feature")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig


def feature_figures(f: Features, x: Any = None, *, max_units: int = 64) -> dict[str, Any]:
    """Figures by file name: weights.png, decoded.png and (with `x` and image inputs) top_inputs.png."""
    from aekit.reporting.plots import image_grid

    positive_int("max_units", max_units)
    w, d = f.weights[:max_units], f.decoded[:max_units]
    figs: dict[str, Any] = {}
    if f.image_shape is not None:
        figs["weights.png"] = image_grid(
            w, image_shape=f.image_shape, ncols=min(16, len(w)), titles=[str(i) for i in range(len(w))], cmap="gray"
        )
        figs["decoded.png"] = image_grid(
            d,
            image_shape=f.image_shape,
            ncols=min(16, len(d)),
            titles=[str(i) for i in range(len(d))],
            normalize="none",
        )
        if f.top_index is not None and x is not None:
            xs = np.asarray(x)
            idx = f.top_index[:max_units]
            imgs = xs[idx.ravel()]
            titles = [f"u{j} {f.top_activation[j, i]:.2g}" for j in range(len(idx)) for i in range(idx.shape[1])]
            figs["top_inputs.png"] = image_grid(
                imgs, image_shape=f.image_shape, ncols=idx.shape[1], titles=titles, normalize="none"
            )
    else:
        figs["weights.png"] = _heatmap(w, f"first encoder layer: weights of {len(w)} units", "unit")
        figs["decoded.png"] = _heatmap(d, f"decoder output of each of {len(d)} code units alone", "code unit")
    return figs


def write_features(f: Features, out: str | os.PathLike, x: Any = None, *, max_units: int = 64) -> list[Path]:
    """Write the pictures and, when top inputs were found, top_inputs.csv (unit, rank, row, activation)."""
    from aekit.io import atomic_write_text
    from aekit.reporting.rendering import save_figure

    out = Path(out)
    written = [save_figure(fig, out / name) for name, fig in feature_figures(f, x, max_units=max_units).items()]
    if f.top_index is not None:
        lines = ["unit,rank,row,activation"]
        for j, (rows, acts) in enumerate(zip(f.top_index, f.top_activation)):
            lines += [f"{j},{r + 1},{int(i)},{float(a):.6g}" for r, (i, a) in enumerate(zip(rows, acts))]
        written.append(atomic_write_text(out / "top_inputs.csv", "\n".join(lines) + "\n"))
    return written


__all__ = ["Features", "features", "feature_figures", "write_features"]
