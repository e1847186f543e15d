"""A function run in a thread of its own, whose error reaches the thread that waits for it."""

from __future__ import annotations

import threading
from typing import Callable


class InThread:
    """Runs `fn` in a thread named `name` (`daemon` as `threading.Thread`'s); `join` waits for it and raises, in the
    caller's thread, what `fn` raised there (once)."""

    def __init__(self, fn: Callable[[], object], name: str, daemon: bool | None = None) -> None:
        self._error: BaseException | None = None

        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001  handed to the waiting thread by `join`
                self._error = exc

        self._thread = threading.Thread(target=run, name=name, daemon=daemon)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
