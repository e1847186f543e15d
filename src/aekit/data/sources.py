"""The rows a run trains on: a named image set, or a user's file with a validation file or split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aekit.data.arrays import load_array
from aekit.data.datasets import load_dataset
from aekit.data.image_files import check_image_options, is_image_source
from aekit.data.npy_images import npy_image_shape
from aekit.errors import ConfigError, DataError, option

IMAGE_DATASETS = ("mnist", "fashion-mnist")


@dataclass
class RunData:
    """Training and validation rows, with labels and image shape where known."""

    x_train: np.ndarray
    x_val: np.ndarray | None
    y_train: np.ndarray | None = None
    y_val: np.ndarray | None = None
    image_shape: tuple[int, ...] | None = None
    name: str = ""
    images: dict | None = None  # an image folder's record: counts, classes, colour, skipped files (config.json)


def load_run_data(
    dataset: str = "mnist",
    data: str | None = None,
    *,
    val_data: str | None = None,
    data_dir: str | None = None,
    limit: int | None = None,
    val_split: float = 0.1,
    seed: int = 0,
    image_size=None,
    resize: str = "crop",
    color: str | None = None,
    skip_bad_images: bool = False,
) -> RunData:
    """The rows to train on: a named image set (train / test split), a user file or a folder of images (or a .txt
    list of them; see `aekit.data.images`), with a validation file, folder or split."""

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ConfigError(f"{option('limit')} must be a positive integer, got {limit!r}; pass a whole number ≥ 1")
    check_image_options(image_size, resize, color)
    if (image_size is not None or color is not None or skip_bad_images) and not is_image_source(data):
        raise ConfigError(
            f"{option('image_size')}, {option('color')} and {option('skip_bad_images')} apply to a folder of images "
            "(or a .txt list), "
            f"not to {data or dataset}; drop them"
        )
    if data is None:
        if dataset not in IMAGE_DATASETS:
            raise ConfigError(
                f"unknown dataset {dataset!r}; choose one of: {', '.join(IMAGE_DATASETS)}, "
                f"or pass {option('data')} (a file)"
            )
        ds = load_dataset(dataset, data_dir, limit=limit)
        return RunData(ds.x_train, ds.x_test, ds.y_train, ds.y_test, ds.image_shape, ds.name)
    if is_image_source(data):
        options = dict(image_size=image_size, resize=resize, color=color, skip_bad=skip_bad_images)
        return _image_run_data(data, val_data, limit, val_split, seed, options)
    x = load_array(data)
    shape, name = npy_image_shape(data), Path(data).name  # a .npy of images: (n, h, w) or with 1 or 3 channels
    if limit is not None:
        x = x[:limit]
    if val_data is not None:
        _same_columns(data, val_data)
        return RunData(x, load_array(val_data), image_shape=shape, name=name)
    n_val = held_out(len(x), val_split)
    if n_val == 0:
        return RunData(x, None, image_shape=shape, name=name)
    if isinstance(x, np.memmap):  # keep it on disk: the last rows (views), not a random pick (copies)
        return RunData(x[: len(x) - n_val], x[len(x) - n_val :], image_shape=shape, name=name)
    order = np.random.default_rng(seed).permutation(len(x))
    return RunData(
        np.asarray(x[np.sort(order[n_val:])]), np.asarray(x[np.sort(order[:n_val])]), image_shape=shape, name=name
    )


def recorded_run_data(data: dict, seed: int) -> RunData:
    """The rows a run trained on, from its config.json ``data`` section (as `resume`, the report and the uses read
    them again), with the split drawn from the run's `seed`."""
    return load_run_data(
        data.get("dataset") or "mnist",
        data.get("data"),
        val_data=data.get("val_data"),
        data_dir=data.get("data_dir"),
        limit=data.get("limit"),
        val_split=data.get("val_split", 0.1),
        seed=seed,
        **image_options(data),
    )


def image_options(data: dict) -> dict:
    """The image options of a run's config.json ``data`` section, as `load_run_data` takes them."""
    return {
        "image_size": data.get("image_size"),
        "resize": data.get("resize") or "crop",
        "color": data.get("color"),
        "skip_bad_images": bool(data.get("skip_bad_images")),
    }


def _same_columns(data: str, val_data: str) -> None:
    """Refuse validation rows whose header names the training table's columns in another order or otherwise."""
    from aekit.data.arrays import column_names, first_difference

    names, val_names = column_names(data), column_names(val_data)
    differ = first_difference(val_names, names)
    if differ is not None:
        i = differ[0]
        raise DataError(
            f"{val_data}: its columns differ from those of {Path(data).name} (column {i + 1} is {val_names[i]!r}, "
            f"in the training data {names[i]!r}); pass validation rows with the same columns in the same order"
        )


def held_out(n: int, val_split: float) -> int:
    """How many of `n` rows `val_split` holds out for validation; refused when it leaves no training rows."""
    if not 0 <= val_split < 1:
        raise ConfigError(
            f"{option('val_split')} must be in [0, 1), got {val_split}; pass e.g. {option('val_split', 0.1)}"
        )
    n_val = int(round(n * val_split))
    if n_val >= n:
        raise ConfigError(
            f"{option('val_split', val_split)} of {n} row{'s' * (n != 1)} leaves no training rows; pass a smaller "
            f"fraction, or {option('val_split', 0.0)} to train on every row"
        )
    return n_val


def _image_run_data(
    data: str, val_data: str | None, limit: int | None, val_split: float, seed: int, options: dict
) -> RunData:
    """An image folder's rows (uint8 in the cache, read as [0, 1] floats): a seeded random pick for `limit` and for
    the validation split (a folder is ordered by class), or a validation folder decoded at the same size and colour."""
    from aekit.data.images import load_images

    s = load_images(data, **options)
    x, y = s.rows(), s.labels
    rng = np.random.default_rng(seed)
    if limit is not None and limit < len(x):
        pick = np.sort(rng.permutation(len(x))[:limit])
        x, y = x.subset(pick), None if y is None else y[pick]
    record = {**s.record(), "n_images": len(x)}
    names = s.classes or None
    if val_data is not None:
        v = load_images(val_data, **{**options, "image_size": s.image_shape[1:], "color": s.color})
        if names is not None and v.classes != s.classes:
            raise ConfigError(
                f"{val_data}: its class folders ({', '.join(v.classes) or 'none'}) are not those of {data} "
                f"({', '.join(s.classes) or 'none'}); pass a validation folder with the same classes"
            )
        record.update(val_skipped=len(v.skipped))
        return RunData(x, v.rows(), y, v.labels, s.image_shape, Path(data).name, record)
    n_val = held_out(len(x), val_split)
    if n_val == 0:
        return RunData(x, None, y, None, s.image_shape, Path(data).name, record)
    order = rng.permutation(len(x))
    tr, va = np.sort(order[n_val:]), np.sort(order[:n_val])
    return RunData(
        x.subset(tr),
        x.subset(va),
        None if y is None else y[tr],
        None if y is None else y[va],
        s.image_shape,
        Path(data).name,
        record,
    )
