"""`aekit impute`'s summary line and flags (cli/imputation.py), run as a real subprocess."""

import json

import pytest
from aekit_subprocess import aekit_cli as aekit


@pytest.mark.parametrize(
    "table, flags, said",
    [
        # one observed cell a column: none can be held out (each column keeps a training cell), so no estimate
        ("a,b\n1,\n,2\n", ["--members", 3], "filled 2 of 4 cells; no held-out estimate of the error (too few observed"),
        # 8 observed cells: some of the 5 members hold none out; the estimate is the others' mean, not nan
        ("a,b\n1,2\n,\n3,4\n5,7\n2,3\n", ["--members", 5, "--no-linear"], "filled 2 of 10 cells; held-out RMSE "),
    ],
)
def test_a_tiny_tables_error_estimate_is_a_number_or_said_to_be_missing_never_nan(tmp_path, table, flags, said):
    (tmp_path / "t.csv").write_text(table)
    proc = aekit(
        "impute", "t.csv", "-o", "out.csv", "--epochs", 3, *flags, "--report", "r.json", cwd=tmp_path, check=True
    )
    assert "nan" not in proc.stdout and said in proc.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["holdout_rmse"] is None) == ("no held-out" in said)
    assert len(report["linear_weights"]) == (0 if "--no-linear" in flags else 2)  # the linear stage's share a column
    assert (tmp_path / "out.csv").read_text().splitlines()[2].count(",") == 1


def test_no_clip_lets_the_fills_leave_the_observed_range_as_the_library_does(tmp_path):
    """`--no-clip` is the library's `clip=False`: on a linear table whose column 1 misses its largest values, the
    command's fills pass the observed maximum there, exactly as `impute(..., clip=False)` gives them; by default not."""
    import numpy as np

    from aekit.data.arrays import read_table, write_table
    from aekit.uses.imputation import impute

    r = np.random.default_rng(5)
    base = r.uniform(0, 10, size=(120, 1))
    gappy = (np.hstack([base, 2 * base]) + 0.05 * r.normal(size=(120, 2))).astype(np.float32)
    gappy[np.argsort(base[:, 0])[-8:], 1] = np.nan
    write_table(tmp_path / "t.csv", gappy, ["a", "b"])
    flags = ["--epochs", 30, "--members", 1, "--seed", 1]
    aekit("impute", "t.csv", "-o", "free.csv", "--no-clip", *flags, cwd=tmp_path, check=True)
    aekit("impute", "t.csv", "-o", "clipped.csv", *flags, cwd=tmp_path, check=True)
    (free, _), (clipped, _) = read_table(tmp_path / "free.csv"), read_table(tmp_path / "clipped.csv")
    gappy = read_table(tmp_path / "t.csv", allow_nan=True)[0]  # as the command read it
    high, missing = np.nanmax(gappy[:, 1]), np.isnan(gappy[:, 1])
    assert (free[missing, 1] > high).any() and (clipped[missing, 1] <= high).all()
    np.testing.assert_allclose(free, impute(gappy, clip=False, epochs=30, members=1, seed=1), rtol=1e-6)


def test_variational_blends_a_miwae_as_the_library_does(tmp_path):
    """`--variational` is the library's `variational=True`: the same fills, and the report gives each column's share."""
    import json

    import numpy as np

    from aekit.data.arrays import read_table, write_table
    from aekit.uses.imputation import impute

    r = np.random.default_rng(2)
    base = r.normal(size=(60, 1))
    gappy = (np.hstack([base, -base, 0.5 * base]) + 0.1 * r.normal(size=(60, 3))).astype(np.float32)
    gappy[r.random(gappy.shape) < 0.15] = np.nan
    write_table(tmp_path / "t.csv", gappy, ["a", "b", "c"])
    flags = ["--epochs", 20, "--members", 1, "--seed", 1, "--report", "r.json"]
    aekit("impute", "t.csv", "-o", "v.csv", "--variational", *flags, cwd=tmp_path, check=True)
    shares = json.loads((tmp_path / "r.json").read_text())["variational_weights"]
    assert len(shares) == 3 and set(shares) <= {0.0, 0.25, 0.5}
    gappy = read_table(tmp_path / "t.csv", allow_nan=True)[0]
    want = impute(gappy, variational=True, epochs=20, members=1, seed=1)
    np.testing.assert_allclose(read_table(tmp_path / "v.csv")[0], want, rtol=1e-5, atol=1e-6)  # threads: 1 vs 2


def test_method_auto_blends_missforest_as_the_library_does(tmp_path):
    """`--method auto` is the library's `method="auto"`: the same fills, and the report gives each column's share."""
    import json

    import numpy as np

    from aekit.data.arrays import read_table, write_table
    from aekit.uses.imputation import impute

    r = np.random.default_rng(4)
    a = r.normal(size=(80, 1))
    gappy = np.hstack([a, np.sin(a), 2.0 * (a > 0.3)]).astype(np.float32) + 0.05 * r.normal(size=(80, 3)).astype("f4")
    gappy[r.random(gappy.shape) < 0.15] = np.nan
    write_table(tmp_path / "t.csv", gappy, ["a", "b", "c"])
    flags = ["--epochs", 20, "--members", 1, "--seed", 1, "--report", "r.json"]
    aekit("impute", "t.csv", "-o", "f.csv", "--method", "auto", *flags, cwd=tmp_path, check=True)
    shares = json.loads((tmp_path / "r.json").read_text())["forest_weights"]
    assert len(shares) == 3 and set(shares) <= {0.0, 0.5, 1.0}
    gappy = read_table(tmp_path / "t.csv", allow_nan=True)[0]
    want, info = impute(gappy, method="auto", epochs=20, members=1, seed=1, return_info=True)
    assert list(info.forest_weights) == shares
    np.testing.assert_allclose(read_table(tmp_path / "f.csv")[0], want, rtol=1e-5, atol=1e-6)  # threads: 1 vs 2


@pytest.mark.parametrize(
    "flags, second_phase, refit", [([], True, True), (["--no-self-train"], False, True), (["--no-refit"], True, False)]
)
def test_self_training_and_refit_are_on_by_default_and_their_flags_are_the_librarys_false(
    tmp_path, flags, second_phase, refit
):
    """The report counts the first member's self-training and refit epochs; `--no-self-train` gives
    `self_train=False`'s fills and `--no-refit` `refit=False`'s."""
    import numpy as np

    from aekit.data.arrays import read_table, write_table
    from aekit.uses.imputation import impute

    r = np.random.default_rng(6)
    base = r.normal(size=(70, 1))
    gappy = (np.hstack([base, 2 * base, base**2]) + 0.1 * r.normal(size=(70, 3))).astype(np.float32)
    gappy[r.random(gappy.shape) < 0.15] = np.nan
    write_table(tmp_path / "t.csv", gappy, ["a", "b", "c"])
    common = ["--epochs", 20, "--members", 1, "--seed", 2, "--report", "r.json"]
    aekit("impute", "t.csv", "-o", "f.csv", *flags, *common, cwd=tmp_path, check=True)
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["self_train_epochs"] > 0) == second_phase and (report["refit_epochs"] > 0) == refit
    assert (
        report["epochs"] - report["self_train_epochs"] <= 20 and len(report["history"]["val_rmse"]) == report["epochs"]
    )
    gappy = read_table(tmp_path / "t.csv", allow_nan=True)[0]
    want = impute(gappy, self_train=second_phase, refit=refit, epochs=20, members=1, seed=2)
    np.testing.assert_allclose(read_table(tmp_path / "f.csv")[0], want, rtol=1e-5, atol=1e-6)  # threads: 1 vs 2


@pytest.mark.parametrize("flags, on", [([], True), (["--no-self-masking"], False), (["--self-masking"], True)])
def test_the_self_masking_shift_is_on_by_default_and_its_flags_are_the_librarys(tmp_path, flags, on):
    """Gaps at high values: by default (or `--self-masking`) the report gives the slope and each column's shift, and a
    line says the fills moved; `--no-self-masking` gives none; the fills are the library's with `self_masking` as
    the flags say."""
    import numpy as np

    from aekit.data.arrays import read_table, write_table
    from aekit.uses.imputation import impute

    r = np.random.default_rng(0)
    x = r.normal(size=(400, 3)) @ r.normal(size=(3, 8)) + 0.5 * r.normal(size=(400, 8))  # three factors, 8 columns
    hidden = np.random.default_rng(1).random(x.shape) < np.where(x > np.median(x, axis=0), 0.4, 0.05)
    write_table(tmp_path / "t.csv", np.where(hidden, np.nan, x).astype(np.float32), list("abcdefgh"))
    common = ["--epochs", 20, "--members", 2, "--report", "r.json"]
    proc = aekit("impute", "t.csv", "-o", "f.csv", *flags, *common, cwd=tmp_path, check=True)
    assert ("the gaps are likelier at high values (self-masking slope +" in proc.stdout) == on
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["self_masking_slope"] > 0) == on and len(report["self_masking_shift"]) == (8 if on else 0)
    want = impute(read_table(tmp_path / "t.csv", allow_nan=True)[0], self_masking=on, epochs=20, members=2)
    np.testing.assert_allclose(read_table(tmp_path / "f.csv")[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".parquet"])
def test_observed_cells_come_back_exactly_from_a_file_float32_would_round(tmp_path, suffix):
    """A column at a 1e9 offset (timestamps, ids) and integers past 2**24: float32 rounded them (1000000000.126 came
    back as 1e+09), so the file is read in float64 and every observed cell is written back exactly."""
    import numpy as np
    import pandas as pd

    from aekit.data.arrays import write_table

    r = np.random.default_rng(0)
    x = np.column_stack([1e9 + np.round(r.random(30), 3), 16777217 + np.arange(30), r.normal(size=30)])
    x[[2, 7, 11], [0, 1, 2]] = np.nan
    write_table(tmp_path / f"t{suffix}", x, ["a", "b", "c"])
    aekit("impute", f"t{suffix}", "-o", f"out{suffix}", "--epochs", 3, "--members", 1, cwd=tmp_path, check=True)
    out = tmp_path / f"out{suffix}"
    filled = np.load(out) if suffix == ".npy" else (pd.read_csv if suffix == ".csv" else pd.read_parquet)(out).values
    seen = ~np.isnan(x)
    assert np.array_equal(filled[seen], x[seen]) and np.isfinite(filled).all()
    assert (filled[2, 0] >= 1e9) and (filled[2, 0] <= 1e9 + 1)  # the fill lies in the column's range too
