"""Small file helpers shared by the data readers and writers: one-line error text, the existence check, and an
atomic write (a temporary file in the same folder, fsync'd, renamed into place; removed on any failure:
`removed_on_failure`)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from aekit.errors import DataError

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def printable(text: str) -> str:
    """`text` for a figure or a table cell, which take only valid UTF-8: the lone surrogates that stand for the bytes
    of a non-UTF-8 file name (as Python reads one) become U+FFFD."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


FIGURE_FORMATS = ("png", "svg", "pdf")  # what `aekit.reporting.rendering.save_figure` writes, by the path's suffix


def figure_format(path) -> str:
    """The format a figure at `path` is written in, from its suffix: png, svg or pdf; any other is refused."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        got = f"not {Path(path).suffix}" if fmt else "and this name has no suffix"
        raise DataError(f"{path}: a figure is written as .png, .svg or .pdf, {got}; name it with one of those")
    return fmt


def check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file; pass the path of a data file")


def atomic_write(path: Path, write: Callable, *, sync: bool = True) -> None:
    """Call ``write(binary_file)`` on a temp file next to ``path``, then rename it into place (with `sync`, once the
    data are on the disk)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise DataError(f"{path}: cannot write here ({one_line(e.strerror or e)}); choose a writable folder") from e

    def failed(e: OSError) -> str:
        return f"{path}: cannot write ({one_line(e.strerror or e)}); check free space and permissions"

    with removed_on_failure([tmp], failed):
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)


@contextlib.contextmanager
def removed_on_failure(tmps: list[str], message: Callable[[OSError], str]) -> Iterator[None]:
    """Remove the temporary files `tmps` (as the list stands then) when the block fails; an OSError becomes a
    DataError of `message(error)`, anything else (Ctrl-C too) goes on as it is."""
    try:
        yield
    except BaseException as e:
        for tmp in tmps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(e, OSError):
            raise DataError(message(e)) from e
        raise
