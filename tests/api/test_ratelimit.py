"""The token buckets alone, on a clock the test moves."""

from __future__ import annotations

import pytest

from services.api.ratelimit import TokenBuckets, retry_after


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate_and_keys_apart():
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token in 1/2 s
    assert buckets.take("b") == 0.0  # another key has its own bucket
    clock.now = 0.5
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    clock.now = 100.0
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refilled to the burst, not beyond


def test_wait_takes_nothing_and_retry_after_rounds_up_to_whole_seconds():
    buckets = TokenBuckets(rate=0.25, burst=1, clock=Clock())
    assert buckets.wait("a") == 0.0 and buckets.wait("a") == 0.0
    buckets.take("a")
    assert buckets.wait("a") == pytest.approx(4.0)
    assert (retry_after(0.01), retry_after(1.0), retry_after(3.2)) == ("1", "1", "4")


def test_full_buckets_are_forgotten_when_keys_pile_up():
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=1, clock=clock, max_keys=10)
    for i in range(10):
        buckets.take(f"k{i}")
    clock.now = 5.0  # every bucket full again
    buckets.take("new")
    assert len(buckets._buckets) == 1
