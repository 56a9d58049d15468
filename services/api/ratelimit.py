"""Token buckets: how many requests a key (a client address, an account) may make.

A bucket holds up to `burst` tokens and gains `rate` a second; a request takes one, and a
request that finds none is answered 429 with how long until one is there. Buckets live in the
memory of one API process: N processes behind a balancer allow N times the rate, and a
restart forgets them. That is enough to stop a burst from becoming as many database queries;
a limit shared between processes would need a shared store.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBuckets:
    """One bucket per key; keys whose bucket is full again are forgotten (they hold nothing a
    fresh bucket would not), so memory follows the keys active in the last burst/rate s."""

    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, key: str) -> float:
        """Seconds until `key` has a token (0: it has one now). Takes nothing."""
        tokens = self._tokens(key, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: str) -> float:
        """Takes a token if there is one and returns 0; else the seconds until there is one
        (and takes nothing)."""
        now = self.clock()
        tokens = self._tokens(key, now)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._forget_full(now)
        self._buckets[key] = (tokens - 1, now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        full = [k for k in self._buckets if self._tokens(k, now) >= self.burst]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()  # under a flood of addresses: forget rather than grow


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))
