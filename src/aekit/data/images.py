"""A user's images: a folder of image files (searched recursively) or a ``.txt`` list of them, decoded once.

``load_images("photos/", image_size=64)`` finds PNG, JPEG, BMP, GIF (first frame), TIFF and WebP files, labels
each by its first sub-folder (torchvision's ImageFolder order: class folders sorted by name, files sorted by path),
decodes them with Pillow in parallel threads into uint8 pixels (n, channels, height, width) and keeps those in
aekit's cache folder, ``cache_dir()/images/<key>/`` (``pixels.npy`` and ``manifest.json``), so that later epochs and
runs memory-map them instead of decoding again. Training reads them as float32 rows in [0, 1], a batch at a time
(`aekit.data.pixels.PixelRows`).

The key hashes the folder, every file's name, size and modification time, its label and the options: a changed
folder is decoded again, and the cache of its earlier version (same options) is deleted. Both files are written
under temporary names and renamed into place, the manifest last, so an interrupted decode is never used. Rows are
written with ``pwrite``, never through a mapping, so a full disk is an error naming the file, not a crash.

Options: `image_size` (64 or "64x48", height × width) resizes every image, keeping its aspect ratio with a centre
crop (``resize="crop"``) or not (``"stretch"``); `color` "gray" or "rgb" (default: what the files are; a mixed
folder follows the majority, with a warning). Without `image_size` all images must have one size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aekit.data.image_files import (
    Found,
    Plan,
    bad_file_error,
    check_image_options,
    decode_image,
    find_images,
    plan_images,
    run_parallel,
)
from aekit.data.pixels import PixelRows
from aekit.errors import AekitWarning, DataError, option
from aekit.files import atomic_write, one_line, removed_on_failure

FORMAT = 1  # bump when what a cache holds changes: older caches are then decoded again
PIXELS, MANIFEST = "pixels.npy", "manifest.json"


class ImageNote(AekitWarning):
    """Something about an image folder worth knowing that does not stop a run (mixed colour, skipped files)."""


@dataclass
class ImageSet:
    """Decoded images: uint8 `pixels` (n, C, H, W), a memmap of the cache (or an array), with what they came from."""

    pixels: np.ndarray
    names: list[str]  # each image's path, relative to `root` for a folder, as written for a list
    labels: np.ndarray | None
    classes: list[str]
    root: Path
    color: str
    resize: str
    skipped: list[tuple[str, str]]  # files skipped as unreadable: (name, reason)
    cache: Path | None = None  # the cache folder, or None when decoded in memory
    note: str | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.pixels.shape[1:])

    def rows(self) -> PixelRows:
        """Every image as a float32 row in [0, 1], converted a batch at a time as it is read."""
        return PixelRows(self.pixels)

    def record(self) -> dict[str, Any]:
        """What a run's config.json keeps of the set: counts, classes, colour, size, cache."""
        return {
            "n_images": len(self.names),
            "image_shape": list(self.image_shape),
            "color": self.color,
            "resize": self.resize,
            "classes": list(self.classes),
            "skipped": len(self.skipped),
            "skipped_files": [n for n, _ in self.skipped[:100]],
            "cache": None if self.cache is None else str(self.cache),
        }


def load_images(
    source: str | os.PathLike,
    *,
    image_size: Any = None,
    resize: str = "crop",
    color: str | None = None,
    skip_bad: bool = False,
    cache: bool | str | os.PathLike = True,
    workers: int | None = None,
) -> ImageSet:
    """Decode a folder of images (or a .txt list) once into a uint8 cache and return the memory-mapped set.

    `cache`: True (aekit's cache folder, ``$AEKIT_CACHE`` honoured), a folder to keep it in, or False (decode into
    memory, nothing written). Unreadable files stop with a DataError naming the file, or with `skip_bad` are left out
    and listed in ``skipped``; a mixed folder's colour follows the majority with an `ImageNote` warning.
    """
    size, resize, color = check_image_options(image_size, resize, color)
    found = find_images(source)
    result = _cached_images(found, size, resize, color, skip_bad, cache, workers)
    if result.note:
        warnings.warn(result.note, ImageNote, stacklevel=2)
    if result.skipped:
        warnings.warn(skipped_note(found.root, result.skipped), ImageNote, stacklevel=2)
    return result


def skipped_note(root: Path, skipped: list[tuple[str, str]]) -> str:
    """The warning line of files skipped as unreadable, (name, reason) each."""
    first = skipped[0]
    return f"{root}: skipped {len(skipped)} unreadable file{'s' * (len(skipped) > 1)} (first: {first[0]}, {first[1]})"


def readable(found: Found, candidates: list[int], bad: list[tuple[int, str]], skip_bad: bool) -> list[int]:
    """`candidates` (indices of `found`'s files) without the files that failed to decode, `bad` as (index, reason):
    any bad file is refused unless `skip_bad`, and so is a folder of which none can be read."""
    if not bad:
        return list(candidates)
    if not skip_bad:
        raise bad_file_error(found, bad)
    failed = {i for i, _ in bad}
    keep = [i for i in candidates if i not in failed]
    if not keep:
        raise DataError(
            f"{found.root}: none of the {len(found.files)} files can be read as an image "
            f"(first: {found.names[bad[0][0]]}, {bad[0][1]}); check the files"
        )
    return keep


def _free_bytes(folder: Path | None) -> int | None:
    """Free space where the decoded set goes: the disk under `folder` (the cache), or memory when None."""
    try:
        if folder is not None:
            while not folder.exists() and folder != folder.parent:
                folder = folder.parent
            return shutil.disk_usage(folder).free
        if os.path.exists("/proc/meminfo"):  # MemAvailable counts the page cache the system would give back
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):  # a system that cannot tell: let the writes decide
        return None


def check_room(found: Found, plan, folder: Path | None) -> None:
    """Refuse, before decoding, a set whose pixels do not fit where they go (the cache's disk, or memory without a
    cache), or one image that cannot be decoded in memory: an `image_size` far too large, said in one line."""
    channels = 1 if plan.color == "gray" else 3
    one = channels * plan.size[0] * plan.size[1]
    where = [(len(plan.keep) * one, folder, f"free on the disk of the cache ({folder})" if folder else "of memory")]
    if folder is not None:
        where.append((4 * one, None, "of memory to decode one image"))
    for need, place, what in where:
        free = _free_bytes(place)
        if free is not None and need > free:
            raise DataError(
                f"{found.root}: {len(plan.keep)} images of {plan.size[0]}x{plan.size[1]} ({plan.color}) need "
                f"{need / 2**30:,.1f} GiB, but only {free / 2**30:,.1f} GiB is {what}; pass a smaller "
                f"{option('image_size')}"
                + ("" if folder is None else ", or set AEKIT_CACHE to a folder on a larger disk")
            )


# --------------------------------------------------------------------------- the cache
def cache_key(found: Found, size, resize: str, color: str | None, skip_bad: bool) -> tuple[str, dict[str, Any]]:
    """(hex key, the options part) for the files of `found` as they are now on disk."""
    stats = []
    for f in found.files:
        try:
            st = os.stat(f)
            stats.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stats.append((-1, -1))  # a missing or unreadable file: reported when it is read
    options = {
        "format": FORMAT,
        "source": str(found.root.resolve()),
        "size": None if size is None else list(size),
        "resize": resize,
        "color": color,
        "skip_bad": bool(skip_bad),
    }
    h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    labels = found.labels.tolist() if found.labels is not None else [None] * len(found.files)
    for name, label, st in zip(found.names, labels, stats):
        h.update(json.dumps([name, label, *st]).encode() + b"\n")
    h.update(json.dumps(found.classes).encode())
    return h.hexdigest()[:32], options


def _cached_images(found: Found, size, resize: str, color: str | None, skip_bad: bool, cache, workers) -> ImageSet:
    """The decoded set: from the cache when it holds this exact version of the files, else decoded (and cached)."""
    if cache is False or cache is None:
        plan = plan_images(found, size, color, skip_bad, workers)
        check_room(found, plan, None)
        c = 1 if plan.color == "gray" else 3
        out = np.empty((len(plan.keep), c, *plan.size), dtype=np.uint8)

        def one(j: int) -> None:
            out[j] = decode_image(found.files[plan.keep[j]], color=plan.color, size=plan.size, resize=resize)

        results = run_parallel(one, len(plan.keep), workers)
        new = _after_decode(found, plan, results, skip_bad)
        if len(new.keep) < len(plan.keep):
            out = out[[j for j, r in enumerate(results) if r is None]]
        labels = None if found.labels is None else found.labels[new.keep]
        return ImageSet(
            out,
            [found.names[i] for i in new.keep],
            labels,
            list(found.classes),
            found.root.resolve(),
            new.color,
            resize,
            new.skipped,
            None,
            new.note,
        )
    if cache is True:
        from aekit.data.datasets import cache_dir

        base = cache_dir() / "images"
    else:
        base = Path(cache)
    key, options = cache_key(found, size, resize, color, skip_bad)
    folder = base / key
    hit = _read_cache(folder, key)
    if hit is not None:
        return hit
    plan = plan_images(found, size, color, skip_bad, workers)  # bad files and sizes are refused before any write
    check_room(found, plan, base)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"{e.filename or folder}: cannot create the image cache ({one_line(e.strerror or e)}); set "
            "AEKIT_CACHE to a writable folder"
        ) from e
    try:
        plan = _decode_into_file(found, plan, resize, skip_bad, workers, folder / PIXELS)
    except BaseException:
        try:
            folder.rmdir()  # only if empty: nothing of this decode is left behind
        except OSError:
            pass
        raise
    manifest = {
        "key": key,
        "options": options,
        "source": options["source"],
        "resize": resize,
        "names": [found.names[i] for i in plan.keep],
        "labels": None if found.labels is None else found.labels[plan.keep].tolist(),
        "classes": found.classes,
        "color": plan.color,
        "shape": [len(plan.keep), 1 if plan.color == "gray" else 3, *plan.size],
        "skipped": [list(s) for s in plan.skipped],
        "note": plan.note,
    }
    try:
        atomic_write(folder / MANIFEST, lambda f: f.write(json.dumps(manifest).encode()))
    except DataError as e:
        raise DataError(f"{e}, or set AEKIT_CACHE to another folder") from None
    _prune(base, key, options)
    hit = _read_cache(folder, key)
    if hit is None:
        raise DataError(
            f"{folder}: the image cache just written cannot be read back; check the disk, or set "
            "AEKIT_CACHE to another folder"
        )
    return hit


def _read_cache(folder: Path, key: str) -> ImageSet | None:
    """The set in `folder` if its manifest is complete and for `key`, with pixels of the shape it records; else None."""
    try:
        m = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if m.get("key") != key:
            return None
        pixels = np.load(folder / PIXELS, mmap_mode="r", allow_pickle=False)
        if pixels.dtype != np.uint8 or list(pixels.shape) != m["shape"] or len(m["names"]) != len(pixels):
            return None
        labels = None if m["labels"] is None else np.asarray(m["labels"], dtype=np.int64)
        return ImageSet(
            pixels,
            m["names"],
            labels,
            list(m["classes"]),
            Path(m["source"]),
            m["color"],
            m["resize"],
            [tuple(s) for s in m["skipped"]],
            folder,
            m.get("note"),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # no cache yet, or a damaged one: decode again


def _prune(base: Path, key: str, options: dict[str, Any]) -> None:
    """Delete the caches of earlier versions of the same source with the same options (best effort)."""
    try:
        siblings = [p for p in base.iterdir() if p.is_dir() and p.name != key]
    except OSError:
        return
    for p in siblings:
        try:
            m = json.loads((p / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(m, dict) and m.get("options") == options:
            shutil.rmtree(p, ignore_errors=True)


def _after_decode(found: Found, plan: Plan, results: list, skip_bad: bool) -> Plan:
    """The plan without the files that failed to decode (refused unless `skip_bad`)."""
    bad = [(plan.keep[j], str(r)) for j, r in enumerate(results) if r is not None]
    if not bad:
        return plan
    keep = readable(found, plan.keep, bad, skip_bad)
    return Plan(plan.color, plan.size, keep, plan.skipped + [(found.names[i], r) for i, r in bad], plan.note)


def _new_npy(path: Path, shape: tuple[int, ...]):
    """(file, header length, temporary path) of a new uint8 .npy of `shape` beside `path`, its rows not yet written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    f = os.fdopen(fd, "w+b")
    np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
    f.flush()
    header = f.tell()
    os.ftruncate(f.fileno(), header + int(np.prod(shape)))
    return f, header, tmp


def _decode_into_file(found: Found, plan: Plan, resize: str, skip_bad: bool, workers, path: Path) -> Plan:
    """Decode the planned files into the .npy `path` (written under a temporary name, then renamed); the final plan."""
    c = 1 if plan.color == "gray" else 3
    row = c * plan.size[0] * plan.size[1]
    tmps: list[str] = []

    def failed(e: OSError) -> str:
        return (
            f"{e.filename or path}: cannot write the image cache ({one_line(e.strerror or e)}); "
            "check free space and permissions, or set AEKIT_CACHE to another folder"
        )

    with removed_on_failure(tmps, failed):
        f, header, tmp = _new_npy(path, (len(plan.keep), c, *plan.size))
        tmps.append(tmp)
        with f:

            def one(j: int) -> None:
                a = decode_image(found.files[plan.keep[j]], color=plan.color, size=plan.size, resize=resize)
                if os.pwrite(f.fileno(), a.tobytes(), header + j * row) != row:
                    raise OSError(28, "short write (is the disk full?)", tmp)

            results = run_parallel(one, len(plan.keep), workers)
            new = _after_decode(found, plan, results, skip_bad)
            if len(new.keep) < len(plan.keep):  # some failed to decode: a second file without their rows
                good = [j for j, r in enumerate(results) if r is None]
                g, header2, tmp = _new_npy(path, (len(good), c, *plan.size))
                tmps.append(tmp)
                with g:
                    for dest, src in enumerate(good):
                        os.pwrite(g.fileno(), os.pread(f.fileno(), row, header + src * row), header2 + dest * row)
                    os.fsync(g.fileno())
            else:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        for t in tmps[:-1]:  # the first file, when a second one without the failed rows replaced it
            os.unlink(t)
        return new


__all__ = ["load_images", "ImageSet", "ImageNote", "cache_key", "PIXELS", "MANIFEST"]
