"""The cells of examples/03_uses.ipynb (written by make_notebooks.py): codes, a map, gaps, denoising, anomalies."""

from __future__ import annotations


def cells(quick: str) -> list[tuple[str, str]]:
    """The notebook's ("md" | "code" | "parameters", source) cells; `quick` opens the parameters cell."""
    return [
        (
            "md",
            """
# Using an autoencoder: codes, a map, filling gaps, denoising, anomalies

One denoising autoencoder, trained on every MNIST digit but one (the 7s), serves each use below:
its codes reduce the images to 32 numbers, which a 2-D map shows; it denoises digits; and the
digits it never saw are the anomalies it scores. Filling the gaps of a table uses a model of its
own (`aekit.impute`).
""",
        ),
        (
            "md",
            """
**Parameters.** Full settings: 30,000 images, 15 epochs (about a minute on a 2-core CPU). Raise
`ROWS` to 60,000 and `EPOCHS` to 50 for better codes and scores; `IMPUTE_EPOCHS` is the imputer's
upper bound (it stops early).
""",
        ),
        (
            "parameters",
            quick
            + """
ROWS = 2000 if QUICK else 30000
EPOCHS = 2 if QUICK else 15
IMPUTE_EPOCHS = 20 if QUICK else 300
SEED = 0
""",
        ),
        (
            "code",
            """
from pathlib import Path

import numpy as np

import aekit

UNSEEN_DIGIT = 7  # left out of training: the anomalies
ds = aekit.load_dataset("mnist", limit=ROWS)
folder = Path("runs/notebook-uses")
folder.mkdir(parents=True, exist_ok=True)
np.save(folder / "digits.npy", ds.x_train[ds.y_train != UNSEEN_DIGIT])
""",
        ),
        (
            "md",
            """
Train a denoising run on those rows, with the `fast` recipe's Adam and one-cycle schedule
(`aekit train --kind denoising --recipe fast --data digits.npy` on the command line): 10% of the
rows are held out for validation, and the run folder holds the model, its report and its figures.
""",
        ),
        (
            "code",
            """
model_cfg, train_cfg = aekit.configure("denoising", optimizer="adam", lr=1e-2, schedule="onecycle",
                                       batch_size=256, epochs=EPOCHS, seed=SEED)
run = aekit.train(model_cfg, train_cfg, kind="denoising", data=str(folder / "digits.npy"),
                  out=folder / "run", overwrite=True, tensorboard=False)
run
""",
        ),
        (
            "md",
            """
## Codes and a 2-D map

`aekit.encode` gives each test image's 32-number code (`aekit encode RUN mnist -o codes.npy
--plot map.png`). The map projects the codes with PCA. A 5-nearest-neighbour classifier on the
codes shows how much of the digit they keep, against PCA with as many components.
""",
        ),
        (
            "code",
            """
from aekit.uses.encoding import code_plot, knn_accuracy, pca_baseline

codes = aekit.encode(run.path, ds.x_test)
_, pca_codes, _ = pca_baseline(ds.x_train, ds.x_test, codes.shape[1], seed=SEED)
half, y = len(codes) // 2, ds.y_test
for name, c in (("the codes", codes), (f"PCA-{codes.shape[1]}", pca_codes)):
    print(f"5-NN accuracy on {name}: {knn_accuracy(c[:half], y[:half], c[half:], y[half:]):.3f}")
code_plot(codes, y, title="test codes, PCA")
""",
        ),
        (
            "md",
            """
## Filling gaps

`aekit.impute` fills the empty cells of a numeric table (`aekit impute table.csv -o filled.csv`).
Here 20% of the cells of scikit-learn's breast-cancer table (569 rows, 30 columns, shipped with
scikit-learn) are hidden, filled, and compared with the hidden values, against filling each
column's mean.
""",
        ),
        (
            "code",
            """
from sklearn.datasets import load_breast_cancer

table = load_breast_cancer().data
hidden = np.random.default_rng(SEED).random(table.shape) < 0.2
gaps = np.where(hidden, np.nan, table)
filled = aekit.impute(gaps, epochs=IMPUTE_EPOCHS, seed=SEED)
means = np.where(hidden, np.nanmean(gaps, axis=0), gaps)
assert np.array_equal(filled[~hidden], table[~hidden])  # observed cells come back unchanged


def rmse(guess):  # on the hidden cells, in units of each column's spread
    return float(np.sqrt(np.mean(((guess - table) / table.std(axis=0))[hidden] ** 2)))


print(f"RMSE on the hidden cells: autoencoder {rmse(filled):.3f}, column means {rmse(means):.3f}")
""",
        ),
        (
            "md",
            """
## Denoising

The run was trained with gaussian noise (σ 0.5, the kind's default); `aekit.denoise` corrupts
clean digits the same way, denoises them and measures PSNR against the clean ones
(`aekit denoise RUN mnist -o clean.npy --plot grid.png`).
""",
        ),
        (
            "code",
            """
from aekit.uses.denoising import denoise_figure

denoised = aekit.denoise(run.path, ds.x_test[:1000], seed=SEED)
denoised
""",
        ),
        ("code", "denoise_figure(denoised, image_shape=(28, 28), n=10)"),
        (
            "md",
            """
## Anomaly scores

A row the model reconstructs badly is unlike what it was trained on. The threshold is the 0.99
quantile of the scores of the run's own validation rows (normal digits); the digit it never saw is
the anomaly, so the labels give a ROC-AUC (`aekit anomaly RUN mnist --normal 0,1,2,3,4,5,6,8,9`).
""",
        ),
        (
            "code",
            """
normal = [d for d in range(10) if d != UNSEEN_DIGIT]
result = aekit.anomaly(run.path, ds.x_test, labels=ds.y_test, normal=normal)
result
""",
        ),
        (
            "code",
            """
from aekit.reporting.plots import histogram

histogram(result.scores, threshold=result.threshold, xlabel="reconstruction error (MSE)",
          title=f"test digits; the {UNSEEN_DIGIT}s are the anomalies")
""",
        ),
    ]
