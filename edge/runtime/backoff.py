"""Capped exponential back-off with jitter, for reconnects and worker restarts."""

from __future__ import annotations

import random


class Backoff:
    """``next()`` gives initial_s, 2·initial_s, 4·initial_s … up to max_s, each with ±20 % jitter (so a
    fleet of cameras does not reconnect in lock-step); ``reset()`` after a success.

    >>> b = Backoff(0.5, 4.0); [round(b.next(), 1) <= 4.8 for _ in range(6)][-1]
    True
    """

    def __init__(self, initial_s: float = 0.5, max_s: float = 5.0, jitter: float = 0.2) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {initial_s}, {max_s}")
        self.initial_s, self.max_s, self.jitter = initial_s, max_s, jitter
        self.attempt = 0

    def next(self) -> float:
        base = min(self.max_s, self.initial_s * (2.0 ** self.attempt))
        self.attempt += 1
        return base * (1.0 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self.attempt = 0
