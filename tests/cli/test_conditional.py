"""`aekit train --kind cvae` on MNIST's labels, then `aekit sample --label`: a classifier fitted on MNIST pixels
reads the drawn rows as the class asked for; bad labels and runs without labels exit with 2."""

import json

import numpy as np
import pytest
from aekit_subprocess import aekit_cli

from aekit.cli.main import main

ARGS = ["--hidden", "256", "--encoding-dim", "2", "--limit", "2000", "--epochs", "8", "--batch-size", "64"]


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cvae") / "run"
    assert main(["train", "--kind", "cvae", *ARGS, "--out", str(out), "--quiet", "--no-tensorboard"]) == 0
    return out


@pytest.fixture(scope="module")
def digit_classifier():
    from sklearn.linear_model import LogisticRegression

    import aekit

    ds = aekit.load_dataset("mnist")
    return LogisticRegression(max_iter=200).fit(ds.x_train[-3000:], ds.y_train[-3000:])  # rows the cvae never saw


def test_sample_label_draws_that_class(cvae_run, digit_classifier, tmp_path):
    from aekit.uses.generation import sample

    cfg = json.loads((cvae_run / "config.json").read_text())
    assert cfg["model"]["n_classes"] == 10 and cfg["kind"] == "cvae"
    proc = aekit_cli("sample", cvae_run, "--label", "7", "-n", "64", "-o", tmp_path / "sevens.npy")
    assert proc.returncode == 0, proc.stderr
    sevens = np.load(tmp_path / "sevens.npy")
    assert sevens.shape == (64, 784)
    share_7 = float((digit_classifier.predict(sevens) == 7).mean())
    # an unconditioned model's draws are sevens ~10% of the time, whatever label is asked for
    assert share_7 >= 0.7, share_7
    others = [float((digit_classifier.predict(sample(cvae_run, 64, label=k)) == 7).mean()) for k in range(10) if k != 7]
    assert max(others) < 0.3 and max(others) < share_7, others
    hits = [float((digit_classifier.predict(sample(cvae_run, 64, label=k, seed=1)) == k).mean()) for k in range(10)]
    assert np.mean(hits) >= 0.6, hits


def test_a_cvae_run_reports_and_encodes_with_its_labels(cvae_run, tmp_path):
    page = (cvae_run / "report.html").read_text()
    assert all(f'alt="{alt}"' in page for alt in ("KL per unit", "samples", "manifold", "latent traversals"))
    metrics = json.loads((cvae_run / "metrics.json").read_text())
    assert "with their labels" in metrics["jacobian_norm_method"] and metrics["units"] == 2
    assert main(["encode", str(cvae_run), "mnist:test", "--limit", "20", "-o", str(tmp_path / "codes.csv")]) == 0
    assert (tmp_path / "codes.csv").read_text().count("\n") == 21
    assert main(["interpolate", str(cvae_run), "0", "1", "--steps", "6", "-o", str(tmp_path / "i.npy")]) == 0
    assert np.load(tmp_path / "i.npy").shape == (6, 784)
    assert main(["evaluate", str(cvae_run), "--nll", "--samples", "10", "--limit", "20", "--binarize", "fixed"]) == 0


def test_aekit_report_alone_draws_a_cvae_with_its_runs_own_labels(cvae_run, tmp_path):
    assert main(["report", str(cvae_run), "--out", str(tmp_path / "page.html")]) == 0
    page = (tmp_path / "page.html").read_text()
    assert all(f'alt="{alt}"' in page for alt in ("KL per unit", "latent traversals")), page[-2000:]
    assert "need the labels" not in page


def test_the_likelihood_given_the_true_labels_beats_wrong_ones(cvae_run):
    import aekit
    from aekit.uses.likelihood import nll

    ds = aekit.load_dataset("mnist")
    x, y = ds.x_test[:100], ds.y_test[:100]
    right = nll(cvae_run, x, samples=20, labels=y, likelihood="bernoulli")
    wrong = nll(cvae_run, x, samples=20, labels=(y + 1) % 10, likelihood="bernoulli")
    assert right.nll + 5 < wrong.nll, (right.nll, wrong.nll)


def test_bad_labels_exit_2_in_one_line(cvae_run, tmp_path):
    proc = aekit_cli("sample", cvae_run, "--label", "10", "-o", tmp_path / "s.npy")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "0…9" in proc.stderr
    assert not (tmp_path / "s.npy").exists()
    vae = tmp_path / "vae.safetensors"
    import aekit

    aekit.save_model(aekit.Autoencoder(aekit.configure("vae", hidden=(8,))[0]), vae)
    proc = aekit_cli("sample", vae, "--label", "3", "-o", tmp_path / "s.npy")
    assert proc.returncode == 2 and "not conditioned on labels" in proc.stderr
    # `aekit sample` has --label but no --kind: the hint names `aekit train`'s flag
    assert "drop --label or train --kind cvae" in proc.stderr
    table = tmp_path / "table.csv"
    np.savetxt(table, np.random.default_rng(0).random((40, 5)), delimiter=",")
    proc = aekit_cli("train", "--kind", "cvae", "--data", table, "--epochs", "1", "--out", tmp_path / "run")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "class labels" in proc.stderr
    assert not (tmp_path / "run").exists()
