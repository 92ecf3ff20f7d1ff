"""Growing waits between reconnects and retries, with jitter, for every adapter that keeps
a connection or polls (the X stream and poller, Telegram's sending and polling). Shared,
so every channel backs off the same way; the numbers are the caller's, so tests can use
milliseconds."""

from __future__ import annotations

import random
from collections.abc import Iterator


class Backoff:
    """Exponential backoff with "equal jitter": the n-th wait is drawn between half and
    all of min(maximum, initial * factor**n), so waits grow but many clients that lost
    the same server do not all come back at the same instant."""

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError("backoff needs 0 < initial <= maximum and factor >= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.attempts = 0
        self._rng = rng or random.Random()

    def ceiling(self) -> float:
        """The largest wait the next attempt can get."""
        return min(self.maximum, self.initial * self.factor**self.attempts)

    def next(self) -> float:
        ceiling = self.ceiling()
        self.attempts += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempts = 0

    def delays(self) -> Iterator[float]:
        """Endless waits from a first attempt, leaving this object's own count alone, so one
        Backoff can serve as the policy for many independent retries."""
        fresh = Backoff(self.initial, self.maximum, factor=self.factor, rng=self._rng)
        while True:
            yield fresh.next()
