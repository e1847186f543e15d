"""The standard image sets (MNIST, Fashion-MNIST): locate, download (checksum-verified) and load them.

Search order of :func:`find_dataset`: the explicit folder; the environment variable (``AEKIT_MNIST`` /
``AEKIT_FASHION_MNIST``); the copy bundled with aekit (MNIST) or Debian's ``dataset-fashion-mnist``
package (``/usr/share/datasets/fashion-mnist``); the user cache (``$AEKIT_CACHE`` or
``$XDG_CACHE_HOME/aekit`` or ``~/.cache/aekit``, then ``/<name>``); finally a download into that cache.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aekit.data.idx import read_idx
from aekit.errors import DataError, option
from aekit.files import atomic_write

__all__ = ["Dataset", "load_dataset", "find_dataset", "download", "cache_dir", "FILES", "CHECKSUMS", "MIRRORS"]

log = logging.getLogger(__name__)

#: The 4 standard files (each may also be gzipped, with ``.gz`` appended).
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
#: MD5 of the *uncompressed* files (gzip bytes differ between mirrors and repackagings, e.g. Debian's).
CHECKSUMS = {
    "mnist": dict(
        zip(
            FILES,
            (
                "6bbc9ace898e44ae57da46a324031adb",
                "a25bea736e30d166cdddb491f175f624",
                "2646ac647ad5339dbf082846283269ea",
                "27ae3e4e09519cfbb04c329615203637",
            ),
        )
    ),
    "fashion-mnist": dict(
        zip(
            FILES,
            (
                "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                "9018921c3c673c538a1fc5bad174d6f9",
                "8181f5470baa50b63fa0f6fddb340f0a",
                "15d484375f8d13e6eb1aabb0c3f46965",
            ),
        )
    ),
}
MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}
ENV_VARS = {"mnist": "AEKIT_MNIST", "fashion-mnist": "AEKIT_FASHION_MNIST"}
#: Read-only copies searched after the env var (patchable in tests).
SYSTEM_DIRS = {
    "mnist": (Path(__file__).resolve().parent.parent / "bundled" / "mnist",),
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
IMAGE_SHAPE = (1, 28, 28)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Data ready for training: features float32 in [0, 1], shape (n, features); labels int64 or None."""

    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray | None = field(repr=False)
    x_test: np.ndarray | None = field(repr=False)
    y_test: np.ndarray | None = field(repr=False)
    name: str
    image_shape: tuple[int, ...] | None


def _canonical(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist"}.get(key, key)
    if key not in CHECKSUMS:
        raise DataError(
            f"unknown dataset {name!r}; use one of {', '.join(CHECKSUMS)} "
            "or pass your own data file (.npy, .csv, .parquet)"
        )
    return key


def cache_dir() -> Path:
    """aekit's cache folder: ``$AEKIT_CACHE``, else ``$XDG_CACHE_HOME/aekit``, else ``~/.cache/aekit``."""
    if os.environ.get("AEKIT_CACHE"):
        return Path(os.environ["AEKIT_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "aekit"
    return Path.home() / ".cache" / "aekit"


def _file(folder: Path, base: str) -> Path | None:
    """The file for ``base`` in ``folder``: uncompressed preferred, then ``.gz``; None if neither."""
    for candidate in (folder / base, folder / (base + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _missing(folder: Path) -> list[str]:
    return [base for base in FILES if _file(folder, base) is None]


def _explicit(folder: Path, name: str, source: str, fix: str) -> Path:
    if not folder.exists():
        raise DataError(f"{folder}: folder does not exist ({source}); {fix}")
    if not folder.is_dir():
        raise DataError(f"{folder}: is a file, not a folder ({source}); {fix}")
    for candidate in (folder, folder / name, folder / _TORCHVISION[name] / "raw"):
        if candidate.is_dir() and not _missing(candidate):
            return candidate
    missing = ", ".join(base + "[.gz]" for base in _missing(folder))
    raise DataError(f"{folder}: does not hold the {name} files ({source}): missing {missing}; {fix}")


def find_dataset(name: str, path: str | os.PathLike | None = None) -> Path:
    """Return the folder holding the 4 standard files of ``name`` ("mnist" or "fashion-mnist").

    An explicit ``path`` (or the env var) must hold the files, else DataError: no silent fallback.
    ``path`` may also be a parent holding ``<name>/`` or torchvision's ``MNIST/raw`` layout.
    Downloads into the cache (see :func:`download`) when no copy is found.
    """
    name = _canonical(name)
    env = ENV_VARS[name]
    if path is not None:
        return _explicit(
            Path(path).expanduser(),
            name,
            "the given data folder",
            f"put the 4 {name} files (.gz or not) there or pass another folder",
        )
    if os.environ.get(env):
        return _explicit(
            Path(os.environ[env]).expanduser(), name, f"from ${env}", f"put the 4 {name} files there or unset {env}"
        )
    for folder in SYSTEM_DIRS[name]:
        if folder.is_dir() and not _missing(folder):
            return folder
    folder = cache_dir() / name
    if folder.is_dir() and not _missing(folder):
        return folder
    return download(name, folder)


def load_dataset(name: str = "mnist", path: str | os.PathLike | None = None, *, limit: int | None = None) -> Dataset:
    """Load MNIST or Fashion-MNIST as float32 in [0, 1], flattened to 784 features.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    path : str or PathLike, optional
        Folder holding the 4 IDX files; default: see :func:`find_dataset`.
    limit : int, optional
        Keep the first ``limit`` training rows and the first ``max(1, limit // 6)`` test rows.
    """
    name = _canonical(name)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise DataError(
            f"{option('limit')} must be a whole number of at least 1, got {limit!r}; pass e.g. {option('limit', 1000)}"
        )
    folder = find_dataset(name, path)
    x_train, y_train = _load_split(folder, name, "train", limit)
    x_test, y_test = _load_split(folder, name, "t10k", None if limit is None else max(1, int(limit) // 6))
    return Dataset(x_train, y_train, x_test, y_test, name, IMAGE_SHAPE)


def _load_split(folder: Path, name: str, split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    image_file = _file(folder, f"{split}-images-idx3-ubyte")
    label_file = _file(folder, f"{split}-labels-idx1-ubyte")
    if image_file is None or label_file is None:  # removed since find_dataset looked
        raise DataError(f"{folder}: {split} files are missing; put the 4 {name} files there")
    images, labels = _decoded(image_file), read_idx(label_file)
    fix = f"use the standard {name} files (download them again)"
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE[1:] or images.dtype != np.uint8:
        raise DataError(
            f"{image_file}: expected 28x28 unsigned-byte images, found {images.dtype} of shape {images.shape}; {fix}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(
            f"{label_file}: expected a list of integer labels, found {labels.dtype} of shape {labels.shape}; {fix}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{image_file}: holds {len(images)} images but {label_file.name} holds {len(labels)} labels; {fix}"
        )
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = images.reshape(len(images), -1).astype(np.float32)
    x /= 255.0
    return x, labels.astype(np.int64)


#: IDX files decoded to at least this many bytes are kept decoded in the cache (smaller ones decode in no time).
CACHE_MIN_BYTES = 1 << 20


def _decoded(path: Path) -> np.ndarray:
    """`read_idx(path)`, kept after the first read as an uncompressed .npy in ``cache_dir()/decoded`` and
    memory-mapped from there (decoding MNIST's gzip takes 0.2 s a run, mapping the .npy a millisecond).

    The cached file is named by the source's name, size, modification time and path, so a changed source is
    decoded again; the write is atomic, and a cache that cannot be read or written is simply not used.
    """
    cached = None
    try:
        st = path.stat()
        tag = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        folder = cache_dir() / "decoded"
        cached = folder / f"{path.name}-{tag}-{st.st_size}-{st.st_mtime_ns}.npy"
        if path.suffix == ".gz" and cached.is_file():
            return np.asarray(np.load(cached, mmap_mode="r", allow_pickle=False))  # a view: not a training memmap
    except (OSError, ValueError) as exc:  # unreadable or damaged: decode again (and replace it below)
        log.info("decoded cache of %s not used: %s", path, exc)
    array = read_idx(path)
    if cached is not None and array.nbytes >= CACHE_MIN_BYTES:
        try:
            atomic_write(cached, lambda f: np.save(f, array, allow_pickle=False))
            for old in folder.glob(f"{path.name}-{tag}-*.npy"):  # the decodings of the source's earlier versions
                if old != cached:
                    old.unlink(missing_ok=True)
        except (DataError, OSError) as exc:
            log.info("decoded cache of %s not written: %s", path, exc)
    return array


class _FetchError(Exception):
    """One mirror failed for one file (the message says why)."""


def download(name: str, dest: str | os.PathLike, *, mirrors=None, timeout: float = 30) -> Path:
    """Download the 4 files of ``name`` into ``dest``, verifying MD5s of the uncompressed content.

    Each file is fetched to a temp name in ``dest`` and renamed into place only once verified; on any
    failure (network, HTTP error, bad gzip, checksum mismatch) the next mirror is tried. Files already in
    ``dest`` that verify are kept.

    Parameters
    ----------
    mirrors : sequence of str, optional
        Base URLs (the file names are appended); default :data:`MIRRORS` ``[name]``.

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    name = _canonical(name)
    dest = Path(dest).expanduser()
    mirrors = list(MIRRORS[name] if mirrors is None else ([mirrors] if isinstance(mirrors, str) else mirrors))
    fix = (
        f"download the 4 files by hand (see {', '.join(MIRRORS[name])}) into a folder and pass it "
        f"with --data-dir or {ENV_VARS[name]}"
    )
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{dest}: cannot create the download folder ({e.strerror or e}); {fix}") from e
    for base in FILES:
        expected = CHECKSUMS[name][base]
        if _verified(dest, base, expected):
            continue
        errors = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + base + ".gz"
            try:
                _fetch(url, dest, base, expected, timeout)
                break
            except _FetchError as e:
                log.info("download of %s failed: %s", url, e)
                errors.append(f"{url}: {e}")
        else:
            reasons = "; ".join(errors) or "no mirrors given"
            raise DataError(" ".join(f"{dest}: could not download {name} {base}.gz ({reasons}); {fix}".split()))
    return dest


def _verified(dest: Path, base: str, expected: str) -> bool:
    path = _file(dest, base)
    if path is None:
        return False
    try:
        return _md5(path) == expected
    except _FetchError:
        return False


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as raw:
            is_gzip = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as e:
        raise _FetchError(f"unreadable or corrupt gzip data ({e})") from e
    return digest.hexdigest()


def _fetch(url: str, dest: Path, base: str, expected: str, timeout: float) -> Path:
    try:
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{base}.", suffix=".part")
    except OSError as e:
        raise _FetchError(f"cannot write to {dest} ({e.strerror or e})") from e
    try:
        with os.fdopen(fd, "wb") as out:
            log.info("downloading %s", url)
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, out, 1 << 20)
            except urllib.error.HTTPError as e:
                raise _FetchError(f"HTTP {e.code} {e.reason}") from e
            except urllib.error.URLError as e:
                raise _FetchError(f"{e.reason}") from e
            except (OSError, http.client.HTTPException, ValueError) as e:
                raise _FetchError(f"{type(e).__name__}: {e}") from e
        md5 = _md5(Path(tmp))
        if md5 != expected:
            raise _FetchError(f"checksum mismatch (md5 of the uncompressed file is {md5}, expected {expected})")
        with open(tmp, "rb") as f:
            is_gzip = f.read(2) == b"\x1f\x8b"
        final, other = (dest / (base + ".gz"), dest / base) if is_gzip else (dest / base, dest / (base + ".gz"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
        other.unlink(missing_ok=True)  # a stale copy that failed verification would shadow the good one
        return final
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
