"""Rows in (aekit.data.rows, aekit.data.reading): a memory-mapped file's rows read with pread, exactly, in blocks
and batches; its changes in memory (copy-on-write) honoured; a file cut short while in use refused; NaN/inf found in
any block."""

import importlib

import numpy as np
import pytest
import torch

import aekit
from aekit import Autoencoder, ModelConfig, fit
from aekit.config import TrainConfig
from aekit.data.reading import _blocks, _read_runs, _run_reader, batch_reader, sort_batches
from aekit.data.rows import as_rows, place_rows
from aekit.errors import DataError


def gather_batch(x, idx: torch.Tensor) -> torch.Tensor:
    """One batch of rows `idx` as `fit` reads it: sorted, through `batch_reader`."""
    return batch_reader(x, idx.sort().values, len(idx))(0)


def test_runs_of_a_memmap_are_read_with_pread_exactly(tmp_path, rng):
    a = rng.random((300, 5), dtype=np.float32)
    np.save(tmp_path / "a.npy", a)
    mm = aekit.load_array(tmp_path / "a.npy")
    idx = np.r_[3:11, 40:52, 290:300]
    assert np.array_equal(_read_runs(mm, idx), a[idx])
    assert np.array_equal(_read_runs(mm[100:], idx[:20]), a[100:][idx[:20]])  # a view that starts further on
    lone = np.array([1, 5, 9, 13, 299])
    assert np.array_equal(_read_runs(mm, lone), a[lone])  # lone rows too: one pread each, nothing mapped


@pytest.mark.parametrize("block", [1, 4, 7])
def test_an_epochs_batches_are_the_rows_of_its_order(tmp_path, rng, block):
    """The runs of a whole epoch are found at once; each batch, the short last one too, holds its rows in sorted order,
    from the file (pread) as from memory (index_select)."""
    train = importlib.import_module("aekit.training.loop")
    a = rng.random((300, 5), dtype=np.float32)
    np.save(tmp_path / "a.npy", a)
    mm = aekit.load_array(tmp_path / "a.npy")
    order = train.epoch_order(299, TrainConfig(shuffle_block=block), torch.Generator().manual_seed(3))
    sorted_order = sort_batches(order, 32)
    assert sorted_order.shape == order.shape
    assert _run_reader(mm[1:], sorted_order.numpy(), 32) is not None  # the file's rows are read with pread, by plan
    from_file, from_memory = (
        batch_reader(mm[1:], sorted_order, 32),
        batch_reader(torch.from_numpy(a[1:]), sorted_order, 32),
    )
    for k, start in enumerate(range(0, 299, 32)):  # 10 batches, the last of 11 rows
        rows = np.sort(order[start : start + 32].numpy())
        assert np.array_equal(sorted_order[start : start + 32].numpy(), rows)
        assert np.array_equal(from_file(k).numpy(), a[1:][rows])
        assert np.array_equal(from_memory(k).numpy(), a[1:][rows])


def test_blocks_and_batches_of_a_memmap_are_its_rows(tmp_path, rng):
    a = rng.random((300, 5), dtype=np.float32)
    np.save(tmp_path / "a.npy", a)
    mm = aekit.load_array(tmp_path / "a.npy")
    for view, ref in ((mm, a), (mm[37:], a[37:])):  # a view further on; the last block is short
        got = list(_blocks(view, rows=64))
        assert [start for start, _ in got] == list(range(0, len(ref), 64))
        assert np.array_equal(np.concatenate([b.numpy() for _, b in got]), ref)
    idx = torch.tensor([299, 3, 4, 5, 120, 0])
    assert np.array_equal(gather_batch(mm, idx).numpy(), a[np.sort(idx.numpy())])
    f8 = np.lib.format.open_memmap(tmp_path / "b.npy", mode="w+", dtype=np.float64, shape=(10, 3))
    f8[:] = rng.random((10, 3))
    f8.flush()
    assert np.array_equal(
        list(_blocks(np.load(tmp_path / "b.npy", mmap_mode="r"), rows=4))[1][1].numpy(), f8[4:8]
    )  # not float32 rows: read through the mapping


def test_a_copy_on_write_memmap_trains_on_its_changes_in_memory(tmp_path, rng):
    np.save(tmp_path / "a.npy", rng.random((300, 5), dtype=np.float32) * 2)
    for mode in ("c", "r+"):  # clipped in memory: privately (c) or in the file's pages (r+)
        mm = np.load(tmp_path / "a.npy", mmap_mode=mode)
        mm[mm > 1] = 1
        assert (
            float(gather_batch(mm, torch.arange(0, 300, 7)).max()) <= 1
        )  # what the rows are now, not the old file bytes
        assert max(float(b.max()) for _, b in _blocks(mm, rows=64)) <= 1
    model = Autoencoder(ModelConfig(input_dim=5, encoding_dim=2))
    fit(model, np.load(tmp_path / "a.npy", mmap_mode="r"), epochs=1, verbose=0)  # r+ wrote the clipped rows to the file


def test_a_memmap_cut_short_while_in_use_is_a_data_error(tmp_path, rng):
    np.save(tmp_path / "a.npy", rng.random((300, 5), dtype=np.float32))
    mm = aekit.load_array(tmp_path / "a.npy")
    os_size = (tmp_path / "a.npy").stat().st_size
    with open(tmp_path / "a.npy", "r+b") as f:
        f.truncate(os_size - 100 * 5 * 4)  # the last 100 rows are gone
    assert gather_batch(mm, torch.arange(10)).shape == (10, 5)  # rows still in the file read as before
    with pytest.raises(DataError, match="shorter than when it was loaded"):
        gather_batch(mm, torch.tensor([5, 250]))


def test_nan_in_a_later_block_is_found_with_its_row(tmp_path):
    x = np.zeros((12000, 784), dtype=np.float32)  # more than one 16 MB block
    x[11000, 3] = np.inf
    with pytest.raises(DataError, match="first in row 11000"):
        as_rows(x)
    x[11000, 3] = 3e38  # finite values whose sum overflows are not mistaken for inf
    assert as_rows(x[10000:11001] * 0 + 3e38).shape == (1001, 784)


def test_a_memmap_read_through_its_mapping_leaves_no_pages_mapped(tmp_path, rss_file_kib):
    np.save(tmp_path / "d.npy", np.random.default_rng(0).random((40_000, 100)))  # float64, 32 MB: no pread
    mm = np.load(tmp_path / "d.npy", mmap_mode="r")
    before = rss_file_kib()
    total = sum(float(b.sum()) for _, b in _blocks(mm, rows=4096))
    grown = rss_file_kib() - before
    assert grown < 8 * 1024, f"reading the blocks left {grown / 1024:.0f} MiB of the file mapped"
    assert total == pytest.approx(float(np.load(tmp_path / "d.npy").sum()), rel=1e-9)


def test_a_file_replaced_while_in_use_is_not_read_in_its_place(tmp_path, rng):
    import os

    a = rng.random((300, 5), dtype=np.float32)
    path = tmp_path / "a.npy"
    np.save(path, a)
    early = aekit.load_array(path)
    assert np.array_equal(gather_batch(early, torch.arange(0, 300, 3)).numpy(), a[::3])  # read once before
    late = aekit.load_array(path)  # not read before
    np.save(tmp_path / "b.npy", a + 1)
    os.replace(tmp_path / "b.npy", path)  # replaced, as an atomic writer replaces a file
    again = aekit.load_array(path)  # the new file
    for mm, rows in ((early, a), (late, a), (again, a + 1)):  # each memmap reads the file it maps
        assert np.array_equal(gather_batch(mm, torch.arange(0, 300, 3)).numpy(), rows[::3])
        assert np.array_equal(np.concatenate([b.numpy() for _, b in _blocks(mm, rows=64)]), rows)


def test_the_file_descriptor_of_a_memmap_closes_with_it(tmp_path, rng):
    import gc
    import os

    np.save(tmp_path / "a.npy", rng.random((50, 4), dtype=np.float32))
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        mm = aekit.load_array(tmp_path / "a.npy")
        gather_batch(mm, torch.arange(10))  # opens the file once and keeps it open …
        assert len(os.listdir("/proc/self/fd")) <= before + 2
        del mm  # … until the mapping goes
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before


def test_fit_on_an_image_cache_matches_fit_on_the_same_floats_in_memory(tmp_path, monkeypatch):
    """uint8 pixels read a batch at a time by pread and scaled to [0, 1] train exactly as the float rows in memory."""
    from PIL import Image

    from aekit.data.images import load_images

    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for i in range(70):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / f"{i:02d}.png")
    rows = load_images(tmp_path).rows()
    assert rows._file is not None  # the cache file, read with pread
    x = np.asarray(rows)
    cfg = ModelConfig(input_dim=192, encoding_dim=8, architecture="conv", image_shape=(3, 8, 8), hidden=(4,))
    weights = []
    for data in (rows, x):
        model = Autoencoder(cfg)
        history = fit(model, data, epochs=2, batch_size=16, optimizer="adam", validation_data=data[:10], verbose=0)
        weights.append([p.detach().clone() for p in model.parameters()])
        weights.append(history.history["val_loss"])
    assert all(torch.equal(a, b) for a, b in zip(weights[0], weights[2])) and weights[1] == weights[3]


def test_resident_rows_are_gathered_into_one_reused_buffer(rng):
    """Rows in memory are gathered by `index_select` into one buffer per reader (no fresh memory per batch): each batch,
    the short last one too, holds its rows, and the next call overwrites the buffer in place."""
    a = rng.random((70, 6), dtype=np.float32)
    rows = place_rows(torch.from_numpy(a), torch.device("cpu"), budget=None)
    order = sort_batches(torch.randperm(70, generator=torch.Generator().manual_seed(0)), 32)
    read = rows.reader(order, 32)
    first = read(0)
    assert np.array_equal(first.numpy(), a[order[:32].numpy()])
    seen = first.clone()
    last = read(2)  # 6 rows
    assert last.shape == (6, 6) and np.array_equal(last.numpy(), a[order[64:].numpy()])
    assert last.data_ptr() == first.data_ptr()  # the same memory, overwritten
    assert not torch.equal(first[:6], seen[:6])


def test_one_batch_shorter_than_the_batch_size_is_sorted_without_a_batch_wide_buffer():
    order = torch.randperm(50, generator=torch.Generator().manual_seed(0))  # torch sorted a (0, 10**12) view: 8 TB
    assert torch.equal(sort_batches(order, 10**12), torch.arange(50))
