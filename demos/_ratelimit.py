"""Rate limits per client address: a token bucket each, for the demos' web servers.

Owns `RateLimiter`. Thread-safety: one thread (the IOLoop's) uses a limiter.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """A token bucket per client address: ``burst`` requests at once, then ``rate`` a second.

    Example::

        limiter = RateLimiter(burst=10, rate=2.0)
        wait, first = limiter.take("127.0.0.1")  # wait 0.0: go ahead

    A bucket that has filled up again says nothing a fresh one would not, so
    it is forgotten: the table holds only addresses that asked within the
    last ``burst / rate`` seconds, swept whenever it has doubled in size.
    ``clock`` is for tests.
    """

    def __init__(
        self, burst: int, rate: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if burst < 1 or rate <= 0:
            raise ValueError(f"burst must be >= 1 and rate > 0, not {burst!r}, {rate!r}")
        self.burst, self.rate, self._clock = burst, rate, clock
        self._buckets: dict[str, tuple[float, float, bool]] = {}  # tokens, when, refused
        self._sweep_at = 1024

    def take(self, address: str) -> tuple[float, bool]:
        """Take a token for ``address``.

        Returns the seconds until it may ask (0.0: it may now), and whether
        this is the first refusal since its last granted ask.
        """
        now = self._clock()
        tokens, then, refused = self._buckets.get(address, (self.burst, now, False))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= 1:
            self._buckets[address] = (tokens - 1, now, False)
            result = (0.0, False)
        else:
            self._buckets[address] = (tokens, now, True)
            result = ((1 - tokens) / self.rate, not refused)
        if len(self._buckets) >= self._sweep_at:
            self._sweep(now)
        return result

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        full_after = self.burst / self.rate
        self._buckets = {
            address: bucket
            for address, bucket in self._buckets.items()
            if now - bucket[1] < full_after
        }
        self._sweep_at = max(1024, 2 * len(self._buckets))
