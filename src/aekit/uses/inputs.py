"""What the use commands (encode, features, denoise, anomaly) read: a trained model and rows to apply it to.

INPUT is either a named image set with an optional split — ``mnist`` (= ``mnist:test``), ``mnist:train``,
``fashion-mnist:test`` … — whose labels come along, a file read with :func:`aekit.data.arrays.load_array`
(``.npy``, ``.csv``, ``.parquet``), with labels from an optional labels file, or a folder of images (or a ``.txt``
list of them, :func:`aekit.data.images.load_images`), decoded at the model's size and colour, labelled by
sub-folder. A named set defaults to the
test split because a trained model is used on rows it did not learn from.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit.config_checks import positive_int
from aekit.errors import ConfigError, DataError, option
from aekit.models import Autoencoder

DATASETS = ("mnist", "fashion-mnist")
SPLITS = ("test", "train")


@dataclass
class Rows:
    """Rows to apply a model to, with their labels and image shape where known."""

    x: np.ndarray  # (n, features) float32
    y: np.ndarray | None  # (n,) labels, or None
    image_shape: tuple[int, ...] | None  # (channels, height, width) or None
    name: str  # 'mnist:test', or the file name
    names: list[str] | None = None  # an image folder's files (relative to `root`), one per row
    root: Path | None = None  # the image folder (or the list's folder)
    classes: list[str] | None = None  # the class folder of each label number


def _is_dataset_spec(spec: str) -> bool:
    return spec.split(":", 1)[0].strip().lower().replace("_", "-") in DATASETS and not Path(spec).exists()


def load_rows(
    spec: str | os.PathLike,
    *,
    labels: str | os.PathLike | None = None,
    limit: int | None = None,
    data_dir: str | os.PathLike | None = None,
    like: Autoencoder | None = None,
    image_size: Any = None,
    resize: str | None = None,
    color: str | None = None,
    skip_bad_images: bool = False,
    whole: bool = False,
) -> Rows:
    """Read INPUT: ``mnist``, ``mnist:train``, ``fashion-mnist:test`` …, a .npy/.csv/.parquet file, or a folder of
    images (or a .txt list): decoded at `image_size` and `color`, by default those of model `like`.

    `labels` is a file of one label per row (overrides a dataset's own labels); `limit` keeps the first rows.
    With `whole`, a folder for a full-resolution model `like` (which takes any size) and no `image_size` is read
    with each image at its own size: ``x`` is then a list of float32 (C, H, W) arrays (`whole_image_rows`).
    """
    from aekit.data.arrays import load_array, load_dataset
    from aekit.data.image_files import is_image_source
    from aekit.data.npy_images import npy_image_shape

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ConfigError(f"{option('limit')} must be a positive integer, got {limit!r}")
    spec = str(spec)
    if _is_dataset_spec(spec):
        name, _, split = spec.partition(":")
        name = name.strip().lower().replace("_", "-")
        split = split.strip().lower() or "test"
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r} in {spec!r}; write {name}:test or {name}:train")
        ds = load_dataset(name, data_dir)
        x, y = (ds.x_test, ds.y_test) if split == "test" else (ds.x_train, ds.y_train)
        rows = Rows(x, y, ds.image_shape, f"{name}:{split}")
    elif is_image_source(spec) and whole and image_size is None and like is not None and like.config.full_resolution:
        rows = whole_image_rows(spec, {1: "gray", 3: "rgb"}[like.config.image_shape[0]], skip_bad_images)
    elif is_image_source(spec):
        rows = _image_rows(spec, like, image_size, resize, color, skip_bad_images)
    else:
        if not Path(spec).exists() and Path(spec).suffix.lower() not in (".npy", ".csv", ".parquet"):
            raise DataError(
                f"{spec}: neither a dataset ({', '.join(DATASETS)}, optionally :test or :train) "
                "nor an existing file; pass a .npy, .csv or .parquet file, or a folder of images"
            )
        # a float32 .npy stays a memmap (read in blocks); a .npy of images gives their shape
        rows = Rows(load_array(spec), None, npy_image_shape(spec), Path(spec).name)
    if labels is not None:
        rows.y = load_labels(labels, len(rows.x))
    if limit is not None:
        rows.x = rows.x[:limit]
        rows.y = None if rows.y is None else rows.y[:limit]
        rows.names = None if rows.names is None else rows.names[:limit]
    return rows


def _image_rows(
    spec: str, like: Autoencoder | None, image_size: Any, resize: str | None, color: str | None, skip_bad: bool
) -> Rows:
    """A folder's images as rows, at the model's size and colour unless given."""
    from aekit.data.images import load_images

    shape = None if like is None else like.config.image_shape
    if shape is not None and len(shape) == 3:
        image_size = image_size if image_size is not None else tuple(shape[1:])
        color = color or {1: "gray", 3: "rgb"}.get(shape[0])
        _check_image_fit(spec, like, image_size, color)
    s = load_images(spec, image_size=image_size, resize=resize or "crop", color=color, skip_bad=skip_bad)
    return Rows(s.rows(), s.labels, s.image_shape, Path(spec).name, list(s.names), s.root, s.classes or None)


def check_columns(spec: Any, config: dict | None) -> None:
    """Refuse a table file whose header names other columns, or the same in another order, than the run's training
    table (config.json's data.columns): its values would go to the wrong inputs without a word."""
    from aekit.data.arrays import column_names, first_difference

    trained = ((config or {}).get("data") or {}).get("columns")
    if not trained or not isinstance(spec, (str, os.PathLike)) or not os.path.isfile(spec):
        return
    given = column_names(spec)
    differ = first_difference(given, trained)  # None: no header (nothing to compare), or another count
    if differ is None:
        return
    i, how = differ
    listed = ", ".join(trained[:8]) + (" …" if len(trained) > 8 else "")
    raise DataError(
        f"{spec}: its columns differ from the run's training table ({how}: column {i + 1} is {given[i]!r}, in "
        f"training {trained[i]!r}); pass the columns {listed} in that order"
    )


def _check_image_fit(spec: str, like: Autoencoder, image_size: Any, color: str | None) -> None:
    """Refuse, before decoding, an `image_size`/`color` that gives images of another size than model `like` takes."""
    from aekit.data.image_files import parse_image_size

    c, h, w = like.config.image_shape
    size = parse_image_size(image_size)
    if like.config.full_resolution or size is None or color not in ("gray", "rgb"):
        return
    given = (1 if color == "gray" else 3) * size[0] * size[1]
    if given != like.config.input_dim:
        raise DataError(
            f"{spec}: read at {size[0]}x{size[1]} {color}, an image has {given:,} values, but the model takes "
            f"{like.config.input_dim:,} ({h}x{w} {'gray' if c == 1 else 'rgb'}); drop {option('image_size')} and "
            f"{option('color')} to read the images as the model does"
        )


def whole_image_rows(spec: str | os.PathLike, color: str, skip_bad: bool = False) -> Rows:
    """A folder's (or a .txt list's) images each at its own size, as `color` ('gray' or 'rgb'): ``x`` a list of
    float32 (C, H, W) arrays in [0, 1], decoded in memory (no cache); ``image_shape`` None when the sizes differ."""
    import warnings

    from aekit.data.image_files import BadImage, decode_image, find_images, run_parallel
    from aekit.data.images import ImageNote, readable, skipped_note

    found = find_images(spec)
    got = run_parallel(lambda i: decode_image(found.files[i], color=color), len(found.files))
    bad = [(i, str(g)) for i, g in enumerate(got) if isinstance(g, BadImage)]
    keep = readable(found, list(range(len(got))), bad, skip_bad)
    if bad:
        warnings.warn(skipped_note(found.root, [(found.names[i], why) for i, why in bad]), ImageNote)
    x = [got[i].astype(np.float32) / 255 for i in keep]
    shapes = {a.shape for a in x}
    labels = None if found.labels is None else found.labels[keep]
    shape = shapes.pop() if len(shapes) == 1 else None
    return Rows(x, labels, shape, Path(spec).name, [found.names[i] for i in keep], found.root, found.classes or None)


def class_names(rows: Rows) -> np.ndarray | None:
    """Each row's label as a name: an image folder's class folder, else the label itself."""
    if rows.y is None:
        return None
    return np.asarray(rows.classes)[rows.y] if rows.classes else rows.y


def normal_labels(tokens: Any, rows: Rows) -> list[int]:
    """`--normal` as label numbers: class folder names of an image folder, or numbers."""
    out = []
    for token in tokens:
        token = str(token).strip()
        if rows.classes and token in rows.classes:
            out.append(rows.classes.index(token))
            continue
        try:
            out.append(int(token))
        except ValueError:
            known = (
                f"the classes of {rows.name} are {', '.join(rows.classes)}" if rows.classes else "labels are numbers"
            )
            raise DataError(f"unknown normal label {token!r}; {known}") from None
    return out


def load_labels(path: str | os.PathLike, n: int) -> np.ndarray:
    """One label per row from a .npy/.csv/.parquet file of one column; refuses a count other than `n`."""
    from aekit.data.arrays import load_array

    y = np.asarray(load_array(path))
    if y.ndim == 2 and y.shape[1] != 1:
        raise DataError(f"{path}: labels must be one column, found {y.shape[1]}; keep only the label column")
    y = y.reshape(-1)
    if len(y) != n:
        raise DataError(f"{path}: {len(y)} labels for {n} rows; pass one label per input row")
    return y.astype(np.int64) if np.all(y == np.round(y)) else y


def load_any_model(
    run: str | os.PathLike | Autoencoder, device: str | torch.device | None = None
) -> tuple[Autoencoder, dict[str, Any]]:
    """A model (in eval mode) and its run config (``{}`` for a lone .safetensors file or an in-memory model).

    `device` ('auto', 'cpu', 'cuda', 'cuda:N', 'mps') moves the model there; None leaves it where it is (a model read
    from a file: on the CPU). A device that is not there is refused before the file is read.
    """
    from aekit.devices import model_device, resolve_device
    from aekit.io import CONFIG, load_model, read_json

    if device is not None:
        device = resolve_device(device)
    if isinstance(run, Autoencoder):
        model_device(run, device)
        return run.eval(), {}
    path = Path(run)
    if path.is_dir():
        from aekit.runfolder import load_run

        model, config, _ = load_run(path)
        model_device(model, device)
        return model, config
    if path.suffix != ".safetensors":
        raise DataError(f"{path}: not a run folder nor a .safetensors file; pass a folder written by `aekit train`")
    model = load_model(path, device=device)
    side = path.parent / CONFIG
    config = read_json(side) if path.name == "model.safetensors" and side.is_file() else {}
    return model, config


def image_shape_of(model: Autoencoder, rows: Rows | None = None) -> tuple[int, int] | None:
    """(height, width) for drawing rows as images: the data's, the model's, or a square input; else None."""
    shape = (rows.image_shape if rows is not None else None) or model.config.image_shape
    if shape is not None:
        return tuple(shape[-2:])
    side = math.isqrt(model.config.input_dim)
    return (side, side) if side * side == model.config.input_dim and side >= 4 else None


def as_input(
    model: Autoencoder, x: Any, name: str = "input", *, keep_memmap: bool = False, check: bool = True
) -> torch.Tensor | np.memmap:
    """`x` as a float tensor of rows, checked against the model's feature count; with `keep_memmap` a float32
    memmap stays one (for `batched`, which reads it a batch at a time). ``check=False`` leaves the NaN/inf scan
    to `batched`, which checks each block just before it is used (while it is in cache)."""
    from aekit.data.rows import as_rows, check_features

    t = as_rows(x, name, keep_memmap=keep_memmap, check=check)
    check_features(model, t, name)
    return t


@torch.inference_mode()
def batched(
    fn, x: torch.Tensor | np.memmap, batch_size: int = 4096, name: str = "input", device: torch.device | None = None
) -> np.ndarray:
    """`fn` applied to `x` in row batches on `device` (default: the CPU), as one float32 numpy array on the host (a
    memmap is read a batch at a time, its pages leaving RSS after each; rows already on the device stay there).
    Each block is checked for NaN/inf just before `fn` sees it: a separate pass over the whole array first cost as
    much as encoding it."""
    from aekit.data.rows import _check_finite, place_rows

    if batch_size is not None:  # -1 gave an empty (0, 0) array, 0 one block of every row
        positive_int("batch_size", batch_size)
    device = device or torch.device("cpu")
    pinned = device.type == "cuda"  # results copied into pinned memory without waiting; one wait at the end
    out = None  # filled in place: a list of per-batch results kept the heap from shrinking
    for start, xb in place_rows(x, device, 0).blocks(batch_size):
        _check_finite(xb, name, start)
        yb = fn(xb).reshape(len(xb), -1)
        if out is None:
            out = torch.empty((x.shape[0], yb.shape[1]), dtype=torch.float32, pin_memory=pinned)
        out[start : start + len(yb)].copy_(yb, non_blocking=pinned)
    if out is None:
        return np.empty((0, 0), dtype=np.float32)
    if pinned:
        torch.cuda.synchronize(device)
    return out.numpy()
