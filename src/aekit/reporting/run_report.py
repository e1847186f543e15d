"""See a run: a self-contained ``report.html`` built from a run folder's own files.

`report(run_dir)` reads config.json, metrics.json, history.json, the model and the run's PNGs, renders
the loss curves (every loss term) and the kind's own figures (mean code activation, Jacobian norm,
denoising examples), and writes ``RUN/report.html`` with every image embedded as a base64 data URI:
no network, no script, no file beside it. `aekit report RUN` calls it; so does the end of `aekit train`.
Comparing runs side by side lives in :mod:`aekit.compare`.
"""

from __future__ import annotations

import base64
import html
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from aekit import __version__
from aekit.devices import device_of
from aekit.errors import AekitError
from aekit.history import shown_keys
from aekit.runfolder import read_optional_json, run_config

REPORT = "report.html"
# PNGs the report draws itself (fresh from history.json) or shows in their own section.
_OWN_PNGS = ("loss.png", "reconstructions.png")
_ROWS_FOR_FIGURES = 1000  # rows of the evaluation data used for the code-activation figure
_ROWS_FOR_JACOBIAN = 200

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
margin:0 auto;max-width:1100px;padding:1em 2em;color:#222;background:#fff}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.lead{color:#555;margin-top:0} table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .7em;text-align:left;vertical-align:top} th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:13px}
figure{margin:1em 0} figure img{max-width:100%;height:auto;border:1px solid #eee} figcaption{color:#555;font-size:.9em}
.note{color:#8a5300} .configs{display:flex;flex-wrap:wrap;gap:1.5em} code{background:#f3f3f3;padding:0 .25em}
"""


# --------------------------------------------------------------------------- small pieces shared with compare
def fmt(value: Any) -> str:
    """A config or metric value as short text: floats to 6 significant digits, lists comma-separated."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value) if value else "—"
    return str(value)


def fmt_seconds(seconds: Any) -> str:
    """12.3 s, 4 min 05 s or 2 h 03 min."""
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return fmt(seconds)
    if s < 60:
        return f"{s:.3g} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def kind_of(config: Mapping[str, Any]) -> str:
    """What kind of autoencoder a run's config describes: the kind it was trained as (config.json's ``kind``, or for
    a run without one, conv or deep from its layers), then its penalties and corruption; "plain" when none apply."""
    t, m = config.get("train") or {}, config.get("model") or {}
    named = config.get("kind")
    if not named or named == "undercomplete":  # the default kind, maybe given other layers
        named = "conv" if m.get("architecture") == "conv" else "deep" if m.get("hidden") else named
    parts = _penalties(t)
    if named and not any(part.startswith(named.split("-")[0]) for part in parts):  # 'sparse (L1 …)' says sparse
        parts.insert(0, named)
    return " + ".join(parts) or "plain"


def _penalties(t: Mapping[str, Any]) -> list[str]:
    parts = []
    if _number(t.get("l1")):
        parts.append(f"sparse (L1 {_number(t['l1']):g})")
    if _number(t.get("kl_beta")):
        parts.append(f"sparse (KL β {_number(t['kl_beta']):g}, ρ {_number(t.get('kl_rho', 0.05)):g})")
    if _number(t.get("contractive")):
        parts.append(f"contractive (λ {_number(t['contractive']):g})")
    if t.get("noise", "none") not in (None, "none"):
        parts.append(f"denoising ({t['noise']} {_number(t.get('noise_level')):g})")
    if _number(t.get("weight_decay")):
        parts.append(f"weight decay {_number(t['weight_decay']):g}")
    return parts


def layers_of(config: Mapping[str, Any]) -> str:
    """'dense 784→128→32→128→784'."""
    m = config.get("model") or {}
    try:
        sizes = [int(m["input_dim"]), *(int(h) for h in m.get("hidden") or ()), int(m["encoding_dim"])]
    except (KeyError, TypeError, ValueError):
        return "?"
    return f"{m.get('architecture', 'dense')} " + "→".join(str(s) for s in sizes + sizes[-2::-1])


def history_series(history: Mapping[str, Any] | None) -> dict[str, list[float]]:
    """history.json's per-epoch series (its 'history' mapping), numeric ones only."""
    series = (history or {}).get("history", {}) if isinstance(history, Mapping) else {}
    out = {}
    for key, values in series.items():
        if isinstance(values, list) and values and all(isinstance(v, (int, float)) for v in values):
            out[str(key)] = [float(v) for v in values]
    return out


def loss_terms_of(series: Mapping[str, Sequence[float]]) -> list[str]:
    """The base loss terms of a history: 'loss', 'recon', 'l1', … (val_* folded in, times left out; no 'recon' when it
    is the only term, and so equal to 'loss')."""
    terms: list[str] = []
    for key in shown_keys(series):
        base = key[4:] if key.startswith("val_") else key
        if base.endswith("time") or base.endswith("_s") or base in terms:
            continue
        terms.append(base)
    return sorted(terms, key=lambda k: (k != "loss", terms.index(k)))


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_uri(fig) -> str:
    from aekit.reporting.plots import figure_to_png_bytes

    return png_uri(figure_to_png_bytes(fig))


def figure_html(uri: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{html.escape(alt)}">{cap}</figure>'


def table_html(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    def cell(v: Any, tag: str = "td") -> str:
        text = v if isinstance(v, str) else fmt(v)
        num = ' class="num"' if tag == "td" and isinstance(v, (int, float)) and not isinstance(v, bool) else ""
        return f"<{tag}{num}>{html.escape(text)}</{tag}>"

    head = "<tr>" + "".join(cell(h, "th") for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + cell(r[0], "th") + "".join(cell(v) for v in r[1:]) + "</tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{html.escape(title)}</title>'
        f'<style>{CSS}</style></head><body>\n{body}\n<footer><p class="lead">Made by aekit {__version__} on '
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.</p></footer></body></html>\n"
    )


# --------------------------------------------------------------------------- figures
def term_curves(series: Mapping[str, Sequence[float]], *, title: str | None = None):
    """One panel per loss term: training solid, validation dashed, against epoch."""
    from aekit.reporting.plots import term_panels

    return term_panels([("", series)], loss_terms_of(series), ncols=3, title=title)


def code_activation_figure(codes: np.ndarray, rho: float | None = None):
    """Mean activation of each code unit over the rows, with the KL target ρ when there is one."""
    from matplotlib.figure import Figure

    means = np.asarray(codes, dtype=np.float64).mean(axis=0)
    fig = Figure(figsize=(max(5.0, 0.18 * means.size + 1.5), 3.2))
    ax = fig.subplots()
    ax.bar(np.arange(means.size), means, color="C0")
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
def _eval_rows(config: Mapping[str, Any], x: Any) -> tuple[np.ndarray | None, str]:
    """Rows to draw the figures from: `x` if given, else the run's evaluation data loaded again."""
    if x is not None:
        return np.array(x[:_ROWS_FOR_FIGURES], dtype=np.float32), ""  # a copy: a memmap's view is read-only
    from aekit.data.sources import recorded_run_data

    d = config.get("data") or {}
    try:
        rd = recorded_run_data(d, (config.get("train") or {}).get("seed", 0))
    except (AekitError, OSError) as exc:
        return None, f"The run's data could not be loaded again ({exc}), so the figures that need it are left out."
    rows = rd.x_val if rd.x_val is not None else rd.x_train
    return np.array(rows[:_ROWS_FOR_FIGURES], dtype=np.float32), ""  # a copy: a memmap's view is read-only


def _kind_figures(model, config: Mapping[str, Any], x: np.ndarray, has_reconstructions: bool) -> list[str]:
    from aekit.objectives import corrupt, jacobian_norms
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
    rows, note = _eval_rows(config, x)
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
