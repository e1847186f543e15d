"""A `.npy` of images: (n, h, w) gray, or 1 or 3 channels last (n, h, w, c) or first (n, c, h, w).

`aekit.data.arrays.load_array` gives their rows as flattened (c, h, w) images (a conv model's order); the shape the
rows came from is `npy_image_shape`'s.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def channels_last(shape: tuple[int, ...]) -> bool:
    """(n, h, w, c) images: 1 or 3 channels last, and not first as in (n, c, h, w)."""
    return shape[-1] in (1, 3) and shape[1] not in (1, 3)


def channels_first(raw: np.ndarray) -> np.ndarray:
    """`raw` with channels moved first where they are last (a contiguous copy), else `raw` itself."""
    return np.ascontiguousarray(np.moveaxis(raw, -1, 1)) if raw.ndim == 4 and channels_last(raw.shape) else raw


def npy_image_shape(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """The (channels, height, width) of the images in a .npy of shape (n, h, w), (n, c, h, w) or (n, h, w, c) with
    1 or 3 channels (`load_array` gives their rows in that order); None for any other file or shape."""
    return _image_shape(_npy_shape(path))


def in_npy_layout(rows: np.ndarray, like: str | os.PathLike) -> np.ndarray:
    """Rows of flattened (c, h, w) images in the layout of the image .npy `like` ((n, h, w), (n, h, w, c) or
    (n, c, h, w)); `rows` as they are when `like` is not such a file or its images hold another count of values."""
    given = _npy_shape(like)
    shape = _image_shape(given)
    if shape is None or rows.ndim != 2 or rows.shape[1] != shape[0] * shape[1] * shape[2]:
        return rows
    images = rows.reshape(len(rows), *shape)
    if len(given) == 3:
        return images[:, 0]
    return np.ascontiguousarray(np.moveaxis(images, 1, -1)) if channels_last(given) else images


def _npy_shape(path: str | os.PathLike) -> tuple[int, ...] | None:
    """The array shape in a .npy file's header; None for another file or one numpy cannot read."""
    if Path(path).suffix.lower() != ".npy":
        return None
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False).shape
    except Exception:  # load_array says what is wrong with the file
        return None


def _image_shape(shape: tuple[int, ...] | None) -> tuple[int, int, int] | None:
    if shape is None:
        return None
    if len(shape) == 3:
        return (1, shape[1], shape[2])
    if len(shape) == 4 and channels_last(shape):
        return (shape[3], shape[1], shape[2])
    if len(shape) == 4 and shape[1] in (1, 3):
        return (shape[1], shape[2], shape[3])
    return None
