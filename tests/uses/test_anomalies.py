"""anomaly: per-row reconstruction error, thresholds, ROC-AUC, `aekit anomaly`; on MNIST and sklearn's tables."""

import csv
import warnings

import numpy as np
import pytest
import torch
from aekit_subprocess import aekit_cli

import aekit
from aekit.errors import ConfigError, DataError
from aekit.kinds import IdentityWarning
from aekit.uses.anomalies import (
    anomaly,
    anomaly_scores,
    binary_labels,
    roc_auc,
    threshold_from,
)
from aekit.uses.detector import error_scale, feature_errors, scaled_errors


@pytest.fixture(scope="module")
def zeros_model(mnist_small):
    """Trained on the 0s of the small MNIST set only (one-class)."""
    x, y = mnist_small[0], mnist_small[1]
    model = aekit.Autoencoder(aekit.ModelConfig(encoding_dim=16))
    aekit.fit(model, x[y == 0], epochs=8, batch_size=32, optimizer="adam", verbose=0)
    return model.eval()


def test_scores_are_per_row_reconstruction_errors(zeros_model, mnist_small):
    x = mnist_small[2][:30]
    with torch.no_grad():
        r = zeros_model(torch.from_numpy(x)).numpy().astype(np.float64)
    np.testing.assert_allclose(anomaly_scores(zeros_model, x), ((r - x) ** 2).mean(1), rtol=1e-5)
    p = np.clip(r, 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(
        anomaly_scores(zeros_model, x, score="bce"), -(x * np.log(p) + (1 - x) * np.log(1 - p)).mean(1), rtol=1e-4
    )
    with pytest.raises(ConfigError, match="unknown score"):
        anomaly_scores(zeros_model, x, score="mae")


def test_scoring_a_memmap_reads_it_in_blocks(zeros_model, big_npy, rss_file_kib):
    x = aekit.load_array(big_npy)
    before = rss_file_kib()
    scores = {score: anomaly_scores(zeros_model, x, score=score) for score in ("mse", "bce")}  # bce scans the range too
    grown = rss_file_kib() - before
    assert grown < 16 * 1024, f"scoring left {grown / 1024:.0f} MiB of the file mapped"
    for score, values in scores.items():
        np.testing.assert_array_equal(values, anomaly_scores(zeros_model, np.load(big_npy), score=score))


def test_one_class_mnist_separates_the_trained_digit(zeros_model, mnist_small):
    x, y = mnist_small[2], mnist_small[3]
    res = anomaly(zeros_model, x, labels=y, normal=[0], contamination=0.1)
    assert res.scores.shape == res.flags.shape == (500,)
    assert res.roc_auc > 0.9  # 0s reconstruct far better than other digits
    assert res.n_flagged == 50 and res.rule == "contamination 0.1"
    assert res.scores[y == 0].mean() < res.scores[y != 0].mean()


def test_thresholds_and_labels():
    s = np.arange(100, dtype=float)
    assert (s > threshold_from(s, contamination=0.05)).sum() == 5
    assert threshold_from(s, reference=np.arange(11.0), quantile=0.5) == 5.0
    with pytest.raises(ConfigError, match="exactly one"):
        threshold_from(s, contamination=0.1, quantile=0.9)
    with pytest.raises(ConfigError, match="needs reference scores"):
        threshold_from(s, quantile=0.9)
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        threshold_from(s, contamination=1.5)
    assert binary_labels([3, 5, 3, 7], normal=[3]).tolist() == [0, 1, 0, 1]
    assert binary_labels([3, 5, 3, 7], normal=[3, 7]).tolist() == [0, 1, 0, 0]
    with pytest.raises(DataError, match=r"no row has the normal label\(s\) 9.*labels are 3, 5, 7"):
        binary_labels([3, 5, 3, 7], normal=[9])  # every row an anomaly: no ROC-AUC to give, a typo to name
    with pytest.raises(DataError, match="not 0/1"):
        binary_labels([3, 5, 3, 7])
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0 and roc_auc([0, 0], [1, 2]) is None


@pytest.mark.parametrize("n_ref, warned", [(1, True), (19, True), (20, False)])
def test_a_quantile_of_too_few_reference_rows_is_warned_of(n_ref, warned):
    from aekit.errors import AekitWarning

    model = aekit.Autoencoder(aekit.ModelConfig(input_dim=6, encoding_dim=2, hidden=(4,)))
    x = np.random.default_rng(0).random((30, 6)).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = anomaly(model, x, reference=x[:n_ref])
    assert res.rule == f"quantile 0.99 of {n_ref} reference row{'s' * (n_ref != 1)}"
    ours = [w for w in caught if issubclass(w.category, AekitWarning)]
    assert len(ours) == warned
    if warned:
        assert f"only {n_ref} reference row" in str(ours[0].message) and "unreliable" in str(ours[0].message)


def test_breast_cancer_table_one_class():
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)  # y: 1 benign, 0 malignant
    x = ((x - x.min(0)) / (x.max(0) - x.min(0))).astype(np.float32)
    benign = np.flatnonzero(y == 1)
    train, rest = benign[:200], np.setdiff1d(np.arange(len(x)), benign[:200])
    model = aekit.Autoencoder(aekit.ModelConfig(input_dim=30, encoding_dim=4))
    aekit.fit(model, x[train], epochs=60, batch_size=32, optimizer="adam", loss="mse", verbose=0)
    res = anomaly(model, x[rest], reference=x[train], quantile=0.95, labels=(y[rest] == 0).astype(int))
    assert res.rule == "quantile 0.95 of 200 reference rows"
    assert res.roc_auc > 0.85
    assert res.flags[y[rest] == 0].mean() > res.flags[y[rest] == 1].mean()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ano") / "run"
    aekit.train(
        aekit.ModelConfig(encoding_dim=8),
        aekit.TrainConfig(epochs=1, optimizer="adam"),
        limit=600,
        out=out,
        tensorboard=False,
        verbose=0,
    )
    return out


def test_run_reference_is_its_validation_rows(run):
    x = aekit.load_dataset("mnist").x_test[:100]  # the run (limit 600) validated on the first 100 test rows
    res = anomaly(run, x)
    assert res.rule == "quantile 0.99 of 100 reference rows"
    assert res.threshold == pytest.approx(np.quantile(res.scores, 0.99))
    with pytest.raises(ConfigError, match=r"pass reference \(normal rows\) or use contamination"):
        anomaly(aekit.load_model(run), x)  # an in-memory model has no validation rows


def test_cli_anomaly(run, tmp_path):
    out = tmp_path / "s.csv"
    proc = aekit_cli(
        "anomaly",
        run,
        "mnist",
        "--limit",
        300,
        "--normal",
        "1",
        "--contamination",
        0.2,
        "-o",
        out,
        "--plot",
        tmp_path / "h.png",
    )
    assert proc.returncode == 0, proc.stderr
    assert "300 rows" in proc.stdout and "60 flagged" in proc.stdout and "ROC-AUC" in proc.stdout
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 300 and list(rows[0]) == ["score", "anomaly", "label"]
    assert sum(int(r["anomaly"]) for r in rows) == 60 and (tmp_path / "h.png").is_file()
    assert sum(1 - int(r["label"]) for r in rows) == int((aekit.load_dataset("mnist").y_test[:300] == 1).sum())
    proc = aekit_cli("anomaly", run / "model.safetensors", "mnist", "--limit", 10, "-o", tmp_path / "t.csv")
    assert proc.returncode == 0, proc.stderr  # model.safetensors inside a run folder finds its config.json
    np.save(tmp_path / "w.npy", np.zeros((3, 12), dtype=np.float32))
    proc = aekit_cli("anomaly", run, tmp_path / "w.npy", "-o", tmp_path / "u.csv")
    assert proc.returncode == 2 and "has 12 features but the model expects 784" in proc.stderr
    assert not (tmp_path / "u.csv").exists()


def test_an_anomaly_result_shows_in_a_notebook_as_a_table(run):
    from html_tables import parse_html

    ds = aekit.load_dataset("mnist")
    res = anomaly(run, ds.x_test[:200], contamination=0.1, labels=ds.y_test[:200], normal=[0, 1, 2, 3, 4, 5, 6, 8, 9])
    (rows,), _, text = parse_html(res._repr_html_())
    shown = dict(rows)
    assert shown["rows scored"] == "200" and shown["rule"] == "contamination 0.1"
    assert shown["flagged"] == f"{res.n_flagged} ({res.n_flagged / 200:.1%})"
    assert shown["ROC-AUC"] == f"{res.roc_auc:,.4f}" and "Anomaly scores" in text


# --------------------------------------------------------------------------- the anomaly recipe
def test_recipe_on_images_scores_in_code_space(mnist_small):
    from aekit.uses.anomalies import fit_detector

    x, y, xt, yt = mnist_small
    det = fit_detector(x[y == 1][:150], epochs=1)  # 30 of the 150 held out to standardise the score
    assert det.model.config.architecture == "conv" and det.terms == ("code",)
    assert det.codes[0].shape == (120, det.model.config.encoding_dim)
    scores = det.score(xt[:200])
    assert scores.shape == (200,) and roc_auc((yt[:200] != 1).astype(int), scores) > 0.9
    ones = xt[:200][yt[:200] == 1]  # normal rows not trained on: z-scores near 0, anomalies far above
    assert abs(np.median(det.score(ones))) < 1.0 and np.median(scores[yt[:200] != 1]) > 2


@pytest.mark.parametrize("side", [5, 8])
def test_recipe_on_small_images_trains_without_an_identity_warning(side):
    """8×8 digits (as images, in [0, 1]) and 5×5 images: a code smaller than the image, nothing to warn of."""
    from aekit.uses.anomalies import fit_detector

    x = np.random.default_rng(0).random((40, side * side)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdentityWarning)
        det = fit_detector(x, epochs=1)
    assert det.model.config.image_shape == (1, side, side)
    assert det.model.config.encoding_dim < side * side and np.isfinite(det.score(x[:3])).all()


def test_recipe_on_a_table_averages_three_models_reconstruction_errors():
    from sklearn.datasets import load_breast_cancer

    from aekit.uses.anomalies import fit_detector

    x, y = load_breast_cancer(return_X_y=True)
    benign, malignant = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    mean, sd = x[benign[:200]].mean(0), x[benign[:200]].std(0)
    z = ((x - mean) / sd).astype(np.float32)
    det = fit_detector(z[benign[:160]], validation=z[benign[160:200]], seed=1, epochs=20)
    assert det.model.config.architecture == "dense" and det.terms == ("reconstruction",) and len(det.models) == 3
    assert len(det.codes[0]) == 160 and set(det.norm[0]) == {"reconstruction"}
    val = z[benign[160:200]]  # the error scale and the standardisation: the 40 validation rows, not training rows
    np.testing.assert_allclose(det.scale[0], error_scale(feature_errors(det.models[0], val)), rtol=1e-6)
    mid, sd = det.norm[0]["reconstruction"]
    assert mid == pytest.approx(float(np.median(scaled_errors(det.models[0], val, det.scale[0]))), rel=1e-6)
    test = np.r_[benign[200:300], malignant[:20]]
    assert roc_auc(np.r_[np.zeros(100), np.ones(20)], det.score(z[test])) > 0.9
    model_cfg, train_cfg = aekit.configure("anomaly", input_dim=30, loss="mse", output_activation="linear")
    assert (model_cfg.hidden, model_cfg.encoding_dim) == ((240,), 15)


def test_the_reconstruction_term_divides_each_features_error_by_its_scale_on_normal_rows():
    from aekit.uses.anomalies import fit_detector

    x = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    det = fit_detector(x[:240], validation=x[240:], seed=0, members=1, epochs=5, min_steps=0)
    model = det.model
    with torch.no_grad():
        recon = model.reconstruct_net(torch.as_tensor(x[240:])).numpy()
    errors = np.abs(recon - x[240:])
    np.testing.assert_allclose(feature_errors(model, x[240:]), errors, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(det.scale[0], error_scale(errors), rtol=1e-5)
    np.testing.assert_allclose(scaled_errors(model, x[240:], det.scale[0]), (errors / det.scale[0]).mean(1), rtol=1e-5)
    floored = error_scale(np.array([[1.0, 2.0, 4.0, 0.0]]))  # at least the median feature's 1.5
    np.testing.assert_allclose(floored, [1.5, 2.0, 4.0, 1.5])


def test_the_reconstruction_term_weighs_down_a_noisy_feature_and_not_up_a_quiet_one():
    from aekit.uses.detector import Detector

    model = aekit.Autoencoder(aekit.ModelConfig(input_dim=4, encoding_dim=2, output_activation="linear"))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()  # reconstructs every row as 0: a row's error is the row itself
    normal = np.random.default_rng(0).normal(size=(400, 4)) * [5.0, 1.0, 1.0, 0.01]  # noisy, two plain, quiet
    det = Detector([model], [np.zeros((1, 2), np.float32)], ("reconstruction",)).standardise_on(normal)
    np.testing.assert_allclose(det.scale[0], [4.0, 0.8, 0.8, 0.8], rtol=0.1)  # the quiet one's: the median's
    rows = np.array([[10.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 0, 0.5]], np.float32)
    mse, score = anomaly_scores(model, rows), det.score(rows)
    assert mse[0] > mse[1] > mse[2] and score[1] > score[0] > score[2]  # 2 sd off in a noisy column: less than 3


def test_an_ensemble_averages_its_members_standardised_scores():
    from aekit.uses.anomalies import fit_detector

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    det = fit_detector(x, members=2, seed=3, epochs=2)
    assert len(det.models) == len(det.codes) == len(det.norm) == 2
    assert [m.config.seed for m in det.models] == [3, 4]
    test = rng.normal(size=(10, 6)).astype(np.float32)
    each = []
    for i in range(2):
        raw = det.raw_terms(test, i)
        each.append(sum((raw[t] - det.norm[i][t][0]) / det.norm[i][t][1] for t in det.terms))
    np.testing.assert_allclose(det.score(test), (each[0] + each[1]) / 2, rtol=1e-5)
    with pytest.raises(ConfigError, match="members must be at least 1"):
        fit_detector(x, members=0)
    with pytest.raises(DataError, match="too few"):
        fit_detector(x[:2])


def test_a_table_run_of_the_recipe_scores_by_its_reconstruction_error_standardised_on_validation_rows(tmp_path):
    from sklearn.datasets import load_breast_cancer

    from aekit.uses.anomalies import run_detector, validation_rows

    x, y = load_breast_cancer(return_X_y=True)
    np.save(tmp_path / "benign.npy", x[y == 1][:300].astype(np.float32))
    model_cfg, train_cfg = aekit.configure("anomaly", input_dim=30, epochs=3)
    out = tmp_path / "run"
    aekit.train(
        model_cfg, train_cfg, kind="anomaly", data=str(tmp_path / "benign.npy"), out=out, tensorboard=False, verbose=0
    )
    det = run_detector(out)
    assert det.terms == ("reconstruction",) and len(det.models) == 1 and det.model.config.architecture == "dense"
    rows = x[np.r_[np.flatnonzero(y == 1)[300:], np.flatnonzero(y == 0)[:20]]].astype(np.float32)
    res = anomaly(out, rows, contamination=0.1)  # auto: the run's kind is the recipe
    assert res.score == "recipe"
    mid, sd = det.norm[0]["reconstruction"]
    held_out = validation_rows(aekit.load_run(out)[1])  # the 30 rows the run held out
    np.testing.assert_allclose(det.scale[0], error_scale(feature_errors(det.model, held_out)), rtol=1e-6)
    val = scaled_errors(det.model, held_out, det.scale[0])
    assert len(val) == 30 and mid == pytest.approx(float(np.median(val)), rel=1e-6)
    np.testing.assert_allclose(res.scores, (scaled_errors(det.model, rows, det.scale[0]) - mid) / sd, rtol=1e-5)
    assert anomaly(out, rows, contamination=0.1, score="mse").score == "mse"


@pytest.mark.parametrize("columns", [4, 9, 16])
def test_recipe_on_a_table_with_a_square_number_of_columns_is_the_table_recipe(columns):
    """4, 9 or 16 columns outside [0, 1] (iris, sensors) are a table, not a 2×2 to 4×4 image: the dense model scored
    by its reconstruction error (a conv model of a 3×3 'image' scored this table below chance, ROC-AUC 0.27)."""
    from aekit.uses.anomalies import fit_detector

    r = np.random.default_rng(0)
    x = r.normal(size=(60, columns)).astype(np.float32)
    det = fit_detector(x, epochs=1, members=1)
    assert det.model.config.architecture == "dense" and det.terms == ("reconstruction",)
    assert np.isfinite(det.score(x[:5])).all()
    pixels = fit_detector(r.random((60, 784)).astype(np.float32), epochs=1)  # in [0, 1]: 28×28 images, as before
    assert pixels.model.config.architecture == "conv"
