"""Billing periods: calendar months in UTC by default, or a fixed length aligned to the epoch.

Times are epoch seconds (ints) here: the usage processor maps every report to its period and
hour, and integer arithmetic keeps that cheap. Month starts are cached per hour because every
month boundary is an hour boundary.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

HOUR = 3600
_UNITS = {"s": 1, "m": 60, "h": HOUR, "d": 24 * HOUR}
_FIXED = re.compile(r"([1-9][0-9]*)([smhd])")


class BillingPeriod:
    """`start_of(t)` is the start of the period holding t; `shift(start, n)` the start n periods
    later (or earlier, n < 0); periods are [start, shift(start, 1))."""

    def __init__(self, length: int | None) -> None:
        self.length = length  # seconds; None: calendar months

    @classmethod
    def parse(cls, text: str) -> BillingPeriod:
        if text == "month":
            return cls(None)
        match = _FIXED.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r}: expected 'month' or a length such as '30d', '1h', '20s'")
        return cls(int(match[1]) * _UNITS[match[2]])

    def start_of(self, t: float) -> int:
        seconds = int(t // 1)
        if self.length is not None:
            return seconds - seconds % self.length
        return _month_start(seconds - seconds % HOUR)

    def shift(self, start: int, periods: int) -> int:
        if self.length is not None:
            return start + periods * self.length
        moment = datetime.fromtimestamp(start, UTC)
        months = moment.year * 12 + moment.month - 1 + periods
        return int(datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC).timestamp())

    def end_of(self, start: int) -> int:
        return self.shift(start, 1)


@lru_cache(maxsize=4096)
def _month_start(hour: int) -> int:
    moment = datetime.fromtimestamp(hour, UTC)
    return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp())


def hour_of(t: float) -> int:
    seconds = int(t // 1)
    return seconds - seconds % HOUR


def as_datetime(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
