"""The decoded cache of the image sets: MNIST's gzip files are decoded once, then memory-mapped."""

import os

import numpy as np
import pytest

from aekit.data import datasets
from aekit.data.datasets import load_dataset
from aekit.data.idx import write_idx

N = 1400  # 1400 images of 28 x 28 bytes: just over the 1 MiB from which a decoding is cached


def fake_mnist(folder, seed=0, n=N):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", n), ("t10k", 20)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (rows, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", (np.arange(rows) % 10).astype(np.uint8))
    return folder


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "decoded"


def expected(folder):
    from aekit.data.idx import read_idx

    return read_idx(folder / "train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / np.float32(255)


def test_second_load_maps_the_cached_decoding(tmp_path, cache, monkeypatch):
    folder = fake_mnist(tmp_path / "mnist")
    first = load_dataset("mnist", folder)
    assert [p.name.split("-")[0] for p in cache.iterdir()] == ["train"]  # the test images are too small to cache
    monkeypatch.setattr(datasets, "read_idx", _labels_only())  # the training images must come from the cache
    second = load_dataset("mnist", folder)
    assert np.array_equal(first.x_train, expected(folder)) and np.array_equal(second.x_train, first.x_train)
    assert type(second.x_train) is np.ndarray and second.x_train.flags.writeable  # in memory, not a training memmap
    assert np.array_equal(second.y_train, first.y_train)


def _labels_only():
    from aekit.data.idx import read_idx

    def read(path):
        assert "labels" in path.name or "t10k" in path.name, f"decoded {path} again"
        return read_idx(path)

    return read


def test_a_changed_source_is_decoded_again_and_its_old_decoding_removed(tmp_path, cache):
    folder = fake_mnist(tmp_path / "mnist", seed=0)
    load_dataset("mnist", folder)
    before = list(cache.iterdir())
    fake_mnist(folder, seed=1)  # same size, other bytes, a later modification time
    source = folder / "train-images-idx3-ubyte.gz"
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    again = load_dataset("mnist", folder)
    assert np.array_equal(again.x_train, expected(folder))
    after = list(cache.iterdir())
    assert len(before) == len(after) == 1 and before != after


def test_a_damaged_decoding_is_replaced(tmp_path, cache):
    folder = fake_mnist(tmp_path / "mnist")
    load_dataset("mnist", folder)
    (entry,) = cache.iterdir()
    entry.write_bytes(entry.read_bytes()[:1000])  # truncated
    assert np.array_equal(load_dataset("mnist", folder).x_train, expected(folder))
    assert entry.stat().st_size > N * 784


def test_an_unwritable_cache_is_not_used(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("AEKIT_CACHE", str(blocker))
    folder = fake_mnist(tmp_path / "mnist")
    assert np.array_equal(load_dataset("mnist", folder, limit=50).x_train, expected(folder)[:50])
