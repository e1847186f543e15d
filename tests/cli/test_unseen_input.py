"""`aekit` on inputs an adversarial sweep found mishandled: each is refused in one line, exit code 2, with nothing
written and nothing of the user's lost, or (a file name that is not UTF-8) works."""

import json
import shutil

import numpy as np
import pytest
from aekit_subprocess import aekit_cli as aekit
from PIL import Image


def snapshot(root):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else "dir") for p in sorted(root.rglob("*"))}


def refused(root, args, words):
    """Run `aekit ARGS` in `root`: exit 2, one line naming the problem, and nothing under `root` changed."""
    before = snapshot(root)
    proc = aekit(*args, cwd=root)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("aekit: error: ") and words in lines[0], proc.stderr
    assert snapshot(root) == before


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 1-epoch dense run on a 6-column table (min-max scaled) and a 1-epoch conv run on 8×8 images."""
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    np.save(root / "rows.npy", rng.random((24, 6)))
    np.save(root / "images.npy", rng.integers(0, 256, (16, 8, 8), dtype=np.uint8))
    quiet = ("--epochs", "1", "--no-tensorboard", "-q")
    proc = aekit("train", "--data", root / "rows.npy", "--kind", "denoising", "--noise-level", "0.2", "--out",
                 root / "dense", "--encoding-dim", "2", *quiet)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = aekit("train", "--data", root / "images.npy", "--kind", "conv", "--out", root / "conv", *quiet)
    assert proc.returncode == 0, proc.stderr
    return root


def _copy(runs, tmp_path, name):
    shutil.copytree(runs / name, tmp_path / name)
    shutil.copy(runs / "rows.npy", tmp_path / "rows.npy")
    return tmp_path / name


def test_two_outputs_at_one_path_are_refused_not_one_written_over_the_other(tmp_path, runs):
    _copy(runs, tmp_path, "dense")
    # denoise wrote the noisy rows over the denoised ones, exit 0
    args = ["denoise", "dense", "rows.npy", "-o", "d.npy", "--save-noisy", "./d.npy"]
    refused(tmp_path, args, "./d.npy: named for two outputs")
    (tmp_path / "holes.csv").write_text("a,b,c\n1,2,3\n4,,6\n7,8,9\n2,3,4\n5,5,5\n")
    # impute wrote its JSON report over the filled table, exit 0
    words = "f.csv: named for two outputs of this command, so the second would replace the first; give each output"
    refused(tmp_path, ["impute", "holes.csv", "-o", "f.csv", "--report", "f.csv", "--epochs", "1"], words)


@pytest.mark.parametrize(
    "args, words",
    [
        # it wrote the codes, then failed on the plot: "codes must be a non-empty (n, d) array, got shape (0, 2)"
        (["encode", "dense", "rows.npy", "-o", "c.npy", "--plot", "c.png", "--plot-limit", "0"], "--plot-limit must"),
        (["features", "dense", "--input", "rows.npy", "--max-units", "0", "-o", "f"], "--max-units must"),  # traceback
    ],
    ids=["encode-plot-limit", "features-max-units"],
)
def test_a_count_of_zero_is_refused_before_anything_is_written(tmp_path, runs, args, words):
    _copy(runs, tmp_path, "dense")
    refused(tmp_path, args, f"{words} be a positive integer, got 0; pass a whole number ≥ 1")


def test_features_of_a_conv_run_says_it_draws_dense_runs(tmp_path, runs):
    _copy(runs, tmp_path, "conv")
    shutil.copy(runs / "images.npy", tmp_path)
    words = "features draws the weights of a dense first encoder layer, but this model's encoder is conv"
    refused(tmp_path, ["features", "conv", "--input", "images.npy", "-o", "f"], words)  # StopIteration's traceback


def test_a_report_of_a_run_whose_metrics_json_is_no_object_names_the_file(tmp_path, runs):
    run = _copy(runs, tmp_path, "dense")
    (run / "metrics.json").write_text("[1, 2]")  # an AttributeError's traceback
    refused(tmp_path, ["report", "dense", "--out", "r.html"], "dense/metrics.json: not a JSON object; the file is")


def test_a_new_run_never_deletes_the_data_it_trains_on(tmp_path, runs):
    run = _copy(runs, tmp_path, "dense")
    shutil.copy(runs / "rows.npy", run / "mine.npy")  # --overwrite emptied the folder, and the data with it
    args = ["train", "--data", "dense/mine.npy", "--epochs", "1", "--out", "dense", "--overwrite"]
    refused(tmp_path, args, "dense/mine.npy: lies inside the run folder dense, which a new run empties first; move it")


def test_resuming_a_finished_run_whose_checkpoint_is_gone_keeps_its_model(tmp_path, runs):
    run = _copy(runs, tmp_path, "dense")
    shutil.rmtree(run / "checkpoint")  # it trained again from the start, and replaced model.safetensors, exit 0
    words = "dense/checkpoint/last.safetensors: not there, but dense holds a trained model.safetensors, which resuming"
    refused(tmp_path, ["train", "--resume", "dense", "--epochs", "2"], words)


def test_file_names_that_are_not_utf8_train_and_are_used(tmp_path):
    """A folder and files named in Latin-1 bytes: safetensors took no such path (every command said the model was
    "truncated or damaged", after `train` had written it), and the report, the scores, the codes' table and the
    comparison's figures could not write the names (tracebacks)."""
    import os

    folder, run = os.fsdecode(b"bilder-\xe9t\xe9"), os.fsdecode(b"lauf-\xe9")
    (tmp_path / folder).mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        name = os.fsdecode(b"bild-\xe9%d.png" % i)
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(tmp_path / folder / name)
    quiet = ("--epochs", "1", "--encoding-dim", "2", "--no-tensorboard", "-q")
    for args in (
        ["train", "--data", folder, "--out", run, *quiet],
        ["train", "--resume", run, "--epochs", "2", "-q"],
        ["encode", run, folder, "-o", "codes.csv"],
        ["anomaly", run, folder, "-o", "scores.csv", "--contamination", "0.25"],
        ["compare", run, run, "--html", "c.html"],
        ["summary", run],
    ):
        proc = aekit(*args, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stderr == "", (args, proc.stderr)
    assert (tmp_path / run / "report.html").is_file()
    assert json.loads((tmp_path / run / "metrics.json").read_text())
    scores = (tmp_path / "scores.csv").read_bytes().splitlines()
    assert scores[1].startswith(b"bild-\xe90.png,")  # the file's own bytes: a name to open it by
    codes = (tmp_path / "codes.csv").read_text().splitlines()
    assert codes[1].startswith("bild-\ufffd0.png,")  # pandas writes only UTF-8 text


@pytest.mark.parametrize(
    "section, field, value, words",
    [
        # it said "--epochs must be a positive integer, got 'x'", a flag `encode` has not and nobody typed
        ("train", "epochs", "x", "dense/config.json: bad train config (epochs must be a positive integer, got 'x'"),
        ("model", "bogus", 3, "dense/config.json: bad model config (unknown ModelConfig field(s) bogus; known"),
    ],
)
def test_an_edited_run_config_is_named_with_what_to_do(tmp_path, runs, section, field, value, words):
    run = _copy(runs, tmp_path, "dense")
    config = json.loads((run / "config.json").read_text())
    config[section][field] = value
    (run / "config.json").write_text(json.dumps(config))
    refused(tmp_path, ["encode", "dense", "rows.npy", "-o", "c.npy"], words)
    refused(tmp_path, ["encode", "dense", "rows.npy", "-o", "c.npy"], "; the file was edited or damaged, restore it or")
