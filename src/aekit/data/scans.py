"""What the data checks already know about a memory-mapped file, so that a large ``.npy`` is read once, not three times.

`aekit.load_array` scans a float32 ``.npy`` for NaN/inf as it loads it; `fit` (and `aekit train`) would then scan
the same bytes again for NaN/inf and once more for the [0, 1] range. Each pass over a 1.75 GiB file took about
0.4 s. `remember` records, for the bytes a scan covered, that they are finite and their (min, max); `known_range`
answers for any read-only memmap whose bytes lie inside such a span. A span is keyed by the file's path, size and
modification time, so a file that changed since is scanned again. `note_loaded` records which file (device, inode) a
memmap maps, so that reads by path (`aekit.data.rows` reads rows with ``pread``) can tell a file replaced since.
"""

from __future__ import annotations

import mmap
import os
import weakref
from collections import OrderedDict

import numpy as np

_Key = tuple[str, int, int]
_SPANS: OrderedDict[_Key, list[tuple[int, int, float, float]]] = OrderedDict()
_MAX_FILES = 32  # the oldest files' spans are forgotten first
_LOADED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a memmap's mapping -> (device, inode) of its file


def file_offset(x: np.memmap) -> int:
    """The position in its file of the first byte that memmap `x` (or a view of one) shows."""
    base = np.frombuffer(x._mmap, dtype=np.uint8).ctypes.data  # the mapping starts at offset - offset % granularity
    return x.ctypes.data - base + x.offset - x.offset % mmap.ALLOCATIONGRANULARITY


def release_pages(x) -> None:
    """Unmap the resident pages of read-only memmap `x` (``madvise(MADV_DONTNEED)``); nothing for other arrays.

    File-backed pages count in RSS; the page cache keeps them, so a later read costs a page fault, not the disk.
    Releasing after each block or batch keeps a pass over a memmap bigger than RAM at about one block of RSS.
    """
    mm = getattr(x, "_mmap", None) if isinstance(x, np.memmap) and x.mode == "r" else None
    if mm is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    try:
        mm.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # a closed mapping: nothing resident
        pass


def _span(x) -> tuple[_Key, int, int] | None:
    """(file identity, first byte, end byte) of the bytes a read-only, C-ordered float32 memmap views; else None."""
    if not (
        isinstance(x, np.memmap) and x.mode == "r" and x.filename and x.dtype == np.float32 and x.flags.c_contiguous
    ):
        return None
    mm = getattr(x, "_mmap", None)
    if mm is None or not isinstance(x.offset, int):
        return None
    try:
        st = os.stat(x.filename)
    except OSError:
        return None
    first = file_offset(x)
    return (str(x.filename), st.st_size, st.st_mtime_ns), first, first + x.nbytes


def note_loaded(x) -> None:
    """Record which file (device, inode) memmap `x` maps, as `load_array` maps it (its path may name another later)."""
    mm = getattr(x, "_mmap", None) if isinstance(x, np.memmap) else None
    try:
        st = os.stat(x.filename) if mm is not None and x.filename else None
    except OSError:
        return
    if st is not None:
        _LOADED[mm] = (st.st_dev, st.st_ino)


def same_file_as_loaded(x, st: os.stat_result) -> bool:
    """False only where `load_array` mapped another file for memmap `x` than the one `st` describes (its path was
    replaced since: the mapping still shows the old file); True where nothing was recorded."""
    loaded = _LOADED.get(getattr(x, "_mmap", None)) if isinstance(x, np.memmap) else None
    return loaded is None or loaded == (st.st_dev, st.st_ino)


def remember(x, lo: float, hi: float) -> None:
    """Record that every value of memmap `x` is finite and lies in [lo, hi] (nothing for other arrays)."""
    span = _span(x)
    if span is None:
        return
    key, first, end = span
    _SPANS.setdefault(key, []).append((first, end, float(lo), float(hi)))
    _SPANS.move_to_end(key)
    while len(_SPANS) > _MAX_FILES:
        _SPANS.popitem(last=False)


def known_range(x) -> tuple[float, float] | None:
    """(lo, hi) from a recorded scan whose bytes hold all of memmap `x`: its values are finite and lie within
    [lo, hi] (the range of the whole scanned span, so it may be wider than that of `x`); None if unknown."""
    span = _span(x)
    if span is None:
        return None
    key, first, end = span
    for a, b, lo, hi in _SPANS.get(key, ()):
        if a <= first and end <= b:
            return lo, hi
    return None
