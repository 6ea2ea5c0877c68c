"""Progress for long-running commands, on stderr: a bar on a terminal, a line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``Progress(total, "frames")``; call ``update(done, **extra)``; ``close()`` at the end.

    Extra keyword values (``events=3``) are shown after the rate. ``total=0`` means unknown (no ETA).
    """

    def __init__(self, total: int, unit: str = "frames", stream: TextIO | None = None,
                 every_s: float = 0.25) -> None:
        self.total = max(0, int(total))
        self.unit = unit
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = every_s if self.tty else 5.0
        self.t0 = time.monotonic()
        self._last = 0.0
        self.done = 0
        self.extra: dict[str, object] = {}

    def update(self, done: int, **extra: object) -> None:
        self.done = done
        self.extra.update(extra)
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._print(final=False)

    def close(self) -> None:
        self._print(final=True)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        rate = self.done / elapsed
        parts = []
        if self.total:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            parts.append(f"[{bar}] {100 * frac:3.0f}% {self.done}/{self.total} {self.unit}")
            parts.append(f"{rate:.0f}/s" + (f" ETA {eta:.0f}s" if eta != float("inf") else ""))
        else:
            parts.append(f"{self.done} {self.unit} {rate:.0f}/s")
        parts += [f"{k} {v}" for k, v in self.extra.items()]
        return "  ".join(parts)

    def _print(self, final: bool) -> None:
        if self.tty:
            self.stream.write("\r" + self.line() + ("\n" if final else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
