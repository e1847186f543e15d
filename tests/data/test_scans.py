"""A large .npy is read once: load_array's NaN/inf scan also answers fit's NaN/inf and [0, 1] checks (aekit.scans)."""

import importlib
import os

import numpy as np
import pytest

import aekit
from aekit.data.arrays import load_array
from aekit.data.scans import known_range
from aekit.errors import DataError

rows_module = importlib.import_module("aekit.data.rows")


@pytest.fixture()
def reads(monkeypatch):
    """The row counts of every block scan `aekit.rows` makes (as_rows' NaN/inf scan, the [0, 1] range scan)."""
    seen = []
    real = rows_module._blocks
    monkeypatch.setattr(rows_module, "_blocks", lambda x, rows=None: seen.append(x.shape[0]) or real(x, rows))
    return seen


@pytest.fixture()
def small_blocks(monkeypatch):
    import aekit.data.arrays

    monkeypatch.setattr(
        aekit.data.arrays, "_CHUNK_BYTES", 12 * 4 * 64
    )  # 64 rows of 12 a block: several blocks per file


def test_a_loaded_file_is_not_read_again_by_the_checks(tmp_path, reads, small_blocks):
    a = np.random.default_rng(0).random((500, 12), dtype=np.float32)
    np.save(tmp_path / "x.npy", a)
    x = load_array(tmp_path / "x.npy")
    assert isinstance(x, np.memmap) and known_range(x) == (float(a.min()), float(a.max()))
    t = rows_module.as_rows(x, "x", keep_memmap=True)
    rows_module.check_ranges(aekit.TrainConfig(), t, "x")
    rows_module.check_ranges(aekit.TrainConfig(), x[100:400], "rows 100-399")  # a view inside the scanned bytes
    aekit.fit(
        aekit.Autoencoder(aekit.ModelConfig(input_dim=12, encoding_dim=3)), x, epochs=1, batch_size=100, verbose=0
    )
    assert reads == []  # no NaN/inf scan, no range scan: the file was read once, by load_array


def test_a_file_changed_after_loading_is_checked_again(tmp_path, reads):
    a = np.random.default_rng(0).random((50, 4), dtype=np.float32)
    path = tmp_path / "x.npy"
    np.save(path, a)
    x = load_array(path)
    a[31, 2] = np.nan
    np.save(path, a)  # the same size; the mapping now shows the new bytes
    later = os.stat(path).st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))
    assert known_range(x) is None
    with pytest.raises(DataError, match="first in row 31"):
        rows_module.as_rows(x, "x", keep_memmap=True)
    assert reads == [50]


def test_a_range_outside_0_1_is_still_measured_on_the_rows_asked_about(tmp_path, reads, small_blocks):
    a = np.random.default_rng(0).random((200, 12), dtype=np.float32)
    a[150:] += 1  # the last 50 rows in [1, 2]
    np.save(tmp_path / "x.npy", a)
    x = load_array(tmp_path / "x.npy")
    cfg = aekit.TrainConfig()
    rows_module.check_ranges(cfg, x[:150], "the first rows")  # the file's range (0, 2) says nothing here: scanned
    assert reads == [150]
    with pytest.raises(
        DataError, match=rf"the data has values outside \[0, 1\] \(min {a.min():.4g}, max {a.max():.4g}\)"
    ):
        rows_module.check_ranges(cfg, x, "the data")


def test_unknown_memmaps_and_allowed_nan_are_scanned(tmp_path, reads):
    a = np.random.default_rng(0).random((40, 3), dtype=np.float32)
    np.save(tmp_path / "x.npy", a)
    rows_module.as_rows(np.load(tmp_path / "x.npy", mmap_mode="r"), "x", keep_memmap=True)  # not through load_array
    assert reads == [40]
    a[5, 1] = np.nan
    np.save(tmp_path / "gaps.npy", a)
    gaps = load_array(tmp_path / "gaps.npy", allow_nan=True)  # for imputation: loads, but its values are not all finite
    assert known_range(gaps) is None
    with pytest.raises(DataError, match="first in row 5"):
        rows_module.as_rows(gaps, "x", keep_memmap=True)


@pytest.mark.parametrize("row", [0, 63, 64, 199])
def test_load_array_names_nan_and_inf_in_any_block(tmp_path, small_blocks, row):
    a = np.zeros((200, 12), dtype=np.float32)
    a[row, 7] = np.nan
    np.save(tmp_path / "n.npy", a)
    with pytest.raises(DataError, match=rf"missing value \(NaN\) at \[{row}, 7\]"):
        load_array(tmp_path / "n.npy")
    a[row, 7] = -np.inf
    np.save(tmp_path / "i.npy", a)
    with pytest.raises(DataError, match=rf"infinite value at \[{row}, 7\]"):
        load_array(tmp_path / "i.npy", allow_nan=True)
