"""Images kept as bytes: uint8 pixels (an image folder's cache, memory-mapped) read as float32 rows in [0, 1].

`PixelRows` looks like a 2-D float32 array of rows (``shape``, ``len``, slicing, ``np.asarray``) but holds the
pixels as uint8, (n, channels, height, width), and converts only the rows that are read: value / 255, in float32,
a batch at a time. Rows of a cache file are read with ``pread`` (one call per run of consecutive rows), so the
file's pages are never mapped into the process; rows of an array in memory are gathered from it. A slice, or
`subset`, is a view: the training and validation rows of an image folder share one cache file.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import numpy as np

from aekit.errors import DataError

_SCALE = np.float32(255)


def to_unit(raw: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1]: ``value / 255`` rounded once, the same everywhere (cache or memory)."""
    out = np.empty(raw.shape, dtype=np.float32)
    np.divide(raw, _SCALE, out=out)
    return out


class _File:
    """A descriptor of a cache file, opened on first read and closed when the last view of it goes."""

    def __init__(self, path: str, offset: int) -> None:
        self.path, self.offset, self.fd = path, offset, None

    def descriptor(self) -> int:
        if self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_RDONLY)
            except OSError as e:
                raise DataError(
                    f"{self.path}: cannot read the image cache ({e.strerror or e}); "
                    "delete the folder and run again to decode the images anew"
                ) from e
            weakref.finalize(self, os.close, self.fd)
        return self.fd


class PixelRows:
    """uint8 images (n, C, H, W) seen as float32 rows (n, C·H·W) in [0, 1]; see the module's text.

    `pixels` is a uint8 array or a memmap of an ``.npy`` file (read by ``pread`` from that file); `index`, sorted row
    numbers into it (default: all), makes a subset without copying.
    """

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, pixels: np.ndarray, *, index: np.ndarray | None = None, _file: _File | None = None) -> None:
        if pixels.dtype != np.uint8 or pixels.ndim < 2:
            raise DataError(f"pixels must be a uint8 array of images, got {pixels.dtype} of shape {pixels.shape}")
        self.pixels = pixels
        self.image_shape = tuple(int(s) for s in pixels.shape[1:])
        self.features = int(np.prod(self.image_shape))
        self.index = np.arange(len(pixels), dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
        if (
            _file is None
            and isinstance(pixels, np.memmap)
            and pixels.filename
            and pixels.flags.c_contiguous
            and isinstance(pixels.offset, int)
            and getattr(pixels, "_mmap", None) is not None
            and pixels.mode == "r"
        ):
            _file = _File(str(pixels.filename), pixels.offset)  # the whole array of an .npy: header, then the rows
        self._file = _file

    # ------------------------------------------------------------------ array-like
    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.index), self.features)

    @property
    def nbytes(self) -> int:
        return len(self.index) * self.features * 4

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        where = f" from {self._file.path}" if self._file else ""
        return f"PixelRows({len(self)} images of {self.image_shape}{where})"

    def subset(self, positions: Any) -> PixelRows:
        """The rows at `positions` (sorted), as a view."""
        return PixelRows(self.pixels, index=self.index[np.asarray(positions, dtype=np.int64)], _file=self._file)

    def __getitem__(self, key: Any):
        if isinstance(key, slice):
            return PixelRows(self.pixels, index=self.index[key], _file=self._file)
        if isinstance(key, (int, np.integer)):
            return self.read(np.array([key]))[0]
        if hasattr(key, "numpy"):  # a torch tensor of row numbers
            key = key.numpy()
        return self.read(np.asarray(key, dtype=np.int64))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.read(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)

    # ------------------------------------------------------------------ reads
    def read(self, positions: np.ndarray) -> np.ndarray:
        """Rows at `positions` as float32 (len, features) in [0, 1]."""
        return to_unit(self.read_bytes(positions))

    def read_bytes(self, positions: np.ndarray) -> np.ndarray:
        """Rows at `positions` as their uint8 pixels, (len, features)."""
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        if len(positions) and (positions.min() < -len(self) or positions.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} images")
        rows = self.index[positions]
        if self._file is None:
            return np.ascontiguousarray(self.pixels.reshape(len(self.pixels), -1)[rows])
        order = None
        if len(rows) > 1 and np.any(np.diff(rows) < 0):  # read forward in the file, then put back in the asked order
            order = np.argsort(rows, kind="stable")
            rows = rows[order]
        out = np.empty((len(rows), self.features), dtype=np.uint8)
        self._pread(rows, out)
        if order is not None:
            back = np.empty_like(out)
            back[order] = out
            out = back
        return out

    def _pread(self, rows: np.ndarray, out: np.ndarray) -> None:
        """Fill `out` with `rows` (ascending) of the cache file: one ``pread`` per run of consecutive rows."""
        if not len(rows):
            return
        fd, size = self._file.descriptor(), self.features
        starts = np.flatnonzero(np.r_[True, np.diff(rows) != 1])
        ends = np.r_[starts[1:], len(rows)]
        view = memoryview(out).cast("B")
        for a, b, row in zip(starts.tolist(), ends.tolist(), rows[starts].tolist()):
            want = (b - a) * size
            if os.preadv(fd, [view[a * size : b * size]], self._file.offset + row * size) != want:
                raise DataError(
                    f"{self._file.path}: the image cache is shorter than it should be (changed while in use); "
                    "delete it and run again to decode the images anew"
                )


__all__ = ["PixelRows", "to_unit"]
