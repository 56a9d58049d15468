"""The retry policy: waits within their tier, never past the cap, and no attempt after the
horizon however the dice fall."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.config import load_settings
from services.delivery.backoff import RetryPolicy, Tier

policies = st.builds(
    lambda base, factor, horizon: RetryPolicy(base=base, cap=base * factor, horizon=horizon),
    base=st.floats(0.001, 600),
    factor=st.floats(1, 10_000),
    horizon=st.floats(1, 7 * 24 * 3600),
)


@given(policies, st.integers(1, 5000), st.randoms(use_true_random=False))
def test_a_delay_is_within_its_tier_and_the_cap(policy, attempt, rng):
    delay = policy.delay(attempt, rng)
    assert 0 <= delay <= min(policy.cap, policy.base * 2.0 ** min(attempt - 1, 1023))


# Horizons of at most a thousand caps: a run is then a few thousand attempts, not millions.
short_runs = st.builds(
    lambda base, factor, caps: RetryPolicy(
        base=base, cap=base * factor, horizon=base * factor * caps
    ),
    base=st.floats(0.001, 600),
    factor=st.floats(1, 10_000),
    caps=st.floats(0.001, 1000),
)


@given(short_runs, st.integers(0, 2**32), st.floats(0, 30))
def test_no_attempt_starts_after_the_horizon(policy, seed, latency):
    rng = random.Random(seed)
    first = now = 1_000_000.0
    attempt = 1
    while True:
        now += latency  # the failed attempt took this long
        at = policy.next_attempt_at(attempt, first, now, rng)
        if at is None:
            break
        assert now <= at <= first + policy.horizon
        now, attempt = at, attempt + 1
    assert now <= first + policy.horizon + latency


def test_given_up_when_the_next_attempt_would_pass_the_horizon():
    policy = RetryPolicy(base=10, cap=10, horizon=100)
    always_longest = random.Random()
    always_longest.uniform = lambda low, high: high
    assert policy.next_attempt_at(1, first_attempt_at=0, now=90, rng=always_longest) == 100
    assert policy.next_attempt_at(1, first_attempt_at=0, now=90.5, rng=always_longest) is None


def test_the_default_schedule_doubles_from_5_seconds_to_the_hour():
    tiers = RetryPolicy().schedule()
    assert tiers[:3] == [Tier(1, 5.0), Tier(2, 10.0), Tier(3, 20.0)]
    assert tiers[-2:] == [Tier(10, 2560.0), Tier(11, 3600.0)]
    assert RetryPolicy(base=7, cap=7).schedule() == [Tier(1, 7.0)]


def test_the_policy_comes_from_the_settings():
    settings = load_settings(
        {
            "FLEETSTATE_WEBHOOK_RETRY_BASE_SECONDS": "2",
            "FLEETSTATE_WEBHOOK_RETRY_CAP_SECONDS": "60",
            "FLEETSTATE_WEBHOOK_RETRY_HORIZON_HOURS": "0.5",
        }
    )
    assert RetryPolicy.from_settings(settings) == RetryPolicy(base=2, cap=60, horizon=1800)
    assert RetryPolicy.from_settings(load_settings({})) == RetryPolicy(5, 3600, 86400)


@pytest.mark.parametrize("base, cap, horizon", [(0, 1, 1), (2, 1, 1), (1, 1, 0)])
def test_a_policy_that_cannot_work_is_refused(base, cap, horizon):
    with pytest.raises(ValueError):
        RetryPolicy(base=base, cap=cap, horizon=horizon)


def test_attempts_are_numbered_from_one():
    with pytest.raises(ValueError, match="from 1"):
        RetryPolicy().delay(0, random.Random(1))
