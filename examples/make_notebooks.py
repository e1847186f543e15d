"""Writes the example notebooks from their cells, without outputs: 01_keras_tutorial, 02_kinds and 03_uses from the
cells below, 04_variational and 05_image_folder from those in variational_cells.py and image_folder_cells.py.

Edit the cells and run ``python examples/make_notebooks.py``; the test suite checks that the committed
notebooks are what this script writes and hold no outputs, and runs each one in a real Jupyter kernel with
``AEKIT_NOTEBOOK_QUICK=1`` (tiny settings, seconds each). Cell lines stay within 100 columns.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

QUICK = """import os

QUICK = os.environ.get("AEKIT_NOTEBOOK_QUICK") == "1"  # the test suite's tiny settings (a few seconds)"""


def notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook of ("md" | "code" | "parameters", source) cells, the parameters cell tagged as papermill's."""
    out = []
    for kind, source in cells:
        source = source.strip("\n")
        if kind == "md":
            out.append(new_markdown_cell(source))
        else:
            cell = new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
            out.append(cell)
    nb = new_notebook(cells=out)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: the committed files do not change when regenerated
        cell["id"] = f"cell-{i:02d}"
    return nb


TUTORIAL = [
    (
        "md",
        """
# The Keras tutorial, with aekit

[Building Autoencoders in Keras](https://blog.keras.io/building-autoencoders-in-keras.html)
(Keras 2 version), its first model step by step: a 784 → 32 → 784 autoencoder on MNIST.
Over each step, the Keras line it replaces.
""",
    ),
    (
        "md",
        """
**Parameters.** The full settings are the tutorial's: 60,000 images, 50 epochs (about a minute on a
2-core CPU). `AEKIT_NOTEBOOK_QUICK=1` shrinks them for the test suite. Raise `EPOCHS` to 100 for
aekit's own default run (val loss 0.0941, against the tutorial's 0.0982). The values go through
aekit's checks: `EPOCHS = 0` stops with one line saying what to pass.
""",
    ),
    (
        "parameters",
        QUICK
        + """
ROWS = 2000 if QUICK else 60000  # training images; the test images are ROWS // 6, at most 10,000
EPOCHS = 2 if QUICK else 50  # the tutorial's 50
SEED = 0
""",
    ),
    ("md", "Keras: `from keras.layers import Input, Dense` and `from keras.models import Model`"),
    ("code", "import aekit"),
    (
        "md",
        """
Keras: `(x_train, _), (x_test, _) = mnist.load_data()`, then `x_train.astype('float32') / 255.`
and `.reshape((len(x_train), 784))`. aekit's MNIST is bundled (no download), already float32 rows
in [0, 1].
""",
    ),
    (
        "code",
        """
ds = aekit.load_dataset("mnist", limit=ROWS)
x_train, x_test = ds.x_train, ds.x_test
x_train.shape, x_test.shape
""",
    ),
    (
        "md",
        """
Keras: `encoding_dim = 32`, `input_img = Input(shape=(784,))`,
`encoded = Dense(encoding_dim, activation='relu')(input_img)`,
`decoded = Dense(784, activation='sigmoid')(encoded)` and `autoencoder = Model(input_img, decoded)`.
The same model is aekit's default `ModelConfig`, Keras' glorot-uniform weights and zero biases
included.
""",
    ),
    (
        "code",
        """
model_config = aekit.ModelConfig(encoding_dim=32, code_activation="relu",
                                 output_activation="sigmoid", seed=SEED)
model = aekit.Autoencoder(model_config)
""",
    ),
    ("md", "Keras: `autoencoder.summary()`"),
    ("code", "model.summary()"),
    ("md", "A notebook also shows the model itself as its summary table:"),
    ("code", "model"),
    (
        "md",
        """
Keras: `encoder = Model(input_img, encoded)` and
`decoder = Model(encoded_input, autoencoder.layers[-1](encoded_input))`.
In aekit they are parts of the model: `model.encoder` and `model.decoder`.
""",
    ),
    ("code", "model.encoder, model.decoder"),
    (
        "md",
        """
Keras: `autoencoder.compile(optimizer='adadelta', loss='binary_crossentropy')`. The training
settings are a `TrainConfig`, checked when it is made: Keras 2's adadelta, learning rate 1.0.
""",
    ),
    (
        "code",
        """
config = aekit.TrainConfig(optimizer="adadelta", loss="bce", epochs=EPOCHS, batch_size=256,
                           shuffle=True, seed=SEED)
""",
    ),
    (
        "md",
        """
Keras: `autoencoder.fit(x_train, x_train, epochs=50, batch_size=256, shuffle=True,
validation_data=(x_test, x_test), callbacks=[TensorBoard(log_dir='/tmp/autoencoder')])`.
In a notebook the progress is a widget per epoch.
""",
    ),
    (
        "code",
        """
tensorboard = aekit.TensorBoard("runs/notebook-tutorial/tb", images=x_test[:10])
history = aekit.fit(model, x_train, x_train, config, validation_data=(x_test, x_test),
                    callbacks=[tensorboard])
""",
    ),
    (
        "md",
        """
Keras: `history.history['val_loss']`. A notebook shows the History as a table, and
`history.plot()` draws it.
""",
    ),
    ("code", "history"),
    ("code", "history.plot()"),
    (
        "md",
        """
Keras: `encoded_imgs = encoder.predict(x_test)` and `decoded_imgs = decoder.predict(encoded_imgs)`.
The model's `encode` and `decode` take NumPy rows and return NumPy (a tensor for a tensor).
""",
    ),
    (
        "code",
        """
encoded_imgs = model.encode(x_test)
decoded_imgs = model.decode(encoded_imgs)
encoded_imgs.shape, float(encoded_imgs.mean())
""",
    ),
    (
        "md",
        """
Keras: the matplotlib loop that draws 10 test digits above their reconstructions.
`reconstruction_grid` returns a Figure, which the notebook shows.
""",
    ),
    (
        "code",
        """
from aekit.reporting.plots import reconstruction_grid

reconstruction_grid(x_test, decoded_imgs, image_shape=(28, 28), n=10)
""",
    ),
    (
        "md",
        """
Keras: `tensorboard --logdir=/tmp/autoencoder`. Here: `tensorboard --logdir runs/notebook-tutorial/tb`
in a terminal, or `%load_ext tensorboard` and `%tensorboard --logdir runs/notebook-tutorial/tb`
in a cell.

Keras: `autoencoder.save(...)`. aekit writes safetensors (never pickle), weights and config in one
file:
""",
    ),
    (
        "code",
        """
path = aekit.save_model(model, "runs/notebook-tutorial/model.safetensors")
aekit.load_model(path)
""",
    ),
]

KINDS = [
    (
        "md",
        """
# The kinds side by side

In aekit a kind is configuration, not a class: `aekit.configure(kind)` gives its `ModelConfig` and
`TrainConfig` (a sparse kind adds a penalty, a denoising kind corrupts the input, and so on). This
notebook trains each kind on the same images and compares what each one is for.
""",
    ),
    (
        "md",
        """
**Parameters.** Full settings: 10,000 images and 10 epochs per kind (the convolutional kind takes
most of the time; about 2 minutes on a 2-core CPU). For the figures in aekit's README (60,000
images, 50 epochs), run `python benchmarks/kinds.py`.
""",
    ),
    (
        "parameters",
        QUICK
        + """
ROWS = 1000 if QUICK else 10000
EPOCHS = 1 if QUICK else 10
KINDS = ["undercomplete", "sparse", "sparse-kl", "denoising", "contractive", "deep", "conv"]
SEED = 0
""",
    ),
    (
        "code",
        """
import time

import numpy as np
import pandas as pd

import aekit

ds = aekit.load_dataset("mnist", limit=ROWS)
x_test = ds.x_test
""",
    ),
    ("md", 'What each kind sets, over the tutorial\'s defaults ("derived": computed from the data):'),
    (
        "code",
        """
presets = {kind: {k: "derived" if callable(v) else v for k, v in aekit.KINDS[kind].items()}
           for kind in KINDS}
pd.DataFrame(presets).T.fillna("")
""",
    ),
    (
        "md",
        """
Train each kind. The tutorial's adadelta needs many more steps than 10 epochs of 10,000 images
give, so every kind here trains with the `fast` recipe's Adam and one-cycle schedule
(`aekit train --recipe fast`), in batches of 128. `verbose=0` keeps the notebook short: one line
per kind.
""",
    ),
    (
        "code",
        """
fast = dict(optimizer="adam", lr=1e-2, schedule="onecycle", batch_size=128)
models, histories, seconds = {}, {}, {}
for kind in KINDS:
    model_cfg, train_cfg = aekit.configure(kind, **fast, epochs=EPOCHS, seed=SEED)
    models[kind] = aekit.Autoencoder(model_cfg)
    start = time.perf_counter()
    histories[kind] = aekit.fit(models[kind], ds.x_train, config=train_cfg,
                                validation_data=x_test, verbose=0)
    seconds[kind] = time.perf_counter() - start
    val = histories[kind].history["val_recon"][-1]
    print(f"{kind:>14}: val_recon {val:.4f} ({train_cfg.loss}), {seconds[kind]:.1f} s")
""",
    ),
    (
        "md",
        """
What each kind changes: the sparse kinds lower the mean code activation, the contractive kind the
encoder's Jacobian norm, and the denoising kind the error on noisy inputs (PSNR of its output
against the clean digits).
""",
    ),
    (
        "code",
        """
import torch

from aekit.uses.encoding import reconstruct

jacobian_rows = 10 if QUICK else 200  # the conv kind's Jacobian takes ~50 ms an image
gen = torch.Generator().manual_seed(SEED)
clean = x_test[:1000]
noise = 0.5 * torch.randn(clean.shape, generator=gen).numpy()  # gaussian, σ 0.5
noisy = np.clip(clean + noise, 0, 1)
rows = {}
for kind, model in models.items():
    rows[kind] = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "val recon": histories[kind].history["val_recon"][-1],
        "mean code activation": float(aekit.encode(model, x_test).mean()),
        "Jacobian norm": aekit.jacobian_norm(model, clean[:jacobian_rows]),
        "PSNR on noisy digits (dB)": aekit.psnr(clean, reconstruct(model, noisy)),
        "seconds": seconds[kind],
    }
pd.DataFrame(rows).T.round(4)
""",
    ),
    (
        "md",
        """
"val recon" is the reconstruction term on the test images (BCE, or MSE for `sparse-kl`; for
`denoising`, of corrupted inputs against clean targets): compare it within one loss only.
""",
    ),
    ("md", "The same ten test digits, reconstructed by each kind (top row: the originals):"),
    (
        "code",
        """
from aekit.reporting.plots import image_grid

digits = x_test[:10]
rows = [digits] + [reconstruct(models[kind], digits) for kind in KINDS]
titles = [name if i == 0 else "" for name in ["original", *KINDS] for i in range(10)]
image_grid(np.concatenate(rows), image_shape=(28, 28), ncols=10, titles=titles, normalize="none")
""",
    ),
    ("md", "One kind's loss curves, train (solid) and validation (dashed):"),
    ("code", 'histories["sparse"].plot(title="sparse")'),
    ("md", "The validation reconstruction term of every kind:"),
    (
        "code",
        """
from matplotlib.figure import Figure

fig = Figure(figsize=(7, 4))
ax = fig.subplots()
for i, kind in enumerate(KINDS):
    h = histories[kind]
    ax.plot(h.epoch, h.history["val_recon"], marker=".", color=f"C{i}", label=kind)
ax.set(xlabel="epoch", ylabel="val recon", yscale="log", title="validation reconstruction term")
ax.legend(fontsize=8)
fig
""",
    ),
]

USES = [
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
        QUICK
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


def _cells(file: str) -> list[tuple[str, str]]:
    """The cells of a notebook kept in its own file beside this one (its `cells(QUICK)`)."""
    spec = importlib.util.spec_from_file_location(Path(file).stem, HERE / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cells(QUICK)


NOTEBOOKS = {
    "01_keras_tutorial.ipynb": TUTORIAL,
    "02_kinds.ipynb": KINDS,
    "03_uses.ipynb": USES,
    "04_variational.ipynb": _cells("variational_cells.py"),
    "05_image_folder.ipynb": _cells("image_folder_cells.py"),
}


def build() -> dict[str, str]:
    """Each notebook's file name and its JSON text."""
    return {name: nbformat.writes(notebook(cells)) + "\n" for name, cells in NOTEBOOKS.items()}


def main() -> int:
    for name, text in build().items():
        nbformat.validate(nbformat.reads(text, as_version=4))
        (HERE / name).write_text(text, encoding="utf-8")
        print(HERE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
