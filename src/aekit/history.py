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

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"
