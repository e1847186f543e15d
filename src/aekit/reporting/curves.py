"""Headless loss curves: a run's history as one panel of its terms (`loss_curves`), or a grid of a panel per term
for several runs (`term_panels`). Figures are built as in `aekit.reporting.plots`, without pyplot."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from aekit.history import shown_keys

__all__ = ["loss_curves", "term_panels"]


def _numeric_series(v) -> np.ndarray | None:
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.ndim == 1 and arr.size > 0 else None


def loss_curves(history: Mapping[str, Sequence[float]], *, title=None) -> Figure:
    """Every numeric series of a Keras-like history as a line against epoch (1-based).

    ``'x'`` is drawn solid and ``'val_x'`` dashed in the same colour. Keys whose values are
    not a non-empty 1-D numeric list are skipped, and so is ``'epoch_time'`` (and any other
    key ending in ``time`` or ``_s``), since seconds do not share an axis with losses. The
    y axis is logarithmic when all values are positive and the series' medians differ by
    more than a factor of 100.

    Parameters
    ----------
    history : mapping of str to list of float
        E.g. ``{"loss": [...], "val_loss": [...], "recon": [...]}``.
    title : str, optional

    Returns
    -------
    Figure
        One axes with one :class:`~matplotlib.lines.Line2D` per drawn key, a legend and
        x label ``'epoch'``.
    """
    series = {}
    shown = set(shown_keys(history))  # no `recon` curve on top of an equal `loss` curve
    for key, values in history.items():
        k = str(key)
        if k not in shown:
            continue
        if k.endswith("time") or k.endswith("_s"):
            continue
        arr = _numeric_series(values)
        if arr is not None:
            series[k] = arr
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    colours = {}
    palette = [f"C{i}" for i in range(10)]
    for k in series:  # train keys first so val_x takes x's colour whatever the dict order
        base = k[4:] if k.startswith("val_") and k[4:] in series else k
        if base not in colours:
            colours[base] = palette[len(colours) % len(palette)]
    for k, arr in series.items():
        is_val = k.startswith("val_") and k[4:] in series
        base = k[4:] if is_val else k
        ax.plot(
            np.arange(1, arr.size + 1),
            arr,
            color=colours[base],
            linestyle="--" if is_val else "-",
            label=k,
            marker="." if arr.size < 30 else None,
        )
    if series:
        allv = np.concatenate(list(series.values()))
        finite = allv[np.isfinite(allv)]
        meds = [np.nanmedian(np.abs(a)) for a in series.values()]
        meds = [m for m in meds if np.isfinite(m) and m > 0]
        if finite.size and np.all(finite > 0) and meds and max(meds) / min(meds) > 100:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def term_panels(
    runs: Sequence[tuple[str, Mapping[str, Sequence[float]]]],
    terms: Sequence[str],
    *,
    ncols: int,
    title: str | None = None,
) -> Figure | None:
    """One panel per loss term, training solid and validation dashed against epoch, for one run (``name`` "":
    training C0, validation C1, labelled by key) or several (a colour per run, labelled by run name)."""
    if not terms:
        return None
    ncols = min(ncols, len(terms))
    nrows = -(-len(terms) // ncols)
    single = len(runs) == 1
    size = (4.2, 3.0) if single else (6.0, 3.6)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, term in zip(axes, terms):
        for i, (name, series) in enumerate(runs):
            for key, style in ((term, "-"), (f"val_{term}", "--")):
                values = series.get(key)
                if not values:
                    continue
                colour = ("C0" if style == "-" else "C1") if single else f"C{i % 10}"
                label = key if single else f"{name} {'val' if style == '--' else 'train'}"
                ax.plot(
                    range(1, len(values) + 1),
                    values,
                    style,
                    color=colour,
                    marker="." if len(values) < 30 else None,
                    label=label,
                )
        ax.set_title(term)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8 if single else 7)
    for ax in axes[len(terms) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
