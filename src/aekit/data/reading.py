"""Reading rows in blocks and batches: from a tensor by ``index_select``, from an image cache as floats in [0, 1],
and from a float32 memmap's file with ``pread`` (one call per run of consecutive rows), so that neither the file
nor its mapping enters the process's memory. `aekit.data.rows` checks and places the rows these read."""

from __future__ import annotations

import os
import weakref

import numpy as np
import torch

from aekit.data.pixels import PixelRows
from aekit.data.scans import file_offset, release_pages, same_file_as_loaded
from aekit.errors import DataError


def _blocks(x: torch.Tensor | np.memmap, rows: int | None = None):
    """(first row, tensor) of consecutive row blocks of about 16 MB (a memmap's read as `_rows` reads it)."""
    rows = rows or max(1, (16 << 20) // (4 * max(1, x.shape[1])))
    for start in range(0, x.shape[0], rows):
        yield start, _rows(x, slice(start, start + rows))


def _rows(x: torch.Tensor | np.memmap, idx: torch.Tensor | slice) -> torch.Tensor:
    """Rows `idx` (sorted indices or a slice of step 1) of a tensor or a memmap, as a tensor (a copy for a memmap).

    A memmap's rows are read with ``pread`` where a file backs it (one read per run), which maps nothing; else
    they are copied through the mapping and its pages released (an ``madvise`` over the whole mapping, ~9 µs on
    a 1.75 GB file, so only then).
    """
    if isinstance(x, torch.Tensor):
        return x[idx] if isinstance(idx, slice) else x.index_select(0, idx)
    if isinstance(x, PixelRows):
        return torch.from_numpy(x.read(np.arange(*idx.indices(len(x))) if isinstance(idx, slice) else idx.numpy()))
    rows = np.arange(*idx.indices(x.shape[0])) if isinstance(idx, slice) else idx.numpy()
    read = _read_runs(x, rows) if len(rows) else None
    if read is not None:
        return torch.from_numpy(read)
    out = torch.from_numpy(np.array(x[idx]) if isinstance(idx, slice) else np.asarray(x[idx.numpy()]))
    release_pages(x)
    return out


def _read_runs(x: np.memmap, idx: np.ndarray) -> np.ndarray | None:
    """Rows `idx` (sorted) of a 2-D float32 C-ordered memmap read with one ``pread`` per run of consecutive rows (a
    lone row is a run of one), or None for other memmaps (see `_run_reader`)."""
    read = _run_reader(x, idx, len(idx))
    return None if read is None else read(0)


def _run_reader(x: np.memmap, order: np.ndarray, batch_size: int):
    """A function `k` -> the rows ``order[k * batch_size:(k + 1) * batch_size]`` of memmap `x` as an array, read
    with one ``pread`` per run of consecutive rows (`order` sorted within each batch); None for memmaps whose rows
    cannot be read so (no file behind it, another dtype or layout, or ``mode='c'``, whose changes in memory the file
    does not hold).

    A ``pread`` copies from the page cache and maps nothing, so RSS does not grow and nothing needs releasing.
    Through the mapping each row costs page faults, and where the kernel maps large page-cache folios whole, each
    lone row maps up to 2 MB until released: a batch of 256 lone rows took 1.6 ms that way, 0.43 ms by 256 calls
    to ``pread`` (docs/performance.md). The runs of every batch (where they go in the batch, where they are in the
    file) are found for the whole `order` at once: found batch by batch, that numpy work cost more than the reads.
    """
    if (
        getattr(x, "filename", None) is None
        or getattr(x, "_mmap", None) is None
        or not isinstance(x.offset, int)
        or x.dtype != np.float32
        or x.ndim != 2
        or not x.flags.c_contiguous
        or x.mode == "c"
    ):
        return None  # not plain float32 rows of a file, or copy-on-write: changes made in memory are not in the file
    fd = _reader(x)
    if fd is None:
        return None
    n, row_bytes = len(order), x.shape[1] * x.itemsize
    new = np.ones(n, dtype=bool)  # where a run starts: at each batch's first row and after each gap
    new[1:] = np.diff(order) != 1
    new[::batch_size] = True
    starts = np.flatnonzero(new)
    runs = np.empty((len(starts), 3), dtype=np.int64)  # per run: first and end byte in its batch, position in the file
    runs[:, 0] = starts % batch_size * row_bytes
    runs[:, 1] = runs[:, 0] + np.diff(starts, append=n) * row_bytes
    runs[:, 2] = file_offset(x) + order[starts].astype(np.int64) * row_bytes
    bounds = np.searchsorted(
        starts, np.arange(0, n + batch_size, batch_size)
    ).tolist()  # batch k: runs bounds[k]:bounds[k + 1]

    def read(k: int) -> np.ndarray:
        out = np.empty((min(batch_size, n - k * batch_size), x.shape[1]), dtype=np.float32)
        view = memoryview(out).cast("B")
        for a, b, at in runs[bounds[k] : bounds[k + 1]].tolist():  # Python ints: the loop stays cheap
            if (
                os.preadv(fd, [view[a:b]], at) != b - a
            ):  # through the mapping, these bytes would kill the process (SIGBUS)
                raise DataError(
                    f"{x.filename}: the file is shorter than when it was loaded (it was changed while in use); "
                    "restore it, or load it again and start again"
                )
        return out

    return read


_READERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a mapping -> a descriptor of its file, or -1


def _reader(x: np.memmap) -> int | None:
    """A descriptor of the file memmap `x` maps, opened on its first read and closed when the mapping goes (so a
    file replaced later is still the one read); None where the file cannot be opened, or where the path names
    another file than the one `load_array` mapped (replaced in between: the rows are read through the mapping)."""
    mm = x._mmap
    fd = _READERS.get(mm)
    if fd is None:
        try:
            fd = os.open(x.filename, os.O_RDONLY)
        except OSError:
            fd = -1
        else:
            if same_file_as_loaded(x, os.fstat(fd)):
                weakref.finalize(mm, os.close, fd)
            else:
                os.close(fd)
                fd = -1
        _READERS[mm] = fd
    return fd if fd >= 0 else None


def sort_batches(order: torch.Tensor, batch_size: int) -> torch.Tensor:
    """`order` with the rows of each batch (each `batch_size` slice) sorted, in one sort for the epoch: a batch's rows
    and so its gradient are the same (up to float summation order), and a memmap's reads go forward in the file."""
    full = len(order) // batch_size * batch_size
    if full == 0:  # one batch, shorter than batch_size: torch's sort of a (0, batch_size) view allocates for its width
        return order.sort().values
    head = order[:full].reshape(-1, batch_size).sort(dim=1).values.reshape(-1)
    return torch.cat([head, order[full:].sort().values]) if full < len(order) else head


def batch_reader(x: torch.Tensor | np.memmap, order: torch.Tensor, batch_size: int, transform=None):
    """A function `k` -> the tensor of rows ``order[k * batch_size:(k + 1) * batch_size]`` of `x`, `order` sorted
    within each batch (`sort_batches`): ``index_select`` from a tensor, ``pread``s of runs from a memmap's file (or
    from an image cache's, as floats in [0, 1]); `transform` (a model's `scale_rows`) is applied to each batch."""
    read = None
    if isinstance(x, PixelRows):
        positions = order.numpy()
        read = lambda k: torch.from_numpy(x.read(positions[k * batch_size : (k + 1) * batch_size]))  # noqa: E731
    elif isinstance(x, np.memmap):
        runs = _run_reader(x, order.numpy(), batch_size)
        if runs is not None:
            read = lambda k: torch.from_numpy(runs(k))  # noqa: E731
    if read is None:
        read = lambda k: _rows(x, order[k * batch_size : (k + 1) * batch_size])  # noqa: E731
    return read if transform is None else lambda k: transform(read(k))
