"""Keras-like progress output: a bar per epoch on a terminal, a progress widget in a notebook, lines in a log."""

from __future__ import annotations

import sys

from aekit.history import shown_keys
from aekit.training.callbacks.base import Callback, TrainState


def _line(stream, text: str) -> None:
    """`text` and its newline in one write (print writes them in two, and a signal between them, SIGTERM's clean
    stop, left the next message on the same line)."""
    stream.write(text + "\n")
    stream.flush()


class ProgressBar(Callback):
    """Keras-like progress on stderr: a bar per epoch (verbose=1) or one line per epoch (verbose=2).

    As Keras' progress bar, the bar is drawn only on a terminal; written to a file or a pipe (a log, CI), verbose=1
    prints each epoch's header and its final line, without the carriage-return redraws. In a notebook (Jupyter,
    VS Code, Colab) verbose=1 draws each epoch as one progress widget that ends holding the epoch's figures, and
    prints nothing else (without ipywidgets, as one text bar). The epoch's line starts with ``loss`` and
    ``val_loss``, then the other terms (``recon`` only where it differs from ``loss``), so that a narrow bar does
    not cut the figures that matter.
    """

    def __init__(self, verbose: int = 1, stream=None) -> None:
        self.verbose, self.stream, self.bar = verbose, stream or sys.stderr, None
        self.notebook = stream is None and _in_notebook()  # a stream given by the caller gets text

    def on_epoch_begin(self, state: TrainState) -> None:
        if self.verbose != 1:
            return
        header = f"Epoch {state.epoch + 1}/{state.config.epochs}"
        if self.notebook:
            self.bar = _notebook_bar()(
                total=state.steps_per_epoch,
                desc=header,
                leave=True,
                file=self.stream,
                bar_format="{desc} {n_fmt}/{total_fmt} |{bar}| {elapsed} {postfix}",
            )
            return
        _line(self.stream, header)
        if _is_terminal(self.stream):
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=state.steps_per_epoch,
                file=self.stream,
                ncols=100,
                leave=True,
                bar_format="{n_fmt}/{total_fmt} [{bar:30}] - {elapsed} {postfix}",
                ascii=" =",
            )

    def on_batch_end(self, state: TrainState, batch: int, logs: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if batch % 20 == 0:
                self.bar.set_postfix_str(f"loss: {logs['loss']:.4f}", refresh=False)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        first = [k for k in ("loss", "val_loss") if k in logs]
        keys = first + [k for k in shown_keys(logs) if k not in first and k != "epoch_time"]  # no recon equal to loss
        text = " - ".join(f"{k}: {logs[k]:.4f}" for k in keys)
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.close()
            self.bar = None
        elif self.verbose == 1:
            steps = state.steps_per_epoch
            _line(self.stream, f"{steps}/{steps} - {logs['epoch_time']:.2f}s - {text}")
        elif self.verbose == 2:
            _line(self.stream, f"Epoch {state.epoch}/{state.config.epochs} - {logs['epoch_time']:.2f}s - {text}")

    def on_train_end(self, state: TrainState) -> None:
        if self.bar is not None:  # a run stopped inside an epoch
            self.bar.close()
            self.bar = None


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (a notebook in Jupyter, VS Code or Colab), not in a terminal IPython."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def _notebook_bar():
    """tqdm's notebook widget where ipywidgets is installed, else its text bar (which a notebook redraws in place).

    Chosen here rather than by ``tqdm.auto``, which warns in every notebook without ipywidgets.
    """
    try:
        import ipywidgets  # noqa: F401
        from tqdm.notebook import tqdm
    except ImportError:
        from tqdm.std import tqdm
    return tqdm
