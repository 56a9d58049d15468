"""A Sim's billing periods from its status changes: every period in which it was ready or
active at some moment, typed by the most it was (active over ready), and the same periods
whether read forwards or backwards, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.billing_periods import billed_spans, periods_back, periods_from
from services.domain.periods import BillingPeriod

TEN = BillingPeriod(10)
MONTH = BillingPeriod.parse("month")


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_a_sim_ready_then_active_has_a_ready_period_then_active_ones_up_to_now():
    changes = [(at("2026-01-20"), "ready"), (at("2026-03-05"), "active")]
    periods = list(periods_from(billed_spans(changes), MONTH, now=at("2026-05-10")))
    assert [(p.start, p.end, p.period_type) for p in periods] == [
        (at("2026-01-01"), at("2026-02-01"), "ready"),
        (at("2026-02-01"), at("2026-03-01"), "ready"),
        (at("2026-03-01"), at("2026-04-01"), "active"),
        (at("2026-04-01"), at("2026-05-01"), "active"),
        (at("2026-05-01"), at("2026-06-01"), "active"),
    ]
    assert periods[0].began == at("2026-01-20")  # billed from when it became ready
    assert periods[2].changed == at("2026-03-05")


def test_months_inactive_throughout_are_not_billed():
    changes = [
        (at("2026-01-10"), "active"),
        (at("2026-01-25"), "inactive"),
        (at("2026-04-02"), "active"),
    ]
    periods = list(periods_from(billed_spans(changes), MONTH, now=at("2026-04-20")))
    assert [p.start for p in periods] == [at("2026-01-01"), at("2026-04-01")]


def test_a_status_held_for_less_than_a_second_counts():
    changes = [(at("2026-02-03"), "active"), (at("2026-02-03"), "inactive")]
    (period,) = periods_from(billed_spans(changes), MONTH, now=at("2026-04-20"))
    assert (period.start, period.period_type) == (at("2026-02-01"), "active")


def test_positions_far_from_now_are_pages_with_nothing_on_them():
    spans = billed_spans([(at("2026-01-10"), "active")])
    now = at("2026-03-10")
    assert list(periods_from(spans, MONTH, now, after=10**11)) == []  # year 5138
    assert list(periods_back(spans, MONTH, now, before=0)) == []


def test_a_new_sim_has_no_billing_period():
    assert list(periods_from(billed_spans([]), MONTH, now=at("2026-04-20"))) == []
    assert list(periods_back(billed_spans([]), MONTH, now=at("2026-04-20"), before=10**12)) == []


def brute_force(changes: list[tuple[int, str]], length: int, now: int) -> list[tuple]:
    """Each period's statuses sampled at every second, and every status it was changed to in
    it (held for less than a second, it was held all the same): the definition, slowly."""
    if not any(status in ("ready", "active") for _, status in changes):
        return []

    def status_at(t: int) -> str:
        current = "new"
        for moment, status in changes:
            if moment <= t:
                current = status
        return current

    if not any(s in ("ready", "active") and m <= now for m, s in changes):
        return []
    first = min(m for m, s in changes if s in ("ready", "active"))
    found = []
    for start in range(first - first % length, now - now % length + 1, length):
        seen = {status_at(t) for t in range(start, min(start + length, now + 1))}
        seen |= {s for m, s in changes if start <= m < start + length and m <= now}
        if "active" in seen:
            found.append((start, "active"))
        elif "ready" in seen:
            found.append((start, "ready"))
    return found


changes_strategy = st.lists(
    st.tuples(st.integers(0, 200), st.sampled_from(["ready", "active", "inactive"])),
    max_size=8,
).map(sorted)


@settings(max_examples=300)
@given(changes=changes_strategy, now=st.integers(0, 260), page=st.integers(1, 4))
def test_periods_equal_the_definition_forwards_and_backwards_page_by_page(changes, now, page):
    spans = billed_spans(changes)  # some perhaps after now: stamped by a clock ahead
    expected = brute_force(changes, 10, now)
    forwards = [(p.start, p.period_type) for p in periods_from(spans, TEN, now)]
    assert forwards == expected
    # Forward pages: each from the last start of the page before.
    paged, after = [], None
    while True:
        chunk = []
        for p in periods_from(spans, TEN, now, after=after):
            chunk.append(p)
            if len(chunk) == page:
                break
        if not chunk:
            break
        paged += chunk
        after = chunk[-1].start
    assert [(p.start, p.period_type) for p in paged] == expected
    backwards = [(p.start, p.period_type) for p in periods_back(spans, TEN, now, 10**9)]
    assert backwards == expected[::-1]
