"""Tables read as float32: a column whose variation float32 rounds away (1e9 give or take 1) is warned of, by name,
in every table format; ordinary columns, float32 files and exact reads are not."""

import warnings

import numpy as np
import pandas as pd
import pytest
from aekit_subprocess import aekit_cli

from aekit.data.arrays import load_array, read_table
from aekit.errors import AekitWarning


def _frame(offset: float) -> pd.DataFrame:
    r = np.random.default_rng(0)
    return pd.DataFrame({"small": r.normal(size=50), "big": offset + r.normal(size=50), "id": np.arange(50) * 1e6})


def _save(frame: pd.DataFrame, path, dtype=np.float64):
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        np.save(path, frame.to_numpy().astype(dtype))
    return path


def _warnings(fn, *args, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(*args, **kw)
    return [str(w.message) for w in caught if issubclass(w.category, AekitWarning)]


@pytest.mark.parametrize("suffix, column", [(".csv", "'big'"), (".parquet", "'big'"), (".npy", "2")])
def test_a_column_that_float32_turns_constant_is_warned_of_by_name(tmp_path, suffix, column):
    path = _save(_frame(1e9), tmp_path / f"t{suffix}")
    (message,) = _warnings(load_array, path)
    assert message.startswith(f"{path}: column {column} spans 999999997") and "steps of 64" in message
    assert "subtract a constant near 1e+09" in message
    with pytest.warns(AekitWarning):
        assert np.unique(load_array(path)[:, 1]).size <= 3  # what it warns of: 50 values, 1 to 3 left
    assert _warnings(read_table, path, exact=True) == []  # exact: read as float64, nothing lost


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npy"])
def test_ordinary_columns_and_float32_files_are_read_without_a_word(tmp_path, suffix):
    path = _save(_frame(1e3), tmp_path / f"t{suffix}")  # 1e3 ± 1 and IDs up to 4.9e7: float32 keeps them
    assert _warnings(load_array, path) == []
    assert _warnings(load_array, _save(_frame(1e9), tmp_path / "f32.npy", np.float32)) == []  # rounded on saving


def test_integers_far_from_zero_are_warned_of_too(tmp_path):
    np.save(tmp_path / "ids.npy", 10**12 + np.arange(100).reshape(50, 2))
    (message,) = _warnings(load_array, tmp_path / "ids.npy")
    assert "column 1 spans 1e+12" in message and "(and 1 more column)" in message


def test_aekit_train_says_it_in_one_line(tmp_path):
    _save(_frame(1e9), tmp_path / "t.csv")
    args = ("--epochs", 1, "--encoding-dim", 1, "--out", tmp_path / "run", "-q", "--no-tensorboard")
    proc = aekit_cli("train", "--data", tmp_path / "t.csv", *args)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("aekit: warning: ") and "column 'big' spans" in line and "float32" in line
