"""HTTP byte ranges (RFC 9110 §14): one range per request, which is what video players ask for."""

from __future__ import annotations


class RangeNotSatisfiableError(ValueError):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for a ``Range`` header over an object of ``size`` bytes; None for the whole.

    ``bytes=0-99`` → (0, 99); ``bytes=100-`` → (100, size-1); ``bytes=-100`` → the last 100 bytes.
    Malformed or multi-range headers are ignored (the whole object is sent), as RFC 9110 allows.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header.removeprefix("bytes=").strip().partition("-")
    if not sep or not (first.isdigit() or last.isdigit()) or (first and not first.isdigit()) or \
            (last and not last.isdigit()):
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiableError(header)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiableError(header)
    return start, end
