"""The report's figures for the generative kinds: a VAE's KL per code unit (with the active units), draws from its
prior, latent traversals and, for a 2-D code, the manifold grid; a VQ-VAE's codebook usage. Each is returned as
(Figure, alt text, caption) for `aekit.reporting.run_report` to embed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from aekit.codes import decode_codes, manifold_codes, prior_codes, traversal_codes
from aekit.latents import code_summary, gaussian_kl


def kl_figure(summary: dict):
    """KL(q(z_u|x) ‖ p(z_u)) of each code unit (mean over rows, nats), with the 0.01-nat line of a collapsed unit."""
    from matplotlib.figure import Figure

    kl = np.asarray(summary["kl_per_unit"])
    fig = Figure(figsize=(max(5.0, 0.18 * kl.size + 1.5), 3.2))
    ax = fig.subplots()
    ax.bar(np.arange(kl.size), kl, color="C0")
    ax.axhline(0.01, color="C3", linestyle="--", label="0.01 nats")
    ax.set_yscale("symlog", linthresh=0.01)
    ax.legend(fontsize=8)
    ax.set_title(
        f"KL per code unit: {summary['code_kl']:.2f} nats in all; {summary['active_units']} of {kl.size} "
        "units "
        "active (Cov_x E_q[z] > 0.01)"
    )
    ax.set_xlabel("code unit")
    ax.set_ylabel("KL (nats)")
    fig.tight_layout()
    return fig


def usage_figure(summary: dict):
    """How often each codebook entry is used, most used first."""
    from matplotlib.figure import Figure

    counts = np.sort(np.asarray(summary["codebook_counts"]))[::-1]
    fig = Figure(figsize=(6.0, 3.2))
    ax = fig.subplots()
    ax.bar(np.arange(counts.size), counts, width=1.0, color="C0")
    ax.set_title(
        f"codebook usage {100 * summary['codebook_usage']:.1f}% of {counts.size} entries, "
        f"perplexity {summary['codebook_perplexity']:.1f}"
    )
    ax.set_xlabel("codebook entry (by use)")
    ax.set_ylabel("code vectors")
    fig.tight_layout()
    return fig


def generative_figures(
    model, x: np.ndarray, image_shape: tuple[int, int] | None, seed: int = 0
) -> list[tuple[Any, str, str]]:
    """The figures of a Gaussian or categorical code on rows `x` (image figures only where `image_shape` is known)."""
    from aekit.reporting.plots import image_grid

    xs = torch.as_tensor(np.asarray(x, dtype=np.float32))
    model.labels.cursor = 0  # a cvae's labels of `x`, held as a stream by the report: a pass from the first row
    summary = code_summary(model, xs)
    if model.config.code == "categorical":
        return [
            (
                usage_figure(summary),
                "codebook usage",
                "Code vectors assigned to each codebook entry on the evaluation rows.",
            )
        ]
    out = [
        (
            kl_figure(summary),
            "KL per unit",
            "Each code unit's KL to the prior on the evaluation rows; units below "
            "0.01 nats carry nothing (posterior collapse).",
        )
    ]
    if image_shape is None:
        return out

    def grid(rows, ncols, titles=None):
        return image_grid(
            np.clip(rows.numpy(), 0, 1), image_shape=image_shape, ncols=ncols, titles=titles, normalize="none"
        )

    k = model.config.n_classes  # a cvae: a row of draws per class (up to 10 classes), the manifold in class 0
    n = 10 * min(k, 10) if k else 40
    z = prior_codes(model, n, generator=torch.Generator().manual_seed(seed))
    labels = np.repeat(np.arange(min(k, 10)), 10) if k else None
    what = "a row per class" if k else "decoded"
    out.append(
        (grid(decode_codes(model, z, labels=labels), 10), "samples", f"{n} draws from the prior N(0, I), {what}.")
    )
    if model.config.encoding_dim == 2:
        out.append(
            (
                grid(decode_codes(model, manifold_codes(15), labels=np.zeros(225, int) if k else None), 15),
                "manifold",
                "The decoded 2-D code at the prior's quantiles 5%…95% in each unit (the Keras blog's manifold).",
            )
        )
    model.labels.cursor = 0
    with torch.no_grad():
        mu, logvar = model.latent.stats(model.encoder(xs[:1]).float())
        label = None if not k else int(model.labels.onehot[0].argmax())  # the first row's class
    units = gaussian_kl(mu, logvar)[0].argsort(descending=True)[:8].tolist()
    out.append(
        (
            grid(decode_codes(model, traversal_codes(mu[0], units, 9), labels=_along(label, 9 * len(units))), 9),
            "latent traversals",
            f"Traversals of the first row's code: each line sets one unit (units {units}, the "
            "most informative first) to −3…3, the others fixed.",
        )
    )
    return out


def _along(label: int | None, n: int) -> np.ndarray | None:
    return None if label is None else np.full(n, label)


__all__ = ["generative_figures", "kl_figure", "usage_figure"]
