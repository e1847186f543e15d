"""How aekit's objects show in a notebook: small HTML tables for ``_repr_html_``, and matplotlib Figures as inline PNGs.

A notebook (Jupyter, VS Code, Colab) renders an object's ``_repr_html_``; a terminal prints its ``__repr__``, which
stays the plain text it always was. Figures that aekit returns are built without pyplot, so IPython would show them
as ``<Figure size …>`` text until pyplot is imported; `show_figures_inline` registers a PNG formatter for them in a
running IPython kernel (``import aekit`` calls it there; elsewhere it is never imported).
"""

from __future__ import annotations

import base64
import html
import sys
from typing import Any, Iterable, Sequence


def cell(value: Any) -> str:
    """One value as table text: floats to 4 significant decimals (small ones in e-notation), the rest as str."""
    if isinstance(value, bool) or value is None:
        return html.escape(str(value))
    if isinstance(value, float):
        return f"{value:.4g}" if value and abs(value) < 1e-3 else f"{value:,.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def table(rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None, caption: str | None = None) -> str:
    """An HTML table; numbers right-aligned. Cells are escaped (see `cell`)."""
    out = ['<table class="aekit">']
    if caption:
        out.append(f'<caption style="text-align:left"><b>{html.escape(caption)}</b></caption>')
    if header:
        out.append("<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        tds = []
        for v in row:
            align = ' style="text-align:right"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            tds.append(f"<td{align}>{cell(v)}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def png_tag(data: bytes, alt: str, width: int | None = None) -> str:
    """An <img> with the PNG embedded (a data: URI), so that the notebook keeps it when saved."""
    size = f' width="{width}"' if width else ""
    return f'<img alt="{html.escape(alt)}"{size} src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def run_html(path, metrics: dict[str, Any]) -> str:
    """A run folder at a glance: its path, a table of `metrics`, and its loss.png and reconstructions.png."""
    from pathlib import Path

    path = Path(path)
    images = [
        png_tag((path / name).read_bytes(), name, width=420)
        for name in ("loss.png", "reconstructions.png")
        if (path / name).is_file()
    ]
    return (
        f"<div><p><b>Run</b> <code>{html.escape(str(path))}</code></p>"
        + table(list(metrics.items()), ["metric", "value"])
        + "".join(images)
        + "</div>"
    )


def figure_png(fig) -> bytes:
    """A matplotlib Figure as PNG bytes (tight bounding box, as the inline backend draws them)."""
    from io import BytesIO

    buf = BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def show_figures_inline() -> bool:
    """In a running IPython kernel, show matplotlib Figures as PNG unless a formatter already does; True if there.

    The formatter is registered by name (``matplotlib.figure.Figure``), so matplotlib is not imported for it. Where
    pyplot's inline backend is active its own formatter is kept: every figure still shows once.
    """
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    if shell is None or not hasattr(shell, "kernel"):  # a terminal IPython draws no images
        return False
    png = shell.display_formatter.formatters["image/png"]
    if ("matplotlib.figure", "Figure") in png.deferred_printers:
        return True
    mpl_figure = sys.modules.get("matplotlib.figure")
    if mpl_figure is not None and any(t is mpl_figure.Figure for t in png.type_printers):
        return True
    png.for_type_by_name("matplotlib.figure", "Figure", figure_png)
    return True
