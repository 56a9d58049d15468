"""The usage processor's state for one partition: usage per Sim and billing period.

It is restored from the partition's changelog (one record per Sim, written by every
transaction that changed it) or, with no changelog, folded from the usage log
(`apply_facts`); the live processor changes it only in ways the usage-log records describe,
so both end in the state the last committed transaction left.

De-duplication, exact either way:
- reports with a `sequence` (the SIM's session number at the network): a watermark per Sim,
  the highest number counted and the numbers below it not counted yet (`missing`, as ranges;
  empty while sessions arrive in order). A few dozen bytes per Sim, however many sessions.
- reports without one: their session ids, per Sim and billing period, for `dedup_periods`
  periods (`horizon`): every id of the open periods is kept.
Per-period bytes are kept for the horizon too; a Sim's total since it was first seen and its
data state are kept for good.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

import msgspec

from events.usage import DataStateChange, UsageFacts
from services.domain.periods import BillingPeriod

# Gaps in a Sim's session numbers remembered at most: a gap older than this many is given up
# (its sessions, should they come, are refused as too late), so memory stays bounded.
MAX_MISSING_RANGES = 256


class PeriodUsage:
    __slots__ = ("bytes_up", "bytes_down", "sessions")

    def __init__(self) -> None:
        self.bytes_up = 0
        self.bytes_down = 0
        self.sessions: set[str] | None = None  # ids of reports without a sequence

    @property
    def total(self) -> int:
        return self.bytes_up + self.bytes_down

    def has_session(self, session_id: str) -> bool:
        return self.sessions is not None and session_id in self.sessions

    def add_session(self, session_id: str) -> None:
        if self.sessions is None:
            self.sessions = set()
        self.sessions.add(session_id)


class Suspension(NamedTuple):
    period_start: int
    data_limit: int  # MB
    fleet_sid: str


class SimUsage:
    __slots__ = (
        "account_sid",
        "periods",
        "total",
        "suspension",
        "seq",
        "activation_sent",
        "high",
        "missing",
        "floor",
    )

    def __init__(self, account_sid: str) -> None:
        self.account_sid = account_sid
        self.periods: dict[int, PeriodUsage] = {}
        self.total = 0  # bytes since the Sim was first seen: the 250 KB activation rule
        self.suspension: Suspension | None = None  # as last commanded
        self.seq = 0  # suspend/resume commands sent so far
        self.activation_sent = False
        self.high = 0  # the highest session number counted
        self.missing: list[tuple[int, int]] = []  # [first, last] numbers below it not counted
        self.floor = 0  # numbers up to here, unless missing, may belong to a gap given up

    def period(self, start: int) -> PeriodUsage:
        found = self.periods.get(start)
        if found is None:
            found = self.periods[start] = PeriodUsage()
        return found

    def used_in(self, start: int) -> int:
        found = self.periods.get(start)
        return 0 if found is None else found.total

    # --- session numbers -----------------------------------------------------------------------

    def sequence_counted(self, number: int) -> bool | None:
        """True if session `number` was counted, False if not, None if it is at or below a
        gap given up: then nobody can tell, and the report is refused as too late."""
        if number > self.high:
            return False
        i = bisect.bisect_right(self.missing, (number, 2**63)) - 1
        if i >= 0 and self.missing[i][0] <= number <= self.missing[i][1]:
            return False
        return None if number <= self.floor else True

    def count_sequence(self, number: int) -> None:
        """Marks session `number` counted (it was not)."""
        if number > self.high:
            if number > self.high + 1:
                self.missing.append((self.high + 1, number - 1))
                if len(self.missing) > MAX_MISSING_RANGES:
                    self.floor = self.missing.pop(0)[1]
            self.high = number
            return
        i = bisect.bisect_right(self.missing, (number, 2**63)) - 1
        first, last = self.missing[i]
        pieces = [(first, number - 1)] if first < number else []
        if number < last:
            pieces.append((number + 1, last))
        self.missing[i : i + 1] = pieces


class UsageState:
    def __init__(self, rule: BillingPeriod, dedup_periods: int) -> None:
        self.rule = rule
        self.dedup_periods = dedup_periods
        self.current_period = 0  # not known yet: the clock or the first report sets it
        self.sims: dict[str, SimUsage] = {}
        self.dirty: set[str] = set()  # Sims changed since the last changelog write

    def horizon(self) -> int:
        """The oldest period still de-duplicated; reports of older ones are refused."""
        if not self.current_period:
            return 0
        return self.rule.shift(self.current_period, 1 - self.dedup_periods)

    def sim(self, account_sid: str, sim_sid: str) -> SimUsage:
        found = self.sims.get(sim_sid)
        if found is None:
            found = self.sims[sim_sid] = SimUsage(account_sid)
        self.dirty.add(sim_sid)  # asked for to be changed
        return found

    def advance(self, period: int) -> set[str]:
        """Moves to a later period, forgetting what fell behind the horizon; returns the Sims
        whose data is suspended (a new period may resume them). The changelog keeps a Sim's
        old periods until the Sim next changes: they are behind the horizon, so unread."""
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
        """Replays one usage-log record (restoring with no changelog)."""
        self.advance(facts.current_period)
        horizon = self.horizon()
        for bucket in facts.buckets:
            usage = self.sim(bucket.account_sid, bucket.sim_sid)
            usage.total += bucket.bytes_up + bucket.bytes_down
            for number in bucket.sequences:
                if usage.sequence_counted(number) is False:
                    usage.count_sequence(number)
            # Counted before a later report of the same batch moved the period on: the live
            # state forgot it then, so the replay does too (the total keeps it).
            if bucket.period_start < horizon:
                continue
            period = usage.period(bucket.period_start)
            period.bytes_up += bucket.bytes_up
            period.bytes_down += bucket.bytes_down
            for session_id in bucket.sessions:
                period.add_session(session_id)
        for change in facts.changes:
            self.apply_change(change)

    # --- the changelog -------------------------------------------------------------------------

    def record_of(self, sim_sid: str) -> bytes | None:
        usage = self.sims.get(sim_sid)
        if usage is None:
            return None
        return _encode(
            _UsageRecord(
                usage.account_sid,
                {
                    start: (p.bytes_up, p.bytes_down, sorted(p.sessions or ()))
                    for start, p in usage.periods.items()
                },
                usage.total,
                usage.suspension,
                usage.seq,
                usage.activation_sent,
                usage.high,
                usage.missing,
                usage.floor,
            )
        )

    def load(self, sim_sid: str, value: bytes) -> None:
        record = _decode(value)
        usage = SimUsage(record.account_sid)
        horizon = self.horizon()
        for start, (up, down, sessions) in record.periods.items():
            if start >= horizon:
                period = usage.periods[start] = PeriodUsage()
                period.bytes_up, period.bytes_down = up, down
                if sessions:
                    period.sessions = set(sessions)
        usage.total, usage.seq, usage.activation_sent = record.total, record.seq, record.activation
        usage.suspension = None if record.suspension is None else Suspension(*record.suspension)
        usage.high, usage.missing = record.high, [tuple(r) for r in record.missing]
        usage.floor = record.floor
        self.sims[sim_sid] = usage


class _UsageRecord(msgspec.Struct, array_like=True, gc=False):
    account_sid: str
    periods: dict[int, tuple[int, int, list[str]]]
    total: int
    suspension: tuple[int, int, str] | None
    seq: int
    activation: bool
    high: int
    missing: list[tuple[int, int]]
    floor: int


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_UsageRecord).decode
