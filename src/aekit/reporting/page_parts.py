"""The pieces of aekit's HTML pages, shared by the run report (`aekit.reporting.run_report`) and the comparison page
(`aekit.reporting.comparison`): values as short text, a run's kind and layers from its config, its history's loss
terms, tables, embedded figures (base64 data URIs) and the page with its style."""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from aekit import __version__
from aekit.history import shown_keys

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
    from aekit.reporting.rendering import figure_to_png_bytes

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
