"""Reading and writing user arrays and tables (.npy, .csv, .parquet); IDX files (MNIST's format) are read by
:mod:`aekit.data.idx`, and tables written by :mod:`aekit.data.table_out`, both re-exported here.

Every problem a user can cause with their input is raised as a one-line :class:`~aekit.errors.DataError`
naming the file, the problem and the fix. Locating, downloading and loading MNIST / Fashion-MNIST lives in
:mod:`aekit.data.datasets`; its public names are re-exported here.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np

from aekit.data.idx import read_idx, write_idx  # noqa: F401  (re-exported)
from aekit.data.npy_images import channels_first, channels_last
from aekit.data.precision import CHUNK_BYTES as _CHUNK_BYTES  # scans of big arrays go in blocks of about this size
from aekit.data.precision import warn_rounded
from aekit.data.scans import note_loaded, release_pages, remember
from aekit.data.table_out import TABLE_SUFFIXES, write_table  # noqa: F401  (re-exported)
from aekit.errors import DataError
from aekit.files import check_file, one_line

__all__ = [
    "read_idx",
    "write_idx",
    "load_array",
    "read_table",
    "column_names",
    "write_table",
    "Dataset",
    "load_dataset",
    "find_dataset",
    "download",
    "cache_dir",
    "TABLE_SUFFIXES",
]

_CSV_NA = ["", "nan", "NaN", "NAN", "-nan", "-NaN", "NA", "N/A", "n/a", "#N/A", "NULL", "null", "None", "<NA>"]
# read as missing values (R's NA, SQL's NULL, spreadsheets' N/A / #N/A, Python's None); anything else must be a number


def _show(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


# -------------------------------------------------------------------------------------- user arrays
def load_array(path: str | os.PathLike, *, allow_nan: bool = False, mmap: bool = True) -> np.ndarray:
    """Load user data as a 2-D float32 array of shape (samples, features).

    Parameters
    ----------
    path : str or PathLike
        A ``.npy`` (never unpickled), ``.csv`` (header row detected: it is a header when every non-empty
        field of the first row is not a number) or ``.parquet`` file. 1-D data becomes one column;
        (n, h, w, ...) data is flattened to (n, h*w*...): images (n, h, w, c) with 1 or 3 channels last are
        flattened as (c, h, w), and a uint8 array of images (3 or 4 dimensions) is divided by 255.
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


def read_table(path: str | os.PathLike, *, allow_nan: bool = False, exact: bool = False) -> tuple[np.ndarray, list]:
    """Like :func:`load_array` (in memory, writable), also returning the column names (None if none). ``exact``:
    a float32 ``.npy`` stays float32, every other table becomes float64 (float32 rounds 1000000000.126 to 1e9)."""
    return _load(Path(path), allow_nan=allow_nan, mmap=False, exact=exact)


def _load(path: Path, *, allow_nan: bool, mmap: bool, exact: bool = False) -> tuple[np.ndarray, list[str] | None]:
    check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _load_npy(path, allow_nan, mmap, exact), None
    if suffix == ".csv":
        return _load_csv(path, allow_nan, exact)
    if suffix == ".parquet":
        return _load_parquet(path, allow_nan, exact)
    raise DataError(
        f"{path}: unsupported file type {suffix or '(no suffix)'!r}; convert it to one of {', '.join(TABLE_SUFFIXES)}"
    )


def _npy_magic(path: Path) -> bool:
    """Whether the file starts as a .npy does (numpy takes any other file for a pickle)."""
    try:
        with open(path, "rb") as f:
            return f.read(6) == b"\x93NUMPY"
    except OSError:
        return True  # numpy's own error says what went wrong


def _load_npy(path: Path, allow_nan: bool, mmap: bool, exact: bool = False) -> np.ndarray:
    try:
        with np.errstate(all="ignore"):  # a bogus header shape overflows numpy's size arithmetic: reported below
            raw = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as e:  # numpy raises ValueError, OSError, EOFError, SyntaxError... for bad files
        why = one_line(e) if _npy_magic(path) else "it does not start with \\x93NUMPY"  # numpy says "pickled"
        raise DataError(f"{path}: not a readable .npy file ({why}); save a numeric array with numpy.save") from e
    if not isinstance(raw, np.ndarray):
        raw.close()
        raise DataError(f"{path}: holds an .npz archive, not a single array; save one array with numpy.save")
    if raw.dtype.kind not in "biuf":
        raise DataError(f"{path}: holds {raw.dtype} values, not numbers; save a numeric array")
    if raw.ndim == 0 or raw.size == 0:
        raise DataError(f"{path}: holds no data (shape {raw.shape}); save an array of shape (samples, features)")
    shape = (raw.shape[0], math.prod(raw.shape[1:]))
    if raw.ndim >= 3 and raw.dtype == np.uint8:  # 8-bit images: [0, 1] as every image source gives them
        return (channels_first(raw).reshape(shape) / np.float32(255)).astype(np.float32)
    if raw.ndim == 4 and channels_last(raw.shape):
        raw = channels_first(raw)  # a copy: the rows are (C, H, W) images flattened, as a conv model reads them
    as_is = raw.dtype == np.float32 and raw.dtype.isnative
    if as_is:
        x = raw.reshape(shape)  # a view (memmap stays memmap) unless Fortran-ordered with ndim > 2
    else:
        with np.errstate(over="ignore"):  # too-large values are reported by _check_finite below
            x = np.asarray(raw.astype(np.float32)).reshape(shape)
    if raw.dtype.kind == "f":
        if as_is and isinstance(raw, np.memmap) and raw.flags.c_contiguous:
            note_loaded(x)  # the file that is mapped: a later read by path can tell if it was replaced
            known = _scan_npy_file(path, raw, shape, allow_nan)  # plain reads: keeps the memmap's pages unmapped
            if known is not None:  # fit's own NaN/inf and [0, 1] checks of these bytes need not read them again
                remember(x, *known)
        else:
            _check_finite(x, allow_nan, lambda r, c: (f"at [{r}, {c}]", raw.reshape(shape)[r, c]), path)
    if raw.ndim <= 2 and not as_is and not exact:  # a table of float64 or integers, rounded to float32 above
        warn_rounded(raw.reshape(shape), x, [str(j + 1) for j in range(shape[1])], path)
    return raw.astype(np.float64).reshape(shape) if exact and not as_is else x  # float32 would round (`read_table`)


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
            block = buf[: min(rows, shape[0] - start)]
            if f.readinto(memoryview(block).cast("B")) != block.nbytes:
                raise DataError(
                    f"{path}: the file is shorter than its header says (it changed while being read); "
                    "write it again with numpy.save"
                )
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
        block = x[start : start + rows]
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


def _numeric_frame(
    path: Path, df, names: list[str], row_base: int, allow_nan: bool, headless_csv: bool = False, exact: bool = False
) -> np.ndarray:
    """Turn a DataFrame into float32 (`exact`: float64), naming column, row and value of the first non-numeric entry.

    ``row_base`` is added to the 0-based data row index to give the 1-based row number shown to users.
    """
    import pandas as pd

    cols = []
    for j in range(df.shape[1]):
        col = df.iloc[:, j]
        name = names[j]
        if pd.api.types.is_datetime64_any_dtype(col.dtype) or pd.api.types.is_timedelta64_dtype(col.dtype):
            raise DataError(  # pandas would turn them into nanosecond counts without a word
                f"{path}: column {name} holds dates or durations ({col.dtype}), not numbers; convert it to numbers "
                "(e.g. days since a date) or drop the column"
            )
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
                    hint = (
                        " (row 1 was read as data since some of its fields are numbers; "
                        "a header needs all names non-numeric)"
                    )
                raise DataError(
                    f"{path}: column {name} is not numeric (row {i + row_base}: {_show(text)}){hint}; "
                    "clean it or drop the column"
                )
            col = num
        cols.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
    x = np.stack(cols, axis=1) if cols else np.zeros((len(df), 0))
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    _check_finite(x32, allow_nan, lambda r, c: (f"in column {names[c]}, row {r + row_base}", x[r, c]), path)
    if not exact:
        warn_rounded(x, x32, names, path)
    return x if exact else x32  # `exact`: as read, within float32's range (the rest of aekit computes in float32)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return "_" not in text


_CSV_OPTIONS = dict(sep=",", skipinitialspace=True, encoding="utf-8")


def _csv_header(path: Path) -> tuple[list[str], bool]:
    """The first row's fields, and whether they are a header: every field filled in is a name, not a number."""
    import pandas as pd

    try:
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, na_filter=False, **_CSV_OPTIONS)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path}: the file is empty; write one row of comma-separated numbers per sample (a header row is optional)"
        ) from None
    fields = [str(v).strip() for v in first.iloc[0].tolist()] if len(first) else []
    filled = [v for v in fields if v not in _CSV_NA]
    return fields, bool(filled) and not any(_is_number(v) for v in filled)


def column_names(path: str | os.PathLike) -> list[str] | None:
    """A table file's column names without reading its rows: a CSV's header row, a parquet file's columns; None for
    a .npy file, a CSV without a header, or a file that cannot be read (its reader then says why)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            fields, has_header = _csv_header(path)
            return fields if has_header else None
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
            index = {c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
            return [str(n) for n in schema.names if n not in index]
    except Exception:  # unreadable: reading the rows says why
        return None
    return None


def first_difference(given: list[str] | None, expected: list[str] | None) -> tuple[int, str] | None:
    """(index, how) of the first column where header `given` differs from `expected`, how being "the same names in
    another order" or "other names"; None where they agree, either is missing, or their counts differ (refused
    elsewhere with the counts)."""
    if not given or not expected or len(given) != len(expected) or given == expected:
        return None
    i = next(i for i, (a, b) in enumerate(zip(given, expected)) if a != b)
    return i, "the same names in another order" if sorted(given) == sorted(expected) else "other names"


def _blank_lines(path: Path, tail: int = 1 << 16) -> tuple[int, int]:
    """The blank lines at the start and at the end of a text file: the readers skip them; every other blank line is
    a row (in a one-column table, a missing value), kept so that the rows stay those of the file, in its order."""
    with open(path, "rb") as f:
        head = f.read(tail)
        f.seek(max(0, f.seek(0, os.SEEK_END) - tail))
        end = f.read()
    lines = head.split(b"\n")
    lead = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    lines = end.split(b"\n")[:-1] if end.endswith(b"\n") else end.split(b"\n")  # the last line's own newline
    trail = next((i for i, line in enumerate(reversed(lines)) if line.strip()), 0)
    return lead, trail


def _load_csv(path: Path, allow_nan: bool, exact: bool = False) -> tuple[np.ndarray, list[str] | None]:
    import pandas as pd

    opts = _CSV_OPTIONS
    try:
        fields, has_header = _csv_header(path)
        lead, trail = _blank_lines(path)  # a blank line between rows is a row of empty fields, not nothing
        df = pd.read_csv(
            path,
            header=0 if has_header else None,
            keep_default_na=False,
            na_values=_CSV_NA,
            low_memory=False,
            skiprows=lead,
            skip_blank_lines=False,
            **opts,
        )
        df = df.iloc[: len(df) - trail] if trail else df
    except DataError:
        raise
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({one_line(e.reason)} at byte {e.start}); save it as UTF-8 CSV") from e
    except (ValueError, OverflowError, MemoryError, OSError) as e:  # pandas ParserError is a ValueError
        raise DataError(
            f"{path}: cannot parse as CSV ({one_line(e)}); write one row of comma-separated numbers per sample"
        ) from e
    if has_header and not isinstance(df.index, pd.RangeIndex):  # pandas turned extra leading fields into an index
        raise DataError(
            f"{path}: data rows have more fields than the header's {len(fields)} names; "
            "give every column a name (or drop the extra fields)"
        )
    if has_header:
        names = fields[: df.shape[1]]
        shown = [repr(n) for n in names]
    else:
        names, shown = None, [str(j + 1) for j in range(df.shape[1])]
    if len(df) == 0 or df.shape[1] == 0:
        raise DataError(f"{path}: has a header row but no data rows; add one row of numbers per sample")
    if df.shape[1] > 1 and (not names or not names[-1].strip()) and df.iloc[:, -1].isna().all():
        raise DataError(f"{path}: every row ends with a comma (an empty last column); remove the trailing commas")
    if names and not names[0] and df.shape[1] > 1 and np.array_equal(df.iloc[:, 0].to_numpy(), np.arange(len(df))):
        raise DataError(  # pandas' to_csv writes its index so: as a feature, the row number would drive the model
            f"{path}: the first column has no name and holds the row numbers 0, 1, 2, … (an index written by pandas' "
            "to_csv); write the file with to_csv(index=False), or name that column if it is data"
        )
    return _numeric_frame(path, df, shown, 1, allow_nan, headless_csv=not has_header, exact=exact), names


def _load_parquet(path: Path, allow_nan: bool, exact: bool = False) -> tuple[np.ndarray, list[str] | None]:
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except ImportError as e:
        raise DataError(f"{path}: reading .parquet needs pyarrow; pip install pyarrow") from e
    except Exception as e:  # pyarrow raises many types (ArrowInvalid, OSError, ArrowNotImplementedError...)
        raise DataError(
            f"{path}: not a readable parquet file ({one_line(e)}); write it again with pandas.DataFrame.to_parquet"
        ) from e
    if len(df) == 0 or df.shape[1] == 0:
        raise DataError(f"{path}: holds no data (shape {df.shape}); write at least one row and one column")
    names = [str(c) for c in df.columns]
    return _numeric_frame(path, df, [repr(n) for n in names], 1, allow_nan, exact=exact), names


from aekit.data.datasets import Dataset, cache_dir, download, find_dataset, load_dataset  # noqa: E402  (re-export)
