"""A Sim's BillingPeriods, derived from its status changes (pure).

A Sim is billed for each billing period (services/domain/periods.py: the periods UsageRecords
counts usage in) during which it was `ready` or `active` at some moment: the period is
`active` if the Sim was active at any moment of it, else `ready`. A period in which the Sim
was new or inactive throughout is not listed. The periods run from the first one the Sim was
ready or active in to the one holding `now`: they exist whether or not an event happened in
them, so they are generated here, a page at a time, never stored.

Times are epoch seconds, as in periods.py: a status held for less than a second (activated
and deactivated at once) still counts, as a span that starts and ends at the same second.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from services.domain.periods import BillingPeriod

BILLED = ("ready", "active")


class Span(msgspec.Struct, frozen=True):
    """The Sim held `status` from `start` until `end` (None: still)."""

    status: str
    start: int
    end: int | None


class Period(msgspec.Struct, frozen=True):
    start: int
    end: int
    period_type: str  # "ready" or "active"
    began: int  # the first moment of the period at which the Sim was ready or active
    changed: int  # the last status change inside the period that made it what it is


def billed_spans(changes: Iterable[tuple[int, str]]) -> list[Span]:
    """The spans in which the Sim was ready or active, from its status changes (moment, new
    status) in the order they happened; it was new before the first."""
    spans: list[Span] = []
    current: tuple[str, int] | None = None
    for moment, status in changes:
        if current is not None:
            spans.append(Span(current[0], current[1], moment))
            current = None
        if status in BILLED:
            current = (status, moment)
    if current is not None:
        spans.append(Span(current[0], current[1], None))
    return spans


def periods_from(
    spans: list[Span], period: BillingPeriod, now: int, after: int | None = None
) -> Iterator[Period]:
    """The billed periods in start order, up to the one holding `now`: those starting after
    `after` when given. Steps over periods no span touches, so a Sim inactive for years costs
    no more than one active for a month."""
    spans = _until(spans, now)
    if not spans or (after is not None and after >= now):  # (a made-up token's far future)
        return
    start = period.start_of(spans[0].start)
    if after is not None:
        start = max(start, period.shift(period.start_of(after), 1))
    last = period.start_of(now)
    i = 0
    while start <= last:
        end = period.end_of(start)
        while i < len(spans) and _ends_by(spans[i], start, now):
            i += 1
        if i == len(spans):
            return
        if spans[i].start >= end:  # nothing billed until the next span's period
            start = period.start_of(spans[i].start)
            continue
        yield _period(spans, i, start, end, now)
        start = end


def periods_back(
    spans: list[Span], period: BillingPeriod, now: int, before: int
) -> Iterator[Period]:
    """The billed periods starting before `before`, latest first (a previous page)."""
    spans = _until(spans, now)
    if not spans:
        return
    start = period.start_of(min(before - 1, now))
    j = len(spans) - 1
    while True:
        end = period.end_of(start)
        while j >= 0 and spans[j].start >= end:
            j -= 1
        if j < 0:
            return
        if _ends_by(spans[j], start, now):  # it ended earlier: go to its last period
            ended = now + 1 if spans[j].end is None else spans[j].end
            start = period.start_of(max(spans[j].start, ended - 1))
            continue
        first = next(i for i, span in enumerate(spans) if not _ends_by(span, start, now))
        yield _period(spans, first, start, end, now)
        start = period.shift(start, -1)


def _until(spans: list[Span], now: int) -> list[Span]:
    """Less the spans that begin after `now`: a command may be stamped a little ahead of the
    reader's clock (by its sender's), and what has not begun is not billed yet."""
    if spans and spans[-1].start > now:
        return [s for s in spans if s.start <= now]
    return spans


def _ends_by(span: Span, moment: int, now: int) -> bool:
    """The span is over before `moment` (one of no length at `moment` is not: it happened)."""
    end = now + 1 if span.end is None else span.end
    return end <= moment and span.start < moment


def _period(spans: list[Span], first: int, start: int, end: int, now: int) -> Period:
    """The period [start, end) that spans[first] and perhaps later spans touch."""
    touching = []
    for span in spans[first:]:
        if span.start >= end:
            break
        if not _ends_by(span, start, now) and span.start < min(end, now + 1):
            touching.append(span)
    kind = "active" if any(s.status == "active" for s in touching) else "ready"
    began = max(start, touching[0].start)
    decisive = [s for s in touching if s.status == kind]
    changed = max(began, max(s.start for s in decisive))
    return Period(start=start, end=end, period_type=kind, began=began, changed=changed)
