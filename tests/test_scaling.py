import numpy as np
import pytest

from aekit import ConfigError
from aekit.scaling import ColumnStats, resolve_scale, scaler


def test_merged_block_stats_equal_numpy_on_the_whole(rng):
    x = rng.normal(1e4, 3.0, size=(1000, 3))  # a large mean: the pairwise update keeps the spread exact
    stats = ColumnStats.of(x[:10])
    for start in range(10, 1000, 97):
        stats = stats.merge(ColumnStats.of(x[start : start + 97]))
    assert stats.n == 1000
    np.testing.assert_allclose(stats.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.std, x.std(axis=0), rtol=1e-9)
    np.testing.assert_array_equal(stats.min, x.min(axis=0))
    np.testing.assert_array_equal(stats.max, x.max(axis=0))


@pytest.mark.parametrize(
    "kind, offset, spread", [("standard", [2.0, 7.0], [1.0, 1.0]), ("minmax", [1.0, 7.0], [2.0, 1.0])]
)
def test_scaler_gives_constant_columns_scale_one(kind, offset, spread):
    stats = ColumnStats.of(np.array([[1.0, 7.0], [3.0, 7.0]]))  # column 2 is constant: never divided by 0
    got_offset, got_spread = scaler(kind, stats)
    assert got_offset.dtype == np.float32 and got_spread.dtype == np.float32
    np.testing.assert_array_equal(got_offset, offset)
    np.testing.assert_array_equal(got_spread, spread)


@pytest.mark.parametrize(
    "rows, bce_given, want",
    [
        ([[0.0, 1.0], [0.5, 0.2]], False, "none"),  # rows in [0, 1]: as they are (images, the tutorial)
        ([[0.0, 13.0], [0.5, -2.0]], False, "standard"),  # a table
        ([[0.0, 13.0], [0.5, -2.0]], True, "none"),  # a chosen bce meets the rows as they are (and refuses them)
        (None, False, "none"),  # a named image set: not scanned
    ],
)
def test_auto_follows_the_rows(rows, bce_given, want):
    stats = None if rows is None else ColumnStats.of(np.array(rows))
    assert resolve_scale("auto", stats, bce_given) == want
    assert resolve_scale("minmax", stats, bce_given) == "minmax"  # a named scale is kept


def test_unknown_scale_names_the_choices():
    with pytest.raises(ConfigError, match="unknown scale 'zscore'; choose one of: auto, standard, minmax, none"):
        resolve_scale("zscore", None)
