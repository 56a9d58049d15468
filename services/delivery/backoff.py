"""When a failed webhook is tried again, and when it is given up. Pure: time is a number of
seconds and chance is a `random.Random` the caller passes in.

Exponential backoff with full jitter: the wait after attempt n is uniform between 0 and
min(cap, base * 2**(n - 1)). The jitter spreads the retries of many deliveries that failed
together (a customer's outage), so they do not all come back at once when it ends. A delivery
whose next attempt would fall after its horizon (counted from its first attempt) is given up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    """From attempt `first_attempt` on, the wait after a failure is at most `ceiling` seconds."""

    first_attempt: int
    ceiling: float


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 5.0  # seconds: the ceiling of the wait after the first failed attempt
    cap: float = 3600.0  # seconds: no wait is longer
    horizon: float = 24 * 3600.0  # seconds after the first attempt: none starts later

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise ValueError(f"need 0 < base <= cap, not base {self.base} and cap {self.cap}")
        if self.horizon <= 0:
            raise ValueError(f"the horizon must be more than 0, not {self.horizon}")

    @classmethod
    def from_settings(cls, settings) -> RetryPolicy:
        return cls(
            base=settings.webhook_retry_base_seconds,
            cap=settings.webhook_retry_cap_seconds,
            horizon=settings.webhook_retry_horizon_hours * 3600.0,
        )

    def ceiling(self, attempt_number: int) -> float:
        """The longest wait after failed attempt `attempt_number` (1 is the first attempt)."""
        if attempt_number < 1:
            raise ValueError(f"attempts are numbered from 1, not {attempt_number}")
        doublings = attempt_number - 1
        # Stop doubling once past the cap: 2.0 ** 1100 would overflow a float.
        if doublings >= 1024 or self.base * 2.0**doublings >= self.cap:
            return self.cap
        return self.base * 2.0**doublings

    def delay(self, attempt_number: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt `attempt_number` before the next one."""
        return rng.uniform(0.0, self.ceiling(attempt_number))

    def next_attempt_at(
        self, attempt_number: int, first_attempt_at: float, now: float, rng: random.Random
    ) -> float | None:
        """When to make the attempt after failed attempt `attempt_number` (which ended at `now`),
        or None: the delivery is given up, since that would be past the horizon."""
        at = now + self.delay(attempt_number, rng)
        return at if at <= first_attempt_at + self.horizon else None

    def schedule(self) -> list[Tier]:
        """The tiers of the backoff, up to the first whose ceiling is the cap: with the defaults
        5, 10, 20, ... 2560 seconds, then 3600 from the tenth attempt on."""
        tiers = []
        attempt = 1
        while True:
            tiers.append(Tier(attempt, self.ceiling(attempt)))
            if tiers[-1].ceiling >= self.cap:
                return tiers
            attempt += 1
