"""Progress and status lines. Everything goes to stderr so that stdout stays machine-readable."""

from __future__ import annotations

import sys
import time


def say(message: str) -> None:
    print(f"fork: {message}", file=sys.stderr, flush=True)


class Progress:
    """A byte or item counter that redraws one stderr line, at most every 0.2 s."""

    def __init__(self, label: str, total: int | None = None, unit: str = "") -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self._last = 0.0
        self._tty = sys.stderr.isatty()

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        now = time.monotonic()
        if self._tty and now - self._last >= 0.2:
            self._last = now
            print(f"\rfork: {self.label} {self._text()}", end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        prefix = "\r" if self._tty else ""
        print(f"{prefix}fork: {self.label} {self._text()} done", file=sys.stderr, flush=True)

    def _text(self) -> str:
        def fmt(n: int) -> str:
            return f"{n / 1e6:.1f} MB" if self.unit == "B" else f"{n}{self.unit}"

        if self.total:
            return f"{fmt(self.done)}/{fmt(self.total)} ({100 * self.done // self.total}%)"
        return fmt(self.done)
