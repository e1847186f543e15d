"""`aekit anomaly` on a run of the anomaly recipe, as a user runs it: trained on a folder of MNIST 1s by
`aekit train --recipe anomaly`, then scored by the recipe's score (the same as the library's detector), by
reconstruction error on request, with a folder of images as the reference rows; bad requests refused with one line."""

import csv
import json
import re
import shutil

import numpy as np
import pytest
from aekit_subprocess import aekit_cli as aekit
from PIL import Image

import aekit as ae


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """200 training 1s and 40 reference 1s from MNIST's training split, as PNG files in class folders."""
    root = tmp_path_factory.mktemp("ones")
    ds = ae.load_dataset("mnist")
    ones = ds.x_train[ds.y_train == 1]
    for name, rows in (("train", ones[:200]), ("reference", ones[200:240])):
        (root / name / "one").mkdir(parents=True)
        for i, row in enumerate(rows):
            Image.fromarray((row.reshape(28, 28) * 255).round().astype(np.uint8)).save(root / name / "one" / f"{i}.png")
    return root


@pytest.fixture(autouse=True)
def _cache(folders, monkeypatch):
    monkeypatch.setenv("AEKIT_CACHE", str(folders / "cache"))


@pytest.fixture(scope="module")
def run(folders):
    import os

    os.environ["AEKIT_CACHE"] = str(folders / "cache")  # module scope: the autouse fixture is not yet active
    out = folders / "run"
    args = ("--epochs", 2, "--out", out, "-q", "--no-tensorboard")
    proc = aekit("train", "--recipe", "anomaly", "--data", folders / "train", *args)
    assert proc.returncode == 0, proc.stderr
    return out


def _scores(path):
    return np.array([float(r["score"]) for r in csv.DictReader(open(path))])


def test_a_recipe_run_is_scored_by_the_recipe_as_the_library_scores_it(run, tmp_path):
    from aekit.uses.anomalies import anomaly_scores, run_detector

    assert json.loads((run / "config.json").read_text())["kind"] == "anomaly"
    proc = aekit(
        "anomaly", run, "mnist", "--limit", 300, "--normal", "1", "--contamination", 0.2, "-o", tmp_path / "s.csv"
    )
    assert proc.returncode == 0, proc.stderr
    assert "300 rows scored by recipe" in proc.stdout and "60 flagged" in proc.stdout
    auc = float(re.search(r"ROC-AUC (\S+)", proc.stdout).group(1))
    assert auc > 0.9
    x = ae.load_dataset("mnist").x_test[:300]
    np.testing.assert_allclose(_scores(tmp_path / "s.csv"), run_detector(run).score(x), rtol=1e-4, atol=1e-4)
    proc = aekit("anomaly", run, "mnist", "--limit", 300, "--normal", "1", "--score", "mse", "-o", tmp_path / "m.csv")
    assert proc.returncode == 0, proc.stderr
    assert "300 rows scored by mse" in proc.stdout
    np.testing.assert_allclose(_scores(tmp_path / "m.csv"), anomaly_scores(run, x), rtol=1e-4)


def test_an_image_folder_is_the_reference(run, folders, tmp_path):
    from aekit.uses.anomalies import run_detector

    out = tmp_path / "s.csv"
    proc = aekit(
        "anomaly", run, "mnist", "--limit", 50, "--reference", folders / "reference", "--quantile", 0.9, "-o", out
    )
    assert proc.returncode == 0, proc.stderr
    assert "quantile 0.9 of 40 reference rows" in proc.stdout
    ref = np.stack(
        [
            np.asarray(Image.open(folders / "reference" / "one" / f"{i}.png"), np.float32).reshape(-1) / 255
            for i in range(40)
        ]
    )
    threshold = float(re.search(r"threshold (\S+)", proc.stdout).group(1))
    assert threshold == pytest.approx(np.quantile(run_detector(run).score(ref), 0.9), rel=1e-4, abs=1e-4)


def test_the_recipe_score_needs_a_run_folder(run, tmp_path):
    lone = tmp_path / "lone.safetensors"
    shutil.copy(run / "model.safetensors", lone)
    out = tmp_path / "s.csv"
    proc = aekit("anomaly", lone, "mnist", "--limit", 10, "--score", "recipe", "-o", out)
    assert proc.returncode == 2 and "recipe score needs a run folder" in proc.stderr and "--score mse" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()
    proc = aekit("anomaly", lone, "mnist", "--limit", 10, "--contamination", 0.1, "-o", out)  # auto: no recipe known
    assert proc.returncode == 0 and "scored by mse" in proc.stdout


@pytest.mark.parametrize("flags, epochs", [((), 40), (("--epochs", "4"), 4)])
def test_the_recipe_on_a_small_table_trains_its_least_number_of_steps(tmp_path, flags, epochs):
    """1,000 rows, 900 trained on in batches of 64: 15 steps an epoch, so the recipe's 600 steps take 40 epochs (its
    preset is 30); an epoch count given wins."""
    rows = np.random.default_rng(0).normal(size=(1000, 5))
    np.savetxt(tmp_path / "t.csv", rows, delimiter=",", header="a,b,c,d,e", comments="")
    out = tmp_path / "run"
    args = ("--out", out, "-q", "--no-tensorboard", *flags)
    proc = aekit("train", "--recipe", "anomaly", "--data", tmp_path / "t.csv", *args)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["epochs"] == epochs
    assert len(json.loads((out / "history.json").read_text())["epoch"]) == epochs


def test_a_threshold_on_too_few_reference_rows_is_warned_of_in_one_line(tmp_path):
    """6 normal rows: the run holds out 1 validation row, whose score is the whole threshold (half the normal rows
    were flagged); the command still scores, and says so in one line naming what to do."""
    r = np.random.default_rng(0)
    np.save(tmp_path / "normal.npy", r.normal(size=(6, 5)).astype(np.float32))
    np.save(tmp_path / "test.npy", r.normal(size=(20, 5)).astype(np.float32))
    out = tmp_path / "run"
    proc = aekit("train", "--recipe", "anomaly", "--data", tmp_path / "normal.npy", "--epochs", 3, "--out", out, "-q")
    assert proc.returncode == 0, proc.stderr
    proc = aekit("anomaly", out, tmp_path / "test.npy", "-o", tmp_path / "s.csv")
    assert proc.returncode == 0, proc.stderr
    assert "(quantile 0.99 of 1 reference row)" in proc.stdout and (tmp_path / "s.csv").is_file()
    (warning,) = proc.stderr.strip().splitlines()
    assert warning.startswith("aekit: warning: the threshold is the 0.99 quantile of the scores of only 1 reference")
    assert "unreliable" in warning and "--reference" in warning and "--contamination" in warning
    proc = aekit("anomaly", out, tmp_path / "test.npy", "--contamination", 0.1, "-o", tmp_path / "c.csv")
    assert proc.returncode == 0 and proc.stderr == ""  # a rate needs no reference rows
