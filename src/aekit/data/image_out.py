"""Images out where images went in: denoised rows written as image files with the input's relative names and formats,
into a new or empty folder, never over an existing file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from aekit.errors import DataError

_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
_SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}}


def image_outputs(out: str | os.PathLike, names: list[str], source: Path | None = None) -> list[Path]:
    """Where `save_images` puts each of `names` under folder `out`; refuses, before anything is written, an `out`
    that is the source folder, a name that leaves `out`, and a file that is already there (never overwritten)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: is a file; images go to a folder, pass a folder for -o")
    if source is not None and out.resolve() == Path(source).resolve():
        raise DataError(
            f"{out}: is the folder the images come from; pass another folder for -o, so that no image is replaced"
        )
    paths = []
    for name in names:
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts:  # a list's absolute or outside path: keep only its file name
            rel = Path(rel.name)
        if rel.suffix.lower() not in _FORMATS:
            rel = rel.with_suffix(".png")
        path = out / rel
        if path.exists():
            raise DataError(
                f"{path}: exists already; pass an empty or new folder for -o (aekit never overwrites an image)"
            )
        paths.append(path)
    if len(set(paths)) != len(paths):
        raise DataError(
            f"{out}: two images would get the same name there (files from a list with equal names); "
            "give the files distinct names"
        )
    return paths


def save_images(
    rows: Any, image_shape: tuple[int, int, int] | None, paths: list[Path], out: str | os.PathLike
) -> list[Path]:
    """Write float rows in [0, 1] (one per image, (C, H, W) each; with `image_shape` None a list of (C, H, W)
    arrays of any sizes) as the image files `paths` under folder `out`, the
    format by each suffix (JPEG and WebP at quality 95, GIF with a 256-colour palette). All are written into a
    temporary folder inside `out` first and moved into place at the end: on an error, nothing is left."""
    import shutil
    import tempfile

    from PIL import Image

    if image_shape is None:  # images of different sizes: a list of (C, H, W) arrays
        a = [np.asarray(r, dtype=np.float32) for r in rows]
    else:
        a = np.asarray(rows, dtype=np.float32).reshape(-1, *image_shape)
    if len(a) != len(paths):
        raise DataError(f"{len(a)} images for {len(paths)} file names; pass one name per image")
    out = Path(out)
    made = not out.exists()
    tmp = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out, prefix=".aekit-"))
        staged = []
        for img, path in zip(a, paths):
            img = np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)
            im = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
            fmt = _FORMATS[path.suffix.lower()]
            where = tmp / path.relative_to(out)
            where.parent.mkdir(parents=True, exist_ok=True)
            im.save(where, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
            staged.append((where, path))
        for where, path in staged:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(where, path)
    except OSError as e:
        raise DataError(
            f"{e.filename or out}: cannot write the images ({' '.join(str(e.strerror or e).split())}); "
            "check free space and permissions"
        ) from e
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if made and out.exists() and not any(out.iterdir()):
            out.rmdir()
    return paths


__all__ = ["image_outputs", "save_images"]
