"""The cells of examples/04_variational.ipynb (written by make_notebooks.py): VAEs, sampling, the likelihood."""

from __future__ import annotations


def cells(quick: str) -> list[tuple[str, str]]:
    """The notebook's ("md" | "code" | "parameters", source) cells; `quick` opens the parameters cell."""
    return [
        (
            "md",
            """
# Variational autoencoders: sampling, the latent manifold and the likelihood

The Keras blog's last model is a variational autoencoder (VAE): the encoder gives a Gaussian
q(z|x) (its mean and log-variance), a code is drawn from it, and the loss is the negative ELBO,
a reconstruction term plus the KL divergence to the prior N(0, I). In aekit a VAE is the same
`Autoencoder` with a Gaussian code (`aekit.configure("vae")`); the β-VAE weights its KL term, and
the VQ-VAE's code is a codebook index. This notebook trains each, draws new digits, walks between
two of them, and estimates the test likelihood.
""",
        ),
        (
            "md",
            """
**Parameters.** Full settings: the 60,000 training digits, 4 epochs for each VAE and 2 for the
VQ-VAE, and the negative log-likelihood of 1,000 test digits with 500 importance samples each
(about 2 minutes on a 2-core CPU). The VAE's likelihood keeps improving for hundreds of epochs:
raise `EPOCHS` (the references train 100 to thousands), and `NLL_SAMPLES` to 5,000 (what
`aekit evaluate --nll` uses) for a tighter estimate. The values go through aekit's checks.
""",
        ),
        (
            "parameters",
            quick
            + """
ROWS = 2000 if QUICK else 60000  # training digits; the test digits are ROWS // 6, at most 10,000
EPOCHS = 1 if QUICK else 4  # for the VAE, the 2-D VAE and the β-VAE
VQ_EPOCHS = 1 if QUICK else 2
NLL_ROWS = 100 if QUICK else 1000  # test digits whose likelihood is estimated
NLL_SAMPLES = 20 if QUICK else 500  # importance samples per digit (K)
MANIFOLD = 5 if QUICK else 15  # the 2-D manifold grid: MANIFOLD × MANIFOLD digits
SEED = 0
""",
        ),
        (
            "code",
            """
import numpy as np
import pandas as pd
import torch

import aekit
from aekit.uses.generation import grid_figure

ds = aekit.load_dataset("mnist", limit=ROWS)
x_train, x_test, y_test = ds.x_train, ds.x_test, ds.y_test
SHAPE = (28, 28)
""",
        ),
        (
            "md",
            """
## A VAE

Keras: two `Dense` layers for `z_mean` and the log-variance of q(z|x), and a `Lambda` layer
that draws `z = z_mean + sigma * epsilon` from them. aekit's `vae` kind is that code
(`code="gaussian"`) on a 784-512-256-32 network with a Bernoulli decoder (sigmoid output, the
`bce` loss in nats per digit) and Adam. `binarize="dynamic"` draws each batch's pixels as 0 or 1
with their intensity as the probability, the binarised MNIST of the VAE literature
(`aekit train --kind vae --binarize dynamic`).
""",
        ),
        (
            "code",
            """
model_cfg, train_cfg = aekit.configure("vae", epochs=EPOCHS, batch_size=128, binarize="dynamic",
                                       seed=SEED)
vae = aekit.Autoencoder(model_cfg)
history = aekit.fit(vae, x_train, config=train_cfg, validation_data=x_test, verbose=0)
print(f"code: {model_cfg.code}, {model_cfg.encoding_dim} units; decoder: {train_cfg.likelihood}")
history
""",
        ),
        (
            "md",
            """
## Its loss terms, by name

Keras: `vae_loss` is `xent_loss` (the binary cross-entropy, summed over the 784 pixels) plus
`kl_loss` (the KL divergence of q(z|x) from the prior).
aekit logs them per epoch as `recon` (−log p(x|z), nats per digit) and `kl`; `loss` is their sum,
the negative ELBO. Each term in its own panel, training solid and validation dashed:
""",
        ),
        (
            "code",
            """
from aekit.reporting.curves import term_panels

terms = {k: round(v[-1], 2) for k, v in history.history.items() if k in ("recon", "kl", "loss")}
print(f"last epoch: {terms} (loss = recon + kl)")
term_panels([("", history.history)], ["recon", "kl"], ncols=2, title="the VAE's loss terms")
""",
        ),
        (
            "md",
            """
## Samples from the prior

Keras: the decoder on a grid of codes, `generator.predict(z_sample)`. A VAE's decoder turns any
draw from the prior N(0, I) into a digit: `sample` draws them and decodes them to pixel
intensities (`aekit sample RUN -n 64 -o samples.png`; `temperature` below 1 narrows the draws).
""",
        ),
        (
            "code",
            """
from aekit.uses.generation import sample

grid_figure(sample(vae, 64, seed=SEED), SHAPE, ncols=8)
""",
        ),
        (
            "md",
            """
## Between two test digits

`interpolate` encodes two digits (their means μ) and decodes the codes on the path between them,
here along the great circle (`spherical`), which keeps the codes as far from the origin as draws
from the prior are (`aekit interpolate RUN 0 1 --method spherical`):
""",
        ),
        (
            "code",
            """
from aekit.uses.generation import interpolate

a, b = 0, int(np.flatnonzero(y_test != y_test[0])[0])  # the first test digit and one unlike it
print(f"from test digit {a} (a {y_test[a]}) to test digit {b} (a {y_test[b]})")
grid_figure(interpolate(vae, x_test[a], x_test[b], steps=10, method="spherical"), SHAPE, ncols=10)
""",
        ),
        (
            "md",
            """
## The 2-D latent manifold

The Keras blog's VAE has a 2-D code, so that the test digits' means can be drawn as a map and
the decoder's output over a 15 × 15 grid (`MANIFOLD`) of codes at the prior's quantiles 5% … 95%
(`norm.ppf(np.linspace(0.05, 0.95, n))` there) shows how the digits blend into each other. The
same model here is the blog's 784-256-2 (`hidden=(256,)`, `encoding_dim=2`;
`aekit sample RUN --manifold 15`):
""",
        ),
        (
            "code",
            """
from aekit.reporting.plots import code_map

cfg_2d, train_2d = aekit.configure("vae", hidden=(256,), encoding_dim=2, epochs=EPOCHS,
                                   batch_size=128, binarize="dynamic", seed=SEED)
vae_2d = aekit.Autoencoder(cfg_2d)
history_2d = aekit.fit(vae_2d, x_train, config=train_2d, validation_data=x_test, verbose=0)
fig, _ = code_map(aekit.encode(vae_2d, x_test), y_test, title="the test digits' means μ")
fig
""",
        ),
        (
            "code",
            """
from aekit.uses.generation import manifold

grid_figure(manifold(vae_2d, MANIFOLD), SHAPE, ncols=MANIFOLD)
""",
        ),
        (
            "md",
            """
## A β-VAE and its latent traversals

The β-VAE (Higgins et al. 2017) weights the KL term by β = 4 (`beta-vae`): the code pays more
for each nat it carries, so fewer units stay active, each more about one factor of the digits.
The KL of each unit to the prior, over the test digits, shows which units carry something
(a unit under 0.01 nats carries nothing):
""",
        ),
        (
            "code",
            """
from aekit.latents import code_summary
from aekit.reporting.generative import kl_figure

beta_cfg, beta_train = aekit.configure("beta-vae", epochs=EPOCHS, batch_size=128,
                                       binarize="dynamic", seed=SEED)
beta_vae = aekit.Autoencoder(beta_cfg)
beta_history = aekit.fit(beta_vae, x_train, config=beta_train, validation_data=x_test, verbose=0)
summaries = {name: code_summary(model, torch.as_tensor(x_test))
             for name, model in (("VAE", vae), (f"β-VAE (β = {beta_train.beta:g})", beta_vae))}
pd.DataFrame({name: {"KL (nats)": s["code_kl"], "active units": s["active_units"],
                     "recon (nats)": h.history["val_recon"][-1]}
              for (name, s), h in zip(summaries.items(), (history, beta_history))}).round(2)
""",
        ),
        ("code", "kl_figure(summaries[list(summaries)[1]])"),
        (
            "md",
            """
A traversal starts from one digit's code and sets one unit at a time to −3 … 3, the others
fixed: each row below is one of the β-VAE's most informative units (the report of a run,
`aekit report RUN`, draws the same figure).
""",
        ),
        (
            "code",
            """
from aekit.uses.generation import traversals

rows, units = traversals(beta_vae, x_test[a], n=9, max_units=6)
titles = [f"unit {u}" if i == 0 else "" for u in units for i in range(9)]
grid_figure(rows, SHAPE, ncols=9, titles=titles)
""",
        ),
        (
            "md",
            """
## A conditional VAE: the digit you ask for

The conditional VAE (`cvae`, Sohn et al. 2015) joins each digit's label, one-hot, to the
encoder's input and to the decoder's: the code no longer has to carry which digit it is, and a
label chosen at sampling time draws that digit (`aekit sample RUN --label 7`). `fit` takes the
labels beside the rows; below, each row of the grid is drawn with one label:
""",
        ),
        (
            "code",
            """
from aekit.uses.generation import sample

cvae_cfg, cvae_train = aekit.configure("cvae", epochs=EPOCHS, batch_size=128, binarize="dynamic",
                                       seed=SEED)
cvae = aekit.Autoencoder(cvae_cfg)
aekit.fit(cvae, x_train, labels=ds.y_train, config=cvae_train, verbose=0)
drawn = np.concatenate([sample(cvae, 8, seed=SEED, label=digit) for digit in range(10)])
titles = [f"label {d}" if i == 0 else "" for d in range(10) for i in range(8)]
grid_figure(drawn, SHAPE, ncols=8, titles=titles)
""",
        ),
        (
            "md",
            """
## The test likelihood

How good a generative model is, in one number: −log p(x) of test digits, in nats. `nll`
estimates it by importance sampling, K codes drawn from the encoder's q(z|x) per digit (the IWAE
bound of Burda et al. 2016, which tightens towards −log p(x) as K grows), and gives the standard
error of the mean over the digits. As in the literature the test digits are binarised once,
with a fixed seed (`aekit evaluate RUN --nll --samples K --binarize fixed`). With K = 1 it is
the single-sample negative ELBO, the loss the VAE trains on.
""",
        ),
        (
            "code",
            """
from aekit.uses.likelihood import nll

test = x_test[:NLL_ROWS]
draws = np.random.default_rng(SEED).random(test.shape, dtype=np.float32)
binary = (draws < test).astype(np.float32)  # each pixel 1 with its intensity as the probability
for k in (1, NLL_SAMPLES):
    r = nll(vae, binary, samples=k, seed=SEED)
    print(f"K = {r.samples:>4}: NLL {r.nll:.2f} ± {r.stderr:.2f} nats "
          f"({r.n} digits, {r.likelihood} decoder)")
""",
        ),
        (
            "md",
            """
For scale: VAEs trained for hundreds to thousands of epochs reach about 86–90 nats (pythae's
benchmark: 89.8; Burda et al.: 86.8 with K = 5,000). `python benchmarks/vae.py` measures
aekit's.

## A VQ-VAE: a discrete code

The VQ-VAE (van den Oord et al. 2017) replaces the Gaussian by a codebook of 512 vectors: the
encoder's output is cut into code vectors (here 8 of 8 values), each replaced by its nearest
codebook entry. Training logs how much of the codebook is in use (`usage`) and the perplexity of
the entries chosen (the number of equally used entries that would give the same spread):
""",
        ),
        (
            "code",
            """
from aekit.reporting.generative import usage_figure

vq_cfg, vq_train = aekit.configure("vq-vae", epochs=VQ_EPOCHS, batch_size=128, seed=SEED)
vq = aekit.Autoencoder(vq_cfg)
vq_history = aekit.fit(vq, x_train, config=vq_train, validation_data=x_test, verbose=0)
for key in ("usage", "perplexity"):
    print(f"{key} per epoch: {[round(v, 3) for v in vq_history.history[key]]}")
usage_figure(code_summary(vq, torch.as_tensor(x_test)))
""",
        ),
        (
            "md",
            """
A VQ-VAE's codes, from `encode`, are the codebook indices of its code vectors, one row of 8 per
digit (`aekit encode RUN mnist -o idx.csv`); the decoder draws the digit back from them:
""",
        ),
        (
            "code",
            """
indices = aekit.encode(vq, x_test[:5])
pd.DataFrame(indices, index=[f"test digit {i} (a {y_test[i]})" for i in range(5)],
             columns=[f"vector {j}" for j in range(indices.shape[1])])
""",
        ),
        (
            "code",
            """
from aekit.reporting.plots import reconstruction_grid

reconstruction_grid(x_test, aekit.reconstruct(vq, x_test[:10]), image_shape=SHAPE, n=10)
""",
        ),
    ]
