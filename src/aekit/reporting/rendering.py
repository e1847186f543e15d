"""Rendering headless figures through the Agg canvas: to PNG bytes, to an RGBA array, or to a file written
atomically. A canvas per figure, no pyplot state: safe from several threads at once."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from io import BytesIO

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from aekit.errors import DataError
from aekit.files import figure_format

__all__ = ["figure_to_png_bytes", "figure_to_array", "save_figure"]


def _canvas(fig: Figure) -> FigureCanvasAgg:
    return fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)


def figure_to_png_bytes(fig: Figure, *, dpi=100) -> bytes:
    """Render ``fig`` to PNG bytes with the Agg canvas at ``dpi``."""
    buf = BytesIO()
    _canvas(fig).print_figure(buf, format="png", dpi=dpi)
    return buf.getvalue()


def figure_to_array(fig: Figure, *, dpi=100) -> np.ndarray:
    """Render ``fig`` to an ``(H, W, 3)`` uint8 RGB array (e.g. for TensorBoard ``add_image``)."""
    canvas = _canvas(fig)
    old = fig.get_dpi()
    fig.set_dpi(dpi)
    try:
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        return np.array(rgba[..., :3], dtype=np.uint8)  # a copy, independent of the canvas
    finally:
        fig.set_dpi(old)


def save_figure(fig: Figure, path, *, dpi=100) -> pathlib.Path:
    """Write ``fig`` to ``path`` atomically (same-folder temp file, then ``os.replace``), as PNG, SVG or PDF by the
    path's suffix (another suffix is refused: `aekit.files.figure_format`).

    The parent folder is created. Returns the path written.
    """
    path = pathlib.Path(path)
    buf = BytesIO()
    _canvas(fig).print_figure(buf, format=figure_format(path), dpi=dpi)
    data = buf.getvalue()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise DataError(
            f"{path}: cannot write here ({' '.join(str(e.strerror or e).split())}); choose a writable folder"
        ) from e
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; os.umask is process-global, so no query
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):  # a full disk says so without a path: name it
            raise DataError(
                f"{path}: cannot write ({' '.join(str(e.strerror or e).split())}); check free space and permissions"
            ) from e
        raise
    return path
