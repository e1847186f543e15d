"""IDX files, MNIST's format: read (raw or gzip, detected by the magic bytes) and written (atomically).

Every problem with a file is a one-line :class:`~aekit.errors.DataError` naming the file, the problem and the fix.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from aekit.errors import DataError
from aekit.files import atomic_write, check_file, one_line

__all__ = ["read_idx", "write_idx", "IDX_DTYPES"]

#: IDX type code -> big-endian dtype stored in the file.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("=").name: code for code, dt in IDX_DTYPES.items()}
_IDX_SUPPORTED = "0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double"


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
        raise DataError(
            f"{path}: not an IDX file (starts with {data[:4].hex(' ')}, IDX starts with 00 00 <type> <ndim>); {fix}"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise DataError(f"{path}: unsupported IDX data type code 0x{code:02X} (supported: {_IDX_SUPPORTED}); {fix}")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions; {fix}")
    start = 4 + 4 * ndim
    if len(data) < start:
        raise DataError(
            f"{path}: truncated IDX header ({ndim} dimensions need {start} bytes, the file has {len(data)}); {fix}"
        )
    dims = struct.unpack(f">{ndim}I", data[4:start])
    dtype = IDX_DTYPES[code]
    count = math.prod(dims)
    expected, got = count * dtype.itemsize, len(data) - start
    if got < expected:
        raise DataError(
            f"{path}: truncated: the header promises shape {dims} ({expected} bytes of data) "
            f"but only {got} bytes follow; {fix}"
        )
    if got > expected:
        raise DataError(f"{path}: {got - expected} trailing bytes after the data of shape {dims}; {fix}")
    native = dtype.newbyteorder("=")
    if count == 0:
        try:
            return np.zeros(dims, dtype=native)
        except ValueError:  # an empty shape whose other dimensions are too large for numpy to describe
            raise DataError(
                f"{path}: the header declares shape {dims}, which holds no values and is too large to represent; {fix}"
            ) from None
    return np.frombuffer(data, dtype=dtype, count=count, offset=start).astype(native).reshape(dims)


def _read_maybe_gzip(path: Path) -> bytes:
    check_file(path)
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
            raise DataError(f"{path}: corrupt or truncated gzip data ({one_line(e)}); download the file again") from e
        raise DataError(
            f"{path}: cannot read the file ({one_line(e.__class__.__name__)}: "
            f"{one_line(getattr(e, 'strerror', None) or e)}); check the path and its permissions"
        ) from e


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
        raise DataError(
            f"{path}: IDX cannot store {arr.dtype} values; convert the array to one of "
            "uint8, int8, int16, int32, float32, float64"
        )
    if not 1 <= arr.ndim <= 255 or any(d >= 2**32 for d in arr.shape):
        raise DataError(
            f"{path}: IDX cannot store an array of shape {arr.shape}; use 1 to 255 dimensions, each below 2**32"
        )
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

    atomic_write(path, write)
