"""Reading and writing data: IDX files (MNIST's format) and user arrays/tables (.npy, .csv, .parquet).

Every problem a user can cause with their input is raised as a one-line :class:`~aekit.errors.DataError`
naming the file, the problem and the fix. Locating, downloading and loading MNIST / Fashion-MNIST lives in
:mod:`aekit.datasets`; its public names are re-exported here.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DataError
from .scans import release_pages, remember

__all__ = [
    "read_idx", "write_idx", "load_array", "read_table", "write_table", "check_range",
    "Dataset", "load_dataset", "find_dataset", "download", "cache_dir", "TABLE_SUFFIXES",
]

#: IDX type code -> big-endian dtype stored in the file.
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {dt.newbyteorder("=").name: code for code, dt in IDX_DTYPES.items()}
_IDX_SUPPORTED = "0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double"
TABLE_SUFFIXES = (".npy", ".csv", ".parquet")
_CSV_NA = ["", "nan", "NaN", "NAN", "-nan", "-NaN", "NA"]  # read as missing values; anything else must be a number
_CHUNK_BYTES = 64 << 20  # scans of big arrays go in blocks of about this size
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _show(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file; pass the path of a data file")


# ----------------------------------------------------------------------------------------------- IDX
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed, detected by its magic bytes).

    Parameters
    ----------
    path : str or PathLike
        The file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    numpy.ndarray
        A native-byte-order array whose shape is the dimensions in the header.

    Raises
    ------
    DataError
        The file is missing, not IDX, of an unsupported type, truncated, has trailing bytes, or is corrupt gzip.
    """
    path = Path(path)
    data = _read_maybe_gzip(path)
    fix = "download it again or pass a valid IDX file"
    if len(data) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(data)} bytes); {fix}")
    if data[0] or data[1]:
        raise DataError(f"{path}: not an IDX file (starts with {data[:4].hex(' ')}, "
                        f"IDX starts with 00 00 <type> <ndim>); {fix}")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise DataError(f"{path}: unsupported IDX data type code 0x{code:02X} (supported: {_IDX_SUPPORTED}); {fix}")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions; {fix}")
    start = 4 + 4 * ndim
    if len(data) < start:
        raise DataError(f"{path}: truncated IDX header ({ndim} dimensions need {start} bytes, "
                        f"the file has {len(data)}); {fix}")
    dims = struct.unpack(f">{ndim}I", data[4:start])
    dtype = IDX_DTYPES[code]
    count = math.prod(dims)
    expected, got = count * dtype.itemsize, len(data) - start
    if got < expected:
        raise DataError(f"{path}: truncated: the header promises shape {dims} ({expected} bytes of data) "
                        f"but only {got} bytes follow; {fix}")
    if got > expected:
        raise DataError(f"{path}: {got - expected} trailing bytes after the data of shape {dims}; {fix}")
    native = dtype.newbyteorder("=")
    if count == 0:
        try:
            return np.zeros(dims, dtype=native)
        except ValueError:  # an empty shape whose other dimensions are too large for numpy to describe
            raise DataError(f"{path}: the header declares shape {dims}, which holds no values and is too large to "
                            f"represent; {fix}") from None
    return np.frombuffer(data, dtype=dtype, count=count, offset=start).astype(native).reshape(dims)


def _read_maybe_gzip(path: Path) -> bytes:
    _check_file(path)
    compressed = False
    try:
        with open(path, "rb") as f:
            compressed = f.read(2) == b"\x1f\x8b"
            f.seek(0)
            if not compressed:
                return f.read()
            with gzip.GzipFile(fileobj=f, mode="rb") as g:
                return g.read()
    except (OSError, EOFError, zlib.error) as e:
        if compressed and not isinstance(e, PermissionError):
            raise DataError(f"{path}: corrupt or truncated gzip data ({_one_line(e)}); download the file again") from e
        raise DataError(f"{path}: cannot read the file ({_one_line(e.__class__.__name__)}: "
                        f"{_one_line(getattr(e, 'strerror', None) or e)}); check the path and its permissions") from e


def write_idx(path: str | os.PathLike, array) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends with ``.gz``; atomic.

    Supported dtypes: uint8, int8, int16, int32, float32, float64 (bool is written as uint8).
    """
    path = Path(path)
    arr = np.asarray(array)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    code = _IDX_CODES.get(arr.dtype.name)
    if code is None:
        raise DataError(f"{path}: IDX cannot store {arr.dtype} values; convert the array to one of "
                        "uint8, int8, int16, int32, float32, float64")
    if not 1 <= arr.ndim <= 255 or any(d >= 2**32 for d in arr.shape):
        raise DataError(f"{path}: IDX cannot store an array of shape {arr.shape}; "
                        "use 1 to 255 dimensions, each below 2**32")
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()

    def write(f):
        if path.name.lower().endswith(".gz"):
            with gzip.GzipFile(filename=path.name[:-3], fileobj=f, mode="wb", mtime=0) as g:
                g.write(header)
                g.write(payload)
        else:
            f.write(header)
            f.write(payload)

    _atomic_write(path, write)


def _atomic_write(path: Path, write: Callable) -> None:
    """Call ``write(binary_file)`` on a temp file next to ``path``, then rename it into place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise DataError(f"{path}: cannot write here ({_one_line(e.strerror or e)}); choose a writable folder") from e
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise DataError(f"{path}: cannot write ({_one_line(e.strerror or e)}); "
                            "check free space and permissions") from e
        raise


# -------------------------------------------------------------------------------------- user arrays
def load_array(path: str | os.PathLike, *, allow_nan: bool = False, mmap: bool = True) -> np.ndarray:
    """Load user data as a 2-D float32 array of shape (samples, features).

    Parameters
    ----------
    path : str or PathLike
        A ``.npy`` (never unpickled), ``.csv`` (header row detected: it is a header when every non-empty
        field of the first row is not a number) or ``.parquet`` file. 1-D data becomes one column;
        (n, h, w, ...) data is flattened to (n, h*w*...).
    allow_nan : bool
        Accept NaN (missing values); inf is refused either way.
    mmap : bool
        Memory-map ``.npy`` files. A float32 C-ordered ``.npy`` then stays an ``np.memmap`` (no copy).

    Raises
    ------
    DataError
        Missing file, unsupported suffix, unreadable or empty file, non-numeric values, NaN or inf.
    """
    return _load(Path(path), allow_nan=allow_nan, mmap=mmap)[0]


def read_table(path: str | os.PathLike, *, allow_nan: bool = False) -> tuple[np.ndarray, list[str] | None]:
    """Like :func:`load_array` (in memory, writable), also returning the column names (None if none)."""
    return _load(Path(path), allow_nan=allow_nan, mmap=False)


def _load(path: Path, *, allow_nan: bool, mmap: bool) -> tuple[np.ndarray, list[str] | None]:
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _load_npy(path, allow_nan, mmap), None
    if suffix == ".csv":
        return _load_csv(path, allow_nan)
    if suffix == ".parquet":
        return _load_parquet(path, allow_nan)
    raise DataError(f"{path}: unsupported file type {suffix or '(no suffix)'!r}; "
                    f"convert it to one of {', '.join(TABLE_SUFFIXES)}")


def _load_npy(path: Path, allow_nan: bool, mmap: bool) -> np.ndarray:
    try:
        with np.errstate(all="ignore"):  # a bogus header shape overflows numpy's size arithmetic: reported below
            raw = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as e:  # numpy raises ValueError, OSError, EOFError, SyntaxError... for bad files
        raise DataError(f"{path}: not a readable .npy file ({_one_line(e)}); "
                        "save a numeric array with numpy.save") from e
    if not isinstance(raw, np.ndarray):
        raw.close()
        raise DataError(f"{path}: holds an .npz archive, not a single array; save one array with numpy.save")
    if raw.dtype.kind not in "biuf":
        raise DataError(f"{path}: holds {raw.dtype} values, not numbers; save a numeric array")
    if raw.ndim == 0 or raw.size == 0:
        raise DataError(f"{path}: holds no data (shape {raw.shape}); save an array of shape (samples, features)")
    shape = (raw.shape[0], math.prod(raw.shape[1:]))
    as_is = raw.dtype == np.float32 and raw.dtype.isnative
    if as_is:
        x = raw.reshape(shape)  # a view (memmap stays memmap) unless Fortran-ordered with ndim > 2
    else:
        with np.errstate(over="ignore"):  # too-large values are reported by _check_finite below
            x = np.asarray(raw.astype(np.float32)).reshape(shape)
    if raw.dtype.kind == "f":
        if as_is and isinstance(raw, np.memmap) and raw.flags.c_contiguous:
            known = _scan_npy_file(path, raw, shape, allow_nan)  # plain reads: keeps the memmap's pages unmapped
            if known is not None:  # fit's own NaN/inf and [0, 1] checks of these bytes need not read them again
                remember(x, *known)
        else:
            _check_finite(x, allow_nan, lambda r, c: (f"at [{r}, {c}]", raw.reshape(shape)[r, c]), path)
    return x


def _scan_npy_file(path: Path, raw: np.ndarray, shape: tuple[int, int], allow_nan: bool) -> tuple[float, float] | None:
    """NaN/inf check of a float32 .npy by plain reads into one reused block (fresh buffers cost page faults),
    one ``aminmax`` per block (NaN and inf reach it); the exact, row-naming check runs only on a block that has
    one. Returns the (min, max) of the values, or None when NaN (allowed) made them unknown."""
    import torch

    offset = raw.offset if isinstance(raw, np.memmap) else 0
    rows = max(1, _CHUNK_BYTES // (shape[1] * 4))
    buf = np.empty((min(rows, shape[0]), shape[1]), dtype=np.float32)
    lo, hi, nan_seen = math.inf, -math.inf, False
    with open(path, "rb") as f:
        f.seek(offset)
        for start in range(0, shape[0], rows):
            block = buf[:min(rows, shape[0] - start)]
            if f.readinto(memoryview(block).cast("B")) != block.nbytes:
                raise DataError(f"{path}: the file is shorter than its header says (it changed while being read); "
                                "write it again with numpy.save")
            bmin, bmax = (float(v) for v in torch.aminmax(torch.from_numpy(block)))
            if not (math.isfinite(bmin) and math.isfinite(bmax)):
                _check_finite(block, allow_nan, lambda r, c: (f"at [{start + r}, {c}]", block[r, c]), path)
                nan_seen = True  # only NaN, and allowed: this block's range is unknown
                continue
            lo, hi = min(lo, bmin), max(hi, bmax)
    return None if nan_seen else (lo, hi)


def _check_finite(x: np.ndarray, allow_nan: bool, where: Callable, path: Path) -> None:
    """Raise DataError at the first NaN (unless allow_nan) or inf in 2-D ``x``, scanning in row blocks.

    ``where(r, c)`` gives (location text, original value) for the first offending entry.
    """
    rows = max(1, _CHUNK_BYTES // max(1, x.shape[1] * 4))
    for start in range(0, x.shape[0], rows):
        block = x[start:start + rows]
        bad = np.isinf(block) if allow_nan else ~np.isfinite(block)
        release_pages(x)
        if not bad.any():
            continue
        r, c = (int(i) for i in np.argwhere(bad)[0])
        place, value = where(start + r, c)
        if np.isnan(block[r, c]):
            raise DataError(f"{path}: missing value (NaN) {place}; fill in or drop the missing values first")
        value = float(value)
        kind = "infinite value" if math.isinf(value) else f"value {value:g} too large for float32"
        raise DataError(f"{path}: {kind} {place}; replace it with a finite number or drop the row")


def _numeric_frame(path: Path, df, names: list[str], row_base: int, allow_nan: bool,
                   headless_csv: bool = False) -> np.ndarray:
    """Turn a DataFrame into float32, naming column, row and value of the first non-numeric entry.

    ``row_base`` is added to the 0-based data row index to give the 1-based row number shown to users.
    """
    import pandas as pd

    cols = []
    for j in range(df.shape[1]):
        col = df.iloc[:, j]
        name = names[j]
        if not (pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype)):
            try:
                num = pd.to_numeric(col, errors="coerce")
            except (TypeError, ValueError):  # nested values (lists, dicts) in parquet
                num = pd.Series(np.nan, index=col.index)
            bad = np.flatnonzero((num.isna() & col.notna()).to_numpy())
            if len(bad):
                i = int(bad[0])
                hint = ""
                text = str(col.iloc[i])
                if any(sep in text for sep in (";", "\t")) and path.suffix.lower() == ".csv":
                    hint = " (the separator must be ',')"
                elif headless_csv and i == 0:
                    hint = (" (row 1 was read as data since some of its fields are numbers; "
                            "a header needs all names non-numeric)")
                raise DataError(f"{path}: column {name} is not numeric (row {i + row_base}: {_show(text)}){hint}; "
                                "clean it or drop the column")
            col = num
        cols.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
    x = np.stack(cols, axis=1) if cols else np.zeros((len(df), 0))
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    _check_finite(x32, allow_nan, lambda r, c: (f"in column {names[c]}, row {r + row_base}", x[r, c]), path)
    return x32


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return "_" not in text


def _load_csv(path: Path, allow_nan: bool) -> tuple[np.ndarray, list[str] | None]:
    import pandas as pd

    opts = dict(sep=",", skipinitialspace=True, encoding="utf-8")
    try:
        try:
            first = pd.read_csv(path, header=None, nrows=1, dtype=str, na_filter=False, **opts)
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the file is empty; write one row of comma-separated numbers per sample "
                            "(a header row is optional)") from None
        fields = [str(v).strip() for v in first.iloc[0].tolist()] if len(first) else []
        filled = [v for v in fields if v not in _CSV_NA]
        has_header = bool(filled) and not any(_is_number(v) for v in filled)
        df = pd.read_csv(path, header=0 if has_header else None, keep_default_na=False, na_values=_CSV_NA,
                         low_memory=False, **opts)
    except DataError:
        raise
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({_one_line(e.reason)} at byte {e.start}); "
                        "save it as UTF-8 CSV") from e
    except (ValueError, OverflowError, MemoryError, OSError) as e:  # pandas ParserError is a ValueError
        raise DataError(f"{path}: cannot parse as CSV ({_one_line(e)}); "
                        "write one row of comma-separated numbers per sample") from e
    if has_header and not isinstance(df.index, pd.RangeIndex):  # pandas turned extra leading fields into an index
        raise DataError(f"{path}: data rows have more fields than the header's {len(fields)} names; "
                        "give every column a name (or drop the extra fields)")
    if has_header:
        names = fields[:df.shape[1]]
        shown = [repr(n) for n in names]
    else:
        names, shown = None, [str(j + 1) for j in range(df.shape[1])]
    if len(df) == 0 or df.shape[1] == 0:
        raise DataError(f"{path}: has a header row but no data rows; add one row of numbers per sample")
    return _numeric_frame(path, df, shown, 1, allow_nan, headless_csv=not has_header), names


def _load_parquet(path: Path, allow_nan: bool) -> tuple[np.ndarray, list[str] | None]:
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except ImportError as e:
        raise DataError(f"{path}: reading .parquet needs pyarrow; pip install pyarrow") from e
    except Exception as e:  # pyarrow raises many types (ArrowInvalid, OSError, ArrowNotImplementedError...)
        raise DataError(f"{path}: not a readable parquet file ({_one_line(e)}); "
                        "write it again with pandas.DataFrame.to_parquet") from e
    if len(df) == 0 or df.shape[1] == 0:
        raise DataError(f"{path}: holds no data (shape {df.shape}); write at least one row and one column")
    names = [str(c) for c in df.columns]
    return _numeric_frame(path, df, [repr(n) for n in names], 1, allow_nan), names


def write_table(path: str | os.PathLike, array, columns: list[str] | None = None) -> None:
    """Write a 2-D array (1-D becomes one column) as ``.npy``, ``.csv`` or ``.parquet`` by suffix; atomic.

    ``columns`` names the columns (csv header / parquet names; ignored for .npy). Parquet columns
    without names are called "0", "1", ... NaN is written as an empty field in CSV.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported file type {suffix or '(no suffix)'!r}; "
                        f"use one of {', '.join(TABLE_SUFFIXES)}")
    arr = np.asarray(array)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise DataError(f"{path}: can only write a 2-D numeric array, got {arr.dtype} of shape {arr.shape}; "
                        "reshape it to (samples, features)")
    if columns is not None:
        columns = [str(c) for c in columns]
        if len(columns) != arr.shape[1]:
            raise DataError(f"{path}: {len(columns)} column names for {arr.shape[1]} columns; "
                            "pass one name per column")
    if suffix == ".npy":
        _atomic_write(path, lambda f: np.save(f, arr, allow_pickle=False))
        return
    import pandas as pd

    if suffix == ".csv":
        df = pd.DataFrame(arr, columns=columns)
        _atomic_write(path, lambda f: df.to_csv(f, index=False, header=columns is not None, na_rep=""))
    else:
        df = pd.DataFrame(arr, columns=columns or [str(j) for j in range(arr.shape[1])])
        _atomic_write(path, lambda f: df.to_parquet(f, index=False))


def check_range(x, lo: float = 0.0, hi: float = 1.0, *, what: str = "data", fix: str | None = None) -> None:
    """Raise DataError if any value of ``x`` lies outside ``[lo, hi]`` (NaN is ignored).

    The message reads ``"{what}: values outside [lo, hi] (min .., max .., first at [r, c]); {fix}"``, e.g.
    ``check_range(x, what="data/x.npy", fix="the 'bce' loss needs values in [0, 1]; scale your data to
    [0, 1] or pass --loss mse")``. Scans in row blocks; a read-only memmap is neither copied nor left
    resident (its pages are released after each block).
    """
    a = x if isinstance(x, np.ndarray) else np.asarray(x)  # asarray would drop np.memmap (see scans.release_pages)
    if fix is None:
        fix = f"scale the values into [{lo:g}, {hi:g}]"
    flat = a.reshape(a.shape[0], math.prod(a.shape[1:])) if a.ndim >= 2 else a.reshape(-1, 1)
    rows = max(1, _CHUNK_BYTES // max(1, flat.shape[1] * flat.itemsize))
    first, lo_seen, hi_seen = None, math.inf, -math.inf
    for start in range(0, flat.shape[0], rows):
        block = flat[start:start + rows]
        bad = (block < lo) | (block > hi)
        release_pages(a)
        if bad.any() and first is None:
            r, c = (int(i) for i in np.argwhere(bad)[0])
            first = (start + r, c)
        if block.size:
            b_lo, b_hi = float(np.fmin.reduce(block, axis=None)), float(np.fmax.reduce(block, axis=None))
            lo_seen = b_lo if b_lo < lo_seen else lo_seen  # NaN (all-NaN block) compares False
            hi_seen = b_hi if b_hi > hi_seen else hi_seen
    if first is not None:
        place = f"[{first[0]}, {first[1]}]" if a.ndim >= 2 else f"[{first[0]}]"
        raise DataError(f"{what}: values outside [{lo:g}, {hi:g}] (min {lo_seen:g}, max {hi_seen:g}, "
                        f"first at {place}); {fix}")


from aekit.datasets import Dataset, cache_dir, download, find_dataset, load_dataset  # noqa: E402  (re-export)
