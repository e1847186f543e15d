"""Headless plots: pure functions from numpy arrays to :class:`matplotlib.figure.Figure`.

No function here calls ``plt.show()`` or touches pyplot's global state: figures are built
with :class:`~matplotlib.figure.Figure` directly and rendered through the Agg canvas, so
they work without a display and from several threads at once. Loss curves are in `aekit.reporting.curves`; PNG
bytes, arrays and files from a figure in `aekit.reporting.rendering`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from aekit.errors import ConfigError, DataError, option

__all__ = ["reconstruction_grid", "image_grid", "code_map", "histogram"]


def _as_images(x, image_shape, name: str) -> np.ndarray:
    """Reshape ``x`` to ``(m, *image_shape)``, then to what ``imshow`` draws: ``(m, H, W)``, or ``(m, H, W, 3)`` for a
    colour ``image_shape`` ``(3, H, W)``; raise DataError naming the mismatch."""
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) == 3 and image_shape[0] in (1, 3):
        imgs = _as_images(x, image_shape[1:] if image_shape[0] == 1 else (int(np.prod(image_shape)),), name)
        return imgs if image_shape[0] == 1 else imgs.reshape(-1, *image_shape).transpose(0, 2, 3, 1)
    arr = np.asarray(x, dtype=np.float64)
    size = int(np.prod(image_shape))
    if arr.ndim == 0 or arr.size == 0:
        raise DataError(f"{name}: expected a non-empty array of images, got shape {arr.shape}")
    if arr.ndim == 1:
        arr = arr[None]
    per_item = int(np.prod(arr.shape[1:]))
    if per_item != size:
        raise DataError(
            f"{name}: each item has {per_item} values (array shape {arr.shape}) but "
            f"image_shape {tuple(image_shape)} needs {size}; pass the right image_shape "
            f"or arrays shaped (m, {size}) / (m, 1, {', '.join(map(str, image_shape))})"
        )
    return arr.reshape((arr.shape[0], *image_shape))


def _show(ax, img, cmap="gray", vmin=None, vmax=None) -> None:
    if img.ndim == 3:  # colour: imshow takes RGB in [0, 1] as it is; scale to vmin/vmax, or to its own range
        lo, hi = (float(img.min()), float(img.max())) if vmin is None else (vmin, vmax)
        img = np.clip((img - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


TILE_ABOVE = 64  # `image_grid` draws more images than this (without titles) as one tiled image


def _tiled(imgs: np.ndarray, ncols: int, each: bool) -> np.ndarray:
    """`imgs` ((m, H, W) or (m, H, W, 3)) in rows of `ncols`, a 2-pixel white gap around each, values in [0, 1]:
    each image scaled to its own min/max with `each` (as imshow scales a lone image), else clipped."""
    m, h, w = imgs.shape[:3]
    if each:
        lo = imgs.min(axis=tuple(range(1, imgs.ndim)), keepdims=True)
        span = imgs.max(axis=tuple(range(1, imgs.ndim)), keepdims=True) - lo
        imgs = (imgs - lo) / np.where(span > 0, span, 1.0)
    nrows, gap = -(-m // ncols), 2
    out = np.ones((nrows * (h + gap) + gap, ncols * (w + gap) + gap, *imgs.shape[3:]))
    for i, img in enumerate(np.clip(imgs, 0.0, 1.0)):
        r, c = divmod(i, ncols)
        out[gap + r * (h + gap) : gap + r * (h + gap) + h, gap + c * (w + gap) : gap + c * (w + gap) + w] = img
    return out


def reconstruction_grid(originals, reconstructions, *, image_shape=(28, 28), n=10, noisy=None, titles=None) -> Figure:
    """Originals on the top row, their reconstructions below (the Keras tutorial plot).

    Parameters
    ----------
    originals, reconstructions : array_like
        ``(m, H*W)`` or ``(m, 1, H, W)`` (any shape whose items hold ``H*W`` values; ``3*H*W`` for colour).
    image_shape : tuple of int
        ``(H, W)`` of one image, or ``(C, H, W)`` with C 1 or 3 (colour, drawn in colour).
    n : int
        Number of columns; the first ``min(n, m)`` items are drawn.
    noisy : array_like, optional
        If given, three rows are drawn: noisy input / reconstruction / clean original.
    titles : sequence of str, optional
        One title per column.

    Returns
    -------
    Figure
        ``rows * n`` image axes, gray colour map, values shown in ``[0, 1]``, no ticks.
    """
    rows = [
        ("original", _as_images(originals, image_shape, "originals")),
        ("reconstruction", _as_images(reconstructions, image_shape, "reconstructions")),
    ]
    if noisy is not None:
        rows = [("noisy", _as_images(noisy, image_shape, "noisy")), rows[1], ("clean", rows[0][1])]
    n = min(int(n), *(len(r[1]) for r in rows))
    if n < 1:
        raise DataError("reconstruction_grid: n must be >= 1 and the arrays non-empty")
    fig = Figure(figsize=(n * 1.2 + 0.6, len(rows) * 1.2 + 0.3))
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            _show(ax, imgs[c], vmin=0.0, vmax=1.0)
            if c == 0 and noisy is not None:
                ax.set_ylabel(label)
            if r == 0 and titles is not None and c < len(titles):
                ax.set_title(str(titles[c]), fontsize=8)
    fig.subplots_adjust(
        left=0.05 if noisy is not None else 0.01,
        right=0.99,
        bottom=0.02,
        top=0.9 if titles is not None else 0.98,
        wspace=0.05,
        hspace=0.05,
    )
    return fig


def image_grid(images, *, image_shape=(28, 28), ncols=10, titles=None, cmap="gray", normalize="each") -> Figure:
    """A grid of images, e.g. each encoder unit's weights or each code unit's decoding.

    Parameters
    ----------
    images : array_like
        ``(m, H*W)`` or ``(m, ..., H, W)`` with ``H*W`` values per item.
    image_shape : tuple of int
    ncols : int
        Columns; rows are ``ceil(m / ncols)``. Unused cells are hidden.
    titles : sequence of str, optional
        One per image.
    cmap : str
    normalize : {"each", "none"}
        ``"each"`` scales every image to its own min/max; ``"none"`` shows values in ``[0, 1]``.

    Returns
    -------
    Figure
        ``rows * ncols`` axes, of which the first ``m`` hold an image; without titles, over `TILE_ABOVE` images are
        one Axes holding them tiled (a VAE's 15 × 15 manifold: one image instead of 225 Axes, ~2.5 s less to draw).
    """
    if normalize not in ("each", "none"):
        raise ConfigError(f"normalize must be 'each' or 'none', got {normalize!r}")
    imgs = _as_images(images, image_shape, "images")
    m = len(imgs)
    ncols = max(1, min(int(ncols), m))
    nrows = -(-m // ncols)
    fig = Figure(figsize=(ncols * 1.1 + 0.2, nrows * (1.1 if titles is None else 1.3) + 0.2))
    if titles is None and m > TILE_ABOVE:
        ax = fig.add_axes((0.01, 0.01, 0.98, 0.98))
        _show(ax, _tiled(imgs, ncols, normalize == "each"), cmap=cmap, vmin=0.0, vmax=1.0)
        return fig
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        if i >= m:
            ax.set_visible(False)
            continue
        if normalize == "each":
            _show(ax, imgs[i], cmap=cmap)  # imshow autoscales to the image's own min/max
        else:
            _show(ax, imgs[i], cmap=cmap, vmin=0.0, vmax=1.0)
        if titles is not None and i < len(titles):
            ax.set_title(str(titles[i]), fontsize=7)
    has_titles = titles is not None
    fig.subplots_adjust(
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=0.95 if has_titles else 0.99,
        wspace=0.05,
        hspace=0.3 if titles is not None else 0.05,
    )
    return fig


def code_map(codes, labels=None, *, method="auto", random_state=0, title=None) -> tuple[Figure, np.ndarray]:
    """2-D scatter of codes, projected with PCA or t-SNE when they have more than 2 columns.

    Parameters
    ----------
    codes : array_like, shape (n, d)
    labels : array_like of int, shape (n,), optional
        Colours points (``tab10``): a legend for at most 10 distinct labels, else a colorbar.
    method : {"auto", "pca", "tsne"}
        ``"auto"`` draws 2-D codes directly and projects others with PCA.
    random_state : int
        Seed for the projection.
    title : str, optional

    Returns
    -------
    fig : Figure
    points : ndarray, shape (n, 2)
        The points drawn.
    """
    if method not in ("auto", "pca", "tsne"):
        raise ConfigError(f"method must be 'auto', 'pca' or 'tsne', got {method!r}")
    x = np.asarray(codes, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise DataError(f"codes must be a non-empty (n, d) array, got shape {x.shape}")
    n, d = x.shape
    if method == "auto" and d == 2:
        points = x.copy()
    elif d == 1:
        points = np.column_stack([x[:, 0], np.zeros(n)])
    elif method == "tsne":
        from sklearn.manifold import TSNE

        if n < 3:
            raise DataError(f"t-SNE needs at least 3 points, got {n}; pass {option('method', 'pca')}, or more rows")
        perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
        points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=random_state).fit_transform(x)
    else:
        from sklearn.decomposition import PCA

        if n < 2:
            points = np.zeros((n, 2))
        else:
            proj = PCA(n_components=min(2, d, n), random_state=random_state).fit_transform(x)
            points = np.zeros((n, 2))
            points[:, : proj.shape[1]] = proj
    fig = Figure(figsize=(6.0, 5.0))
    ax = fig.subplots()
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=6, alpha=0.7)
    else:
        lab = np.asarray(labels).ravel()
        if lab.shape[0] != n:
            raise DataError(f"labels has {lab.shape[0]} entries but codes has {n} rows")
        classes = np.unique(lab)
        if classes.size <= 10:
            for i, c in enumerate(classes):
                sel = lab == c
                ax.scatter(points[sel, 0], points[sel, 1], s=6, alpha=0.7, color=f"C{i}", label=str(c))
            ax.legend(markerscale=2, fontsize=8, title="label")
        else:
            sc = ax.scatter(points[:, 0], points[:, 1], c=lab, cmap="tab10", s=6, alpha=0.7)
            fig.colorbar(sc, ax=ax, label="label")
    direct = method == "auto" and d == 2
    axis_name = "code" if direct else ("t-SNE" if method == "tsne" else "PC")
    ax.set_xlabel(f"{axis_name} 1")
    ax.set_ylabel(f"{axis_name} 2")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig, points


def histogram(values, *, bins=50, title=None, threshold=None, xlabel=None) -> Figure:
    """Histogram of ``values`` (e.g. anomaly scores), with an optional vertical threshold line.

    Parameters
    ----------
    values : array_like
        Flattened; non-finite values are dropped.
    bins : int or sequence
    title, xlabel : str, optional
    threshold : float, optional
        Drawn as a dashed red vertical line labelled with its value.

    Returns
    -------
    Figure
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise DataError("histogram: no finite values to plot")
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    ax.hist(v, bins=bins, color="C0", alpha=0.8)
    if threshold is not None:
        ax.axvline(float(threshold), color="red", linestyle="--", label=f"threshold = {float(threshold):.4g}")
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel or "value")
    ax.set_ylabel("count")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
