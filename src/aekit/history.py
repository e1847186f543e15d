"""Keras' `History`: the per-epoch values of every logged term (``history.history["val_loss"]``)."""

from __future__ import annotations

from typing import Any, Iterable

# Keys of a history that are no loss term: the total and the time
_NOT_TERMS = {"loss", "epoch_time"}


def shown_keys(keys: Iterable[str]) -> list[str]:
    """The keys of a history (or of one epoch's logs) worth showing, in their order: all of them, except ``recon``
    and ``val_recon`` when the loss has no other term (``loss`` is then ``recon`` itself, value for value).
    The progress line and the loss plots both ask this."""
    keys = [str(k) for k in keys]
    terms = {k[4:] if k.startswith("val_") else k for k in keys} - _NOT_TERMS
    if terms == {"recon"}:
        return [k for k in keys if k not in ("recon", "val_recon")]
    return keys


class History:
    """Keras' History: ``history.history["val_loss"]`` is the list of per-epoch values."""

    def __init__(self, history: dict[str, list[float]] | None = None, epoch: list[int] | None = None) -> None:
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}
        self.epoch: list[int] = list(epoch or [])

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        return cls(data.get("history", {}), data.get("epoch", []))

    def plot(self, *, title: str | None = "loss"):
        """The loss curves (a matplotlib Figure, shown inline in a notebook): each term against the epoch, ``val_*``
        dashed in its term's colour; a log scale where the terms' medians differ by more than 100 times."""
        import math

        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        keys = _shown(self.history)
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.subplots()
        colours: dict[str, str] = {}
        for k in keys:
            base = k[4:] if k.startswith("val_") and k[4:] in keys else k
            colours.setdefault(base, f"C{len(colours) % 10}")
            values = self.history[k]
            epochs = self.epoch if len(self.epoch) == len(values) else range(1, len(values) + 1)
            ax.plot(
                list(epochs),
                values,
                color=colours[base],
                linestyle="--" if base != k else "-",
                label=k,
                marker="." if len(values) < 30 else None,
            )
        finite = {k: sorted(v for v in self.history[k] if math.isfinite(v)) for k in keys}
        medians = [v[len(v) // 2] for v in finite.values() if v]
        if medians and min(min(v) for v in finite.values() if v) > 0 and max(medians) / min(medians) > 100:
            ax.set_yscale("log")
        if keys:
            ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        if title:
            ax.set_title(title)
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"

    def _repr_html_(self) -> str:
        """A notebook's view: one row per epoch (the first and last five of a long run), one column per term."""
        from aekit.display import table

        keys = _shown(self.history)
        rows = [
            [e, *(self.history[k][i] if i < len(self.history[k]) else "" for k in keys)]
            for i, e in enumerate(self.epoch)
        ]
        if len(rows) > 10:
            rows = rows[:5] + [["…"] * (len(keys) + 1)] + rows[-5:]
        epochs = len(self.epoch)
        return table(rows, ["epoch", *keys], caption=f"History: {epochs} epoch{'s' * (epochs != 1)}")


def _shown(history: dict[str, Any]) -> list[str]:
    """`shown_keys` without the timings, ``loss`` and ``val_loss`` first (as the progress line)."""
    keys = [k for k in shown_keys(history) if not (k.endswith("time") or k.endswith("_s"))]
    first = [k for k in ("loss", "val_loss") if k in keys]
    return first + [k for k in keys if k not in first]
