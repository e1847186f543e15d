"""Image files: finding them (a folder, recursively, or a ``.txt`` list), reading their headers and decoding them
with Pillow in parallel threads; `aekit.data.images` keeps the result in the cache.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from aekit.errors import ConfigError, DataError, option

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
RESIZES = ("crop", "stretch")
COLORS = ("gray", "rgb")
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
SKIP_HINT = "pass --skip-bad-images to skip unreadable files"


# --------------------------------------------------------------------------- options
def parse_image_size(value: Any) -> tuple[int, int] | None:
    """64, "64", (64, 48) or "64x48" (height × width) -> (height, width); None stays None."""
    if value is None:
        return None
    parts: Any = value
    if isinstance(value, str):
        parts = value.lower().replace("×", "x").split("x")
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        parts = (value, value)
    try:
        nums = [int(p) for p in parts]
        if not all(isinstance(p, (int, np.integer, str)) and not isinstance(p, bool) for p in parts):
            raise ValueError
    except (TypeError, ValueError):
        nums = []
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) < 1:
        raise ConfigError(
            f"image size must be N or HEIGHTxWIDTH in whole pixels ≥ 1, got {value!r}; pass e.g. 64 or 64x48"
        )
    return nums[0], nums[1]


def check_image_options(image_size: Any = None, resize: str = "crop", color: str | None = None) -> tuple:
    """(size or None, resize, color or None), validated; the door every image option comes through."""
    size = parse_image_size(image_size)
    if resize not in RESIZES:
        raise ConfigError(f"unknown resize {resize!r}; choose one of: {', '.join(RESIZES)}")
    if color is not None and color not in COLORS:
        raise ConfigError(
            f"unknown color {color!r}; choose one of: {', '.join(COLORS)} (or leave it out: what the files are)"
        )
    return size, resize, color


def is_image_source(path: str | os.PathLike | None) -> bool:
    """True for a folder or a ``.txt`` list (what `load_images` reads); False for array files and dataset names."""
    if path is None:
        return False
    p = Path(path)
    return p.is_dir() or (p.suffix.lower() == ".txt" and p.is_file())


# --------------------------------------------------------------------------- finding the files
@dataclass
class Found:
    root: Path  # the folder, or the list's folder
    files: list[Path]  # absolute paths, in order
    names: list[str]  # each file as the user sees it: relative to the folder, or as written in the list
    labels: np.ndarray | None  # class index per file
    classes: list[str] = field(default_factory=list)


def find_images(source: str | os.PathLike) -> Found:
    """The image files of a folder (recursively, hidden entries skipped) or of a ``.txt`` list, with their labels."""
    src = Path(source)
    if not src.exists():
        raise DataError(f"{src}: no such folder or file; pass a folder of images or a .txt list of image paths")
    if src.is_dir():
        return _find_in_folder(src)
    if src.suffix.lower() == ".txt":
        return _read_list(src)
    raise DataError(f"{src}: not a folder of images nor a .txt list; pass a folder or a .txt file of image paths")


def _find_in_folder(root: Path) -> Found:
    found: list[tuple[str, str]] = []  # (class folder or "", relative path)
    try:
        for dirpath, dirnames, filenames in os.walk(root, onerror=_raise):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = Path(dirpath).relative_to(root)
            for name in sorted(filenames):
                if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                    found.append((rel.parts[0] if rel.parts else "", (rel / name).as_posix()))
    except OSError as e:
        raise DataError(
            f"{e.filename or root}: cannot list the folder ({e.strerror or e}); check its permissions"
        ) from e
    if not found:
        raise DataError(
            f"{root}: no image files found (searched sub-folders too for "
            f"{', '.join(s[1:] for s in IMAGE_SUFFIXES)}); check the folder, or pass a .txt list of image paths"
        )
    labels, classes = None, []
    if all(c for c, _ in found):  # every file in a class folder: ImageFolder's labels and order
        classes = sorted({c for c, _ in found})
        at = {c: i for i, c in enumerate(classes)}
        found.sort(key=lambda cf: (at[cf[0]], cf[1]))
        labels = np.array([at[c] for c, _ in found], dtype=np.int64)
    names = [rel for _, rel in found]
    return Found(root, [root / n for n in names], names, labels, classes)


def _raise(e: OSError) -> None:
    raise e


def _read_list(path: Path) -> Found:
    """One image path a line (relative to the list's folder), optionally a tab and a label; '#' lines are comments."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(
            f"{path}: cannot read the list of images ({getattr(e, 'strerror', None) or e}); "
            "pass a UTF-8 text file with one image path a line"
        ) from e
    names, tags = [], []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, tag = line.partition("\t")
        names.append(name.strip())
        tags.append(tag.strip())
    if not names:
        raise DataError(f"{path}: the list names no images; write one image path a line")
    if not any((path.parent / n).exists() for n in names):  # not a list at all (a table of numbers saved as .txt)
        near = [n for n in names if (path.parent / re.split(r"[ ,;]", n)[0]).exists()]
        if near:  # a path and a label, but not a tab between them
            raise DataError(
                f"{path}: {near[0]!r} is a file name and more after it; separate each path from its label with a tab"
            )
        raise DataError(
            f"{path}: none of its {len(names)} lines names an existing file (first: {names[0]!r}); a .txt is read "
            "as a list of image paths, one a line (relative to its folder); save a table of numbers as .csv or .npy"
        )
    labels, classes = None, []
    if any(tags):
        if not all(tags):
            first = names[tags.index("")]
            raise DataError(
                f"{path}: {first} has no label but other lines have one; give every line a label "
                "(path, a tab, the label) or none"
            )
        classes = sorted(set(tags))
        at = {c: i for i, c in enumerate(classes)}
        labels = np.array([at[t] for t in tags], dtype=np.int64)
    return Found(path.parent, [path.parent / n for n in names], names, labels, classes)


# --------------------------------------------------------------------------- decoding
class BadImage(Exception):
    """A file that Pillow cannot read as an image."""


def _probe(path: Path) -> tuple[str, tuple[int, int]]:
    """('gray' or 'rgb', (height, width) as shown, EXIF rotation applied) from the file's header."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode, (w, h) = im.mode, im.size
            if mode in ("P", "PA"):
                pal = np.array(im.getpalette() or [0, 0, 0], dtype=np.int64).reshape(-1, 3)
                gray = bool(np.all(pal[:, 0] == pal[:, 1]) and np.all(pal[:, 1] == pal[:, 2]))
            else:
                gray = mode in _GRAY_MODES
            if _rotated(im) in (5, 6, 7, 8):  # turned a quarter: width and height swap
                w, h = h, w
    except Exception as e:  # Pillow raises many types for bad files: UnidentifiedImageError, OSError, SyntaxError …
        raise BadImage(_reason(e, Path(path))) from None
    return ("gray" if gray else "rgb"), (h, w)


_EXIF_IN_HEADER = ("JPEG", "MPO", "TIFF", "WEBP")  # formats whose EXIF comes before the pixels


def _rotated(im) -> int:
    """The EXIF orientation of a photo format (1: as stored). Other formats count as stored: PNG keeps EXIF after
    the pixels, and Pillow would decode the whole image to find it."""
    return int(im.getexif().get(0x0112, 1)) if im.format in _EXIF_IN_HEADER else 1


def _reason(e: BaseException, path: Path) -> str:
    """Pillow's message without the file's name (the error line names it once, first)."""
    text = " ".join(str(e).split())
    for name in {str(getattr(e, "filename", None) or path), str(path)}:
        text = text.replace(f"'{name}'", "").replace(name, "")
    text = text.replace("file ''", "file").replace("file ;", "file;").strip(" :'\"")
    return text or type(e).__name__


def _to_mode(im, color: str):
    """`im` as a Pillow image in mode L (gray) or RGB; 16-bit and float images scaled to 8 bits, not clipped."""
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(im)
        if im.mode == "F":
            a = np.clip(a * 255 if float(a.max(initial=0)) <= 1 else a, 0, 255)
        else:  # 16 bits: 0 … 65535 onto 0 … 255, rounded
            a = (np.clip(a.astype(np.int64), 0, 65535) * 255 + 32767) // 65535
        im = Image.fromarray(np.asarray(np.rint(a), dtype=np.uint8))
    if im.mode in ("P", "PA") and "transparency" in im.info:
        im = im.convert("RGBA")  # Pillow's advice for palettes with transparency
    target = "L" if color == "gray" else "RGB"
    return im if im.mode == target else im.convert(target)


def decode_image(
    path: str | os.PathLike, *, color: str, size: tuple[int, int] | None = None, resize: str = "crop"
) -> np.ndarray:
    """One image file as uint8 (channels, height, width): first frame, EXIF rotation applied, alpha dropped (as
    ImageFolder's ``convert("RGB")``), resized to `size` (height, width) by `resize`; raises BadImage."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            if size is not None:
                im.draft("L" if color == "gray" else "RGB", (size[1], size[0]))  # JPEG: decode at a smaller scale
            im.load()
            if _rotated(im) != 1:
                im = ImageOps.exif_transpose(im)
            im = _to_mode(im, color)
            if size is not None and im.size != (size[1], size[0]):
                if resize == "crop":
                    im = ImageOps.fit(im, (size[1], size[0]), method=Image.Resampling.BILINEAR)
                else:
                    im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
    except Exception as e:
        raise BadImage(_reason(e, Path(path))) from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def run_parallel(fn: Callable[[int], Any], n: int, workers: int | None = None) -> list[Any]:
    """`fn(i)` for i in 0 … n-1 on a thread pool (Pillow's decoders and resizers release the GIL); each result, or
    the BadImage it raised."""

    def safe(i: int):
        try:
            return fn(i)
        except BadImage as e:
            return e

    workers = workers or os.cpu_count() or 1  # decoding is CPU work: one thread per core
    if workers <= 1 or n < 8:
        return [safe(i) for i in range(n)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(safe, range(n), chunksize=max(1, min(64, n // (4 * workers)))))


def bad_file_error(found: Found, bad: list[tuple[int, str]]) -> DataError:
    i, reason = bad[0]
    more = f" ({len(bad) - 1} more unreadable file{'s' * (len(bad) > 2)})" if len(bad) > 1 else ""
    return DataError(
        f"{found.files[i]}: cannot read it as an image ({reason}){more}; remove or replace it, or {SKIP_HINT}"
    )


@dataclass
class Plan:
    """What every image becomes: its colour, its size, and which files are kept."""

    color: str
    size: tuple[int, int]
    keep: list[int]
    skipped: list[tuple[str, str]]  # (name, reason)
    note: str | None = None


def plan_images(
    found: Found, size: tuple[int, int] | None, color: str | None, skip_bad: bool, workers: int | None = None
) -> Plan:
    """Read every header: refuse (or skip) unreadable files, choose the colour, check that the sizes agree. With both
    a size and a colour nothing needs the headers: files that cannot be read are found when they are decoded."""
    if size is not None and color is not None:
        return Plan(color, size, list(range(len(found.files))), [])
    probes = run_parallel(lambda i: _probe(found.files[i]), len(found.files), workers)
    bad = [(i, str(p)) for i, p in enumerate(probes) if isinstance(p, BadImage)]
    if bad and not skip_bad:
        raise bad_file_error(found, bad)
    keep = [i for i, p in enumerate(probes) if not isinstance(p, BadImage)]
    if not keep:
        raise DataError(
            f"{found.root}: none of the {len(found.files)} files can be read as an image "
            f"(first: {found.names[bad[0][0]]}, {bad[0][1]}); check the files"
        )
    note = None
    if color is None:
        n_gray = sum(probes[i][0] == "gray" for i in keep)
        color = "gray" if n_gray * 2 > len(keep) else "rgb"
        if 0 < n_gray < len(keep):
            note = (
                f"{found.root}: {n_gray} of {len(keep)} images are grayscale and the rest colour; reading all as "
                f"{color} (the majority); pass {option('color', 'gray')} or {option('color', 'rgb')} to choose"
            )
    if size is None:
        sizes = {probes[i][1] for i in keep}
        if len(sizes) > 1:
            (a, sa), (b, sb) = [
                next((found.names[i], probes[i][1]) for i in keep if probes[i][1] == s) for s in list(sizes)[:2]
            ]
            raise DataError(
                f"{found.root}: the images have {len(sizes)} different sizes ({a} is {sa[0]}x{sa[1]}, "
                f"{b} is {sb[0]}x{sb[1]}, height x width); pass {option('image_size', 64)} (or HEIGHTxWIDTH) "
                "to resize them"
            )
        size = sizes.pop()
    return Plan(color, size, keep, [(found.names[i], r) for i, r in bad], note)


__all__ = [
    "Found",
    "find_images",
    "decode_image",
    "plan_images",
    "Plan",
    "BadImage",
    "parse_image_size",
    "check_image_options",
    "is_image_source",
    "IMAGE_SUFFIXES",
    "RESIZES",
    "COLORS",
]
