"""See a run: a self-contained ``report.html`` built from a run folder's own files.

`report(run_dir)` reads config.json, metrics.json, history.json, the model and the run's PNGs, renders
the loss curves (every loss term) and the kind's own figures (mean code activation, Jacobian norm,
denoising examples), and writes ``RUN/report.html`` with every image embedded as a base64 data URI:
no network, no script, no file beside it. `aekit report RUN` calls it; so does the end of `aekit train`.
Comparing runs side by side lives in :mod:`aekit.reporting.comparison`; the HTML pieces both use in
:mod:`aekit.reporting.page_parts`.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from aekit.devices import device_of
from aekit.errors import AekitError, ModelFileError
from aekit.reporting.page_parts import (
    _number,
    figure_html,
    figure_uri,
    fmt_seconds,
    history_series,
    kind_of,
    layers_of,
    loss_terms_of,
    page,
    png_uri,
    table_html,
)
from aekit.runfolder import read_optional_json, run_config

REPORT = "report.html"
# PNGs the report draws itself (fresh from history.json) or shows in their own section.
_OWN_PNGS = ("loss.png", "reconstructions.png")
_ROWS_FOR_FIGURES = 1000  # rows of the evaluation data used for the code-activation figure
_ROWS_FOR_JACOBIAN = 200


# --------------------------------------------------------------------------- figures
def term_curves(series: Mapping[str, Sequence[float]], *, title: str | None = None):
    """One panel per loss term: training solid, validation dashed, against epoch."""
    from aekit.reporting.curves import term_panels

    return term_panels([("", series)], loss_terms_of(series), ncols=3, title=title)


_WIDEST, _MOST_BARS = 14.0, 256  # the code figure's widest width (inches) and most units drawn as bars


def code_activation_figure(codes: np.ndarray, rho: float | None = None):
    """Mean activation of each code unit over the rows, with the KL target ρ when there is one."""
    from matplotlib.figure import Figure

    means = np.asarray(codes, dtype=np.float64).mean(axis=0)
    fig = Figure(figsize=(min(_WIDEST, max(5.0, 0.18 * means.size + 1.5)), 3.2))
    ax = fig.subplots()
    if means.size <= _MOST_BARS:
        ax.bar(np.arange(means.size), means, color="C0")
    else:  # a conv code's thousands of units: one filled step outline, not a patch per unit (seconds of matplotlib)
        ax.stairs(means, np.arange(means.size + 1) - 0.5, fill=True, color="C0")
    if rho is not None:
        ax.axhline(rho, color="C3", linestyle="--", label=f"target ρ = {rho:g}")
        ax.legend(fontsize=8)
    dead = int((np.abs(np.asarray(codes)).max(axis=0) == 0).sum())
    ax.set_title(
        f"mean code activation {means.mean():.4g} over {len(codes)} rows; {dead} of {means.size} units never active"
    )
    ax.set_xlabel("code unit")
    ax.set_ylabel("mean activation")
    fig.tight_layout()
    return fig


def jacobian_figure(norms: np.ndarray):
    from aekit.reporting.plots import histogram

    return histogram(
        norms,
        bins=30,
        xlabel="‖J‖_F of the encoder at a row",
        title=f"Jacobian norm: mean {float(np.mean(norms)):.4g} over {len(norms)} rows",
    )


# --------------------------------------------------------------------------- the report
def _eval_rows(config: Mapping[str, Any], x: Any) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Rows to draw the figures from and their labels (None where unknown): `x` if given (no labels), else the run's
    evaluation data loaded again."""
    if x is not None:
        return np.array(x[:_ROWS_FOR_FIGURES], dtype=np.float32), None, ""  # a copy: a memmap's view is read-only
    from aekit.data.sources import recorded_run_data

    d = config.get("data") or {}
    try:
        rd = recorded_run_data(d, (config.get("train") or {}).get("seed", 0))
    except (AekitError, OSError) as exc:
        return (
            None,
            None,
            f"The run's data could not be loaded again ({exc}), so the figures that need it are left out.",
        )
    rows, labels = (rd.x_val, rd.y_val) if rd.x_val is not None else (rd.x_train, rd.y_train)
    labels = None if labels is None else np.asarray(labels[:_ROWS_FOR_FIGURES])
    return np.array(rows[:_ROWS_FOR_FIGURES], dtype=np.float32), labels, ""  # a copy: a memmap's view is read-only


def _kind_figures(model, config: Mapping[str, Any], x: np.ndarray, has_reconstructions: bool) -> list[str]:
    from aekit.jacobians import jacobian_norms
    from aekit.objectives import corrupt
    from aekit.reporting.plots import reconstruction_grid

    t = config.get("train") or {}
    shape = (config.get("model") or {}).get("image_shape")
    gray = (
        shape is not None
        and len(shape) >= 2
        and int(np.prod(shape[:-2])) in (1, 3)
        and int(np.prod(shape)) == x.shape[1]
    )
    device = device_of(model)
    xs = torch.as_tensor(x).to(device)
    out = []
    model.eval()
    with torch.no_grad():
        codes = torch.cat([model.encode(xs[i : i + 250]).cpu() for i in range(0, len(xs), 250)]).numpy()
        if gray and not has_reconstructions:
            fig = reconstruction_grid(x[:10], model(xs[:10]).cpu().numpy(), image_shape=tuple(shape), n=10)
            out.append(
                figure_html(figure_uri(fig), "reconstructions", "Originals (top) and their reconstructions (bottom).")
            )
    rho = float(t["kl_rho"]) if _number(t.get("kl_beta")) and "kl_rho" in t else None
    out.append(
        figure_html(
            figure_uri(code_activation_figure(codes, rho)),
            "mean code activation",
            "Mean activation of each code unit on the evaluation rows (a sparse code keeps most units near 0).",
        )
    )
    if _number(t.get("contractive")):
        norms = jacobian_norms(model, xs[:_ROWS_FOR_JACOBIAN])
        out.append(
            figure_html(
                figure_uri(jacobian_figure(norms)),
                "Jacobian norm",
                "Frobenius norm of the encoder's Jacobian at each row (the contractive penalty keeps it small).",
            )
        )
    if model.config.code != "deterministic":  # a VAE's KL per unit, samples, traversals; a VQ-VAE's codebook
        from aekit.reporting.generative import generative_figures

        image = tuple(shape[-2:]) if gray else None
        for fig, alt, caption in generative_figures(model, x, image, int(t.get("seed", 0))):
            out.append(figure_html(figure_uri(fig), alt, caption))
    noise = t.get("noise", "none")
    if noise not in (None, "none") and gray:
        gen = torch.Generator().manual_seed(int(t.get("seed", 0)) + 1)
        noisy = corrupt(torch.as_tensor(x[:10]), noise, float(t.get("noise_level", 0.0)), gen)  # drawn on the CPU
        with torch.no_grad():
            recon = model(noisy.to(device)).cpu().numpy()
        fig = reconstruction_grid(x[:10], recon, noisy=noisy.numpy(), image_shape=tuple(shape), n=10)
        out.append(
            figure_html(
                figure_uri(fig),
                "denoising examples",
                f"Denoising: {noise} noise at level {_number(t.get('noise_level')):g} (top), "
                "the reconstruction (middle) and the clean original (bottom).",
            )
        )
    return out


def report(
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    x: Any = None,
    device: str | torch.device | None = None,
    labels: Any = None,
) -> Path:
    """Write a self-contained HTML report of a run folder and return its path (default RUN/report.html).

    `x`: evaluation rows to draw the figures from; by default the run's data is loaded again from
    config.json's data section (figures that need it are left out, with a note, if that fails).
    `device` ('auto', 'cpu', 'cuda', …; default None: the CPU) runs the model for the figures. A cvae's figures
    need the `labels` of the rows `x`.
    """
    from aekit.io import atomic_write_text, load_model
    from aekit.models import summary

    path, config = run_config(run_dir)
    model = load_model(path, device=device)
    metrics = read_optional_json(path / "metrics.json") or {}
    if not isinstance(metrics, dict):
        raise ModelFileError(
            f"{path / 'metrics.json'}: not a JSON object; the file is damaged, restore it or train again"
        )
    series = history_series(read_optional_json(path / "history.json"))
    name = path.resolve().name
    kind = kind_of(config)
    parts = [
        f"<h1>aekit run: {html.escape(name)}</h1>",
        f'<p class="lead">{html.escape(kind)} autoencoder · {html.escape(layers_of(config))} · '
        f"trained {html.escape(str(config.get('created', '?')))} "
        f"with aekit {html.escape(str(config.get('aekit_version', '?')))}</p>",
    ]

    headline = [
        (label, metrics[key])
        for label, key in (("final loss", "loss"), ("final val_loss", "val_loss"), ("epochs", "epochs"))
        if key in metrics
    ]
    if "train_seconds" in metrics:
        headline.append(("time taken", fmt_seconds(metrics["train_seconds"])))
    if "seconds_per_epoch" in metrics:
        headline.append(("time per epoch", fmt_seconds(metrics["seconds_per_epoch"])))
    parts.append('<h2 id="final">Final figures</h2>')
    if headline:
        parts.append(table_html(headline))
    if metrics:
        parts.append(
            "<p>Every value of metrics.json:</p>"
            + table_html([(k, v) for k, v in metrics.items()], ["metric", "value"])
        )
    else:
        parts.append('<p class="note">No metrics.json in this run folder.</p>')

    parts.append('<h2 id="curves">Loss curves</h2>')
    fig = term_curves(series)
    if fig is not None:
        parts.append(
            figure_html(figure_uri(fig), "loss curves", "Every loss term per epoch: training solid, validation dashed.")
        )
        if "epoch_time" in series:
            parts.append(
                f"<p>Epoch time: mean {fmt_seconds(np.mean(series['epoch_time']))}, "
                f"total {fmt_seconds(np.sum(series['epoch_time']))}.</p>"
            )
    else:
        parts.append('<p class="note">No history.json in this run folder.</p>')

    parts.append('<h2 id="reconstructions">Reconstructions and the kind\'s own figures</h2>')
    recon_png = path / "reconstructions.png"
    if recon_png.is_file():
        parts.append(
            figure_html(
                png_uri(recon_png.read_bytes()),
                "reconstructions",
                "Originals (top) and their reconstructions (bottom).",
            )
        )
    rows, recorded, note = _eval_rows(config, x)
    if model.conditional and labels is None:  # a cvae's labels: given, else those of the run's own rows
        labels = recorded
    if rows is not None and rows.ndim == 2 and rows.shape[1] != model.config.input_dim:
        rows, note = (
            None,
            f"The run's data has {rows.shape[1]} features but the model expects {model.config.input_dim}; "
            "figures that need it are left out.",
        )
    if rows is not None and model.conditional and labels is None:
        rows, note = None, "A cvae's figures need the labels of the rows (report(…, labels=…)); they are left out."
    if rows is not None:
        with model.conditioned(None if labels is None else np.asarray(labels)[: len(rows)], stream=True):
            parts.extend(_kind_figures(model, config, rows, recon_png.is_file()))
    if note:
        parts.append(f'<p class="note">{html.escape(note)}</p>')

    others = [p for p in sorted(path.glob("*.png")) if p.name not in _OWN_PNGS]
    if others:
        parts.append('<h2 id="more">More figures</h2>')
        parts.extend(figure_html(png_uri(p.read_bytes()), p.stem, p.name) for p in others)

    parts.append(f'<h2 id="model">Model</h2><pre>{html.escape(summary(model))}</pre>')
    parts.append('<h2 id="config">Configuration</h2><div class="configs">')
    for section, values in config.items():
        if isinstance(values, dict):
            parts.append(f"<div><h3>{html.escape(section)}</h3>{table_html(list(values.items()))}</div>")
    parts.append("</div>")
    plain = [(k, v) for k, v in config.items() if not isinstance(v, dict)]
    if plain:
        parts.append(table_html(plain))
    target = Path(out) if out is not None else path / REPORT
    files = sorted(
        p.name + ("/" if p.is_dir() else "") for p in path.iterdir() if not p.name.startswith(".") and p.name != REPORT
    )
    parts.append('<h2 id="files">Files</h2><p>' + ", ".join(f"<code>{html.escape(f)}</code>" for f in files) + "</p>")
    if (path / "tb").is_dir():
        parts.append(
            f"<p>TensorBoard (scalars, reconstructions, weight histograms, the codes in the projector): "
            f"<code>tensorboard --logdir {html.escape(str(path / 'tb'))}</code></p>"
        )
    atomic_write_text(target, page(f"aekit run {name}", "\n".join(parts)))
    return target
