"""The usage processor's state for one partition: usage per Sim and billing period.

It is a fold of the partition's usage log (`apply_facts`), and the live processor changes it
only in ways that log records describe, so a restart that folds the log ends in the state the
last committed transaction left. Memory stays bounded: session ids (for de-duplication) and
per-period bytes are kept for `dedup_periods` periods only (`horizon`); a Sim's total since
it was first seen and its data state are kept for good.
"""

from __future__ import annotations

from typing import NamedTuple

from events.usage import DataStateChange, UsageFacts
from services.usage.periods import BillingPeriod


class PeriodUsage:
    __slots__ = ("bytes_up", "bytes_down", "sessions")

    def __init__(self) -> None:
        self.bytes_up = 0
        self.bytes_down = 0
        self.sessions: set[str] = set()

    @property
    def total(self) -> int:
        return self.bytes_up + self.bytes_down


class Suspension(NamedTuple):
    period_start: int
    data_limit: int  # MB
    fleet_sid: str


class SimUsage:
    __slots__ = ("account_sid", "periods", "total", "suspension", "seq", "activation_sent")

    def __init__(self, account_sid: str) -> None:
        self.account_sid = account_sid
        self.periods: dict[int, PeriodUsage] = {}
        self.total = 0  # bytes since the Sim was first seen: the 250 KB activation rule
        self.suspension: Suspension | None = None  # as last commanded
        self.seq = 0  # suspend/resume commands sent so far
        self.activation_sent = False

    def period(self, start: int) -> PeriodUsage:
        found = self.periods.get(start)
        if found is None:
            found = self.periods[start] = PeriodUsage()
        return found

    def used_in(self, start: int) -> int:
        found = self.periods.get(start)
        return 0 if found is None else found.total


class UsageState:
    def __init__(self, rule: BillingPeriod, dedup_periods: int) -> None:
        self.rule = rule
        self.dedup_periods = dedup_periods
        self.current_period = 0  # not known yet: the clock or the first report sets it
        self.sims: dict[str, SimUsage] = {}

    def horizon(self) -> int:
        """The oldest period still de-duplicated; reports of older ones are refused."""
        if not self.current_period:
            return 0
        return self.rule.shift(self.current_period, 1 - self.dedup_periods)

    def sim(self, account_sid: str, sim_sid: str) -> SimUsage:
        found = self.sims.get(sim_sid)
        if found is None:
            found = self.sims[sim_sid] = SimUsage(account_sid)
        return found

    def advance(self, period: int) -> set[str]:
        """Moves to a later period, forgetting what fell behind the horizon; returns the Sims
        whose data is suspended (a new period may resume them)."""
        if period <= self.current_period:
            return set()
        self.current_period = period
        horizon = self.horizon()
        suspended = set()
        for sid, usage in self.sims.items():
            for start in [s for s in usage.periods if s < horizon]:
                del usage.periods[start]
            if usage.suspension is not None:
                suspended.add(sid)
        return suspended

    def apply_change(self, change: DataStateChange) -> None:
        usage = self.sim(change.account_sid, change.sim_sid)
        if change.kind == "activate":
            usage.activation_sent = True
            return
        usage.seq = change.seq
        if change.kind == "suspend":
            usage.suspension = Suspension(change.period_start, change.data_limit, change.fleet_sid)
        else:
            usage.suspension = None

    def apply_facts(self, facts: UsageFacts) -> None:
        """Replays one usage-log record (recovery)."""
        self.advance(facts.current_period)
        horizon = self.horizon()
        for bucket in facts.buckets:
            usage = self.sim(bucket.account_sid, bucket.sim_sid)
            usage.total += bucket.bytes_up + bucket.bytes_down
            # Counted before a later report of the same batch moved the period on: the live
            # state forgot it then, so the replay does too (the total keeps it).
            if bucket.period_start < horizon:
                continue
            period = usage.period(bucket.period_start)
            period.bytes_up += bucket.bytes_up
            period.bytes_down += bucket.bytes_down
            period.sessions.update(bucket.sessions)
        for change in facts.changes:
            self.apply_change(change)
