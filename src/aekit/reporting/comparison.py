"""Runs side by side: `compare(runs)` is the plain-text table `aekit compare RUN…` prints, one column per
run (kind, settings, every final figure of metrics.json, epoch time); `html=` also writes an HTML page
with the same table and every loss term's curves overlaid, run against run.
"""

from __future__ import annotations

import html as _html
import os
from pathlib import Path
from typing import Any, Sequence

from aekit.errors import ConfigError
from aekit.files import printable
from aekit.reporting.page_parts import (
    figure_html,
    figure_uri,
    fmt,
    history_series,
    kind_of,
    layers_of,
    loss_terms_of,
    page,
    table_html,
)
from aekit.runfolder import read_optional_json, run_config

# Settings every comparison shows; any other model/train field shows too when the runs differ in it.
_SETTINGS = (
    ("model", "encoding_dim"),
    ("model", "hidden"),
    ("train", "optimizer"),
    ("train", "lr"),
    ("train", "loss"),
    ("train", "epochs"),
    ("train", "batch_size"),
    ("train", "seed"),
)
_LABELS = {"loss": "loss function", "epochs": "max epochs"}  # so they do not read as final figures
_SKIP = {("model", "input_dim"), ("model", "image_shape")} | {  # the kind row already says these
    ("train", k) for k in ("l1", "kl_beta", "kl_rho", "contractive", "noise", "noise_level", "weight_decay")
}


def _learning_rate(train: dict[str, Any]) -> Any:
    from aekit.config import TrainConfig, from_dict

    try:
        return from_dict(TrainConfig, train).learning_rate
    except Exception:  # a config from another aekit version: show what it says
        return train.get("lr")


def _load(run: str | os.PathLike) -> dict[str, Any]:
    path, config = run_config(run)
    metrics = read_optional_json(path / "metrics.json")
    series = history_series(read_optional_json(path / "history.json"))
    if not isinstance(metrics, dict):  # no metrics.json: the last value of each series
        metrics = {k: v[-1] for k, v in series.items() if k != "epoch_time"}
        if "epoch_time" in series:
            metrics["seconds_per_epoch"] = sum(series["epoch_time"]) / len(series["epoch_time"])
    return {"path": path, "config": config, "metrics": metrics, "series": series}


def _rows(runs: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    def setting(run: dict[str, Any], section: str, key: str) -> Any:
        values = run["config"].get(section) or {}
        if (section, key) == ("train", "lr"):
            return _learning_rate(values)
        return values.get(key)

    rows: list[tuple[str, list[Any]]] = [
        ("kind", [kind_of(r["config"]) for r in runs]),
        ("layers", [layers_of(r["config"]) for r in runs]),
    ]
    rows += [(_LABELS.get(key, key), [setting(r, section, key) for r in runs]) for section, key in _SETTINGS]
    seen = set(_SETTINGS) | _SKIP
    for section in ("model", "train"):
        for r in runs:
            for key in r["config"].get(section) or {}:
                if (section, key) in seen:
                    continue
                seen.add((section, key))
                values = [setting(x, section, key) for x in runs]
                if len({repr(v) for v in values}) > 1:
                    rows.append((key, values))
    rows.append(
        (
            "data",
            [
                f"{(r['config'].get('data') or {}).get('name', '?')} "
                f"({(r['config'].get('data') or {}).get('n_train', '?')} rows)"
                for r in runs
            ],
        )
    )
    keys: list[str] = []
    for r in runs:
        keys += [k for k in r["metrics"] if k not in keys]
    keys = sorted(keys, key=lambda k: (k not in ("loss", "val_loss"), k != "loss", keys.index(k)))
    rows.append(("— final figures —", ["" for _ in runs]))
    rows += [(k, [r["metrics"].get(k) for r in runs]) for k in keys]
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}"
    return "" if value is None else fmt(value)


def text_table(header: Sequence[str], rows: Sequence[tuple[str, Sequence[Any]]]) -> str:
    """Aligned plain text: names left-aligned, numbers right-aligned."""
    cells = [list(header)] + [[name, *(_cell(v) for v in values)] for name, values in rows]
    numeric = [[False] * len(header)] + [
        [False, *(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)] for _, values in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row, nums in zip(cells, numeric):
        lines.append("  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, nums)).rstrip())
        if len(lines) == 1:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def overlay_curves(runs: list[dict[str, Any]], names: Sequence[str]):
    """One panel per loss term; a colour per run, training solid and validation dashed."""
    from aekit.reporting.curves import term_panels

    terms: list[str] = []
    for r in runs:
        terms += [t for t in loss_terms_of(r["series"]) if t not in terms]
    return term_panels([(name, r["series"]) for r, name in zip(runs, names)], terms, ncols=2)


def compare(runs: Sequence[str | os.PathLike], html: str | os.PathLike | None = None) -> str:
    """A table of runs side by side as aligned plain text; with `html`, also an HTML page with the curves overlaid.

    >>> print(compare(["runs/plain", "runs/sparse"]))  # doctest: +SKIP
    """
    if isinstance(runs, (str, os.PathLike)) or not runs:
        raise ConfigError("compare needs a list of run folders; pass RUN [RUN …]")
    loaded = [_load(r) for r in runs]
    names = [r["path"].resolve().name for r in loaded]
    if len(set(names)) < len(names):
        names = [str(r) for r in runs]
    names = [printable(n) for n in names]  # a figure's labels take only valid UTF-8
    rows = _rows(loaded)
    text = text_table(["run", *names], rows)
    if html is not None:
        from aekit.io import atomic_write_text

        body = [
            f"<h1>aekit: {len(loaded)} runs compared</h1>",
            table_html([(name, *values) for name, values in rows], ["run", *names]),
        ]
        fig = overlay_curves(loaded, names)
        if fig is not None:
            body += [
                "<h2>Loss curves</h2>",
                figure_html(
                    figure_uri(fig), "loss curves of every run", "A colour per run: training solid, validation dashed."
                ),
            ]
        body.append(
            "<h2>Run folders</h2><ul>"
            + "".join(
                f"<li>{_html.escape(n)}: <code>{_html.escape(str(r['path']))}</code></li>"
                for n, r in zip(names, loaded)
            )
            + "</ul>"
        )
        atomic_write_text(Path(html), page("aekit compare", "\n".join(body)))
    return text
