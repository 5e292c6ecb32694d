"""A graceful stop: SIGTERM or Ctrl-C only set a flag, the worker decides what happens to its trial."""

from __future__ import annotations

import signal
from typing import Any


class StopRequest:
    """SIGTERM / Ctrl-C set ``requested``; the worker loop checks it between steps."""

    def __init__(self) -> None:
        self.requested = False
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum, _frame) -> None:
        self.requested = True
        self.signal = signum

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread (e.g. embedded): no graceful stop
                pass

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


__all__ = ["StopRequest"]
