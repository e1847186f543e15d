"""The cells of examples/02_kinds.ipynb (written by make_notebooks.py): the kinds side by side."""

from __future__ import annotations


def cells(quick: str) -> list[tuple[str, str]]:
    """The notebook's ("md" | "code" | "parameters", source) cells; `quick` opens the parameters cell."""
    return [
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
            quick
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
