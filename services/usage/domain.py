"""What reports count and which data thresholds they cross: the pure half of usage.

A `Batch` takes the reports of one transaction in order. Each report is resolved to its Sim,
placed in the billing period and hour its session ended in, de-duplicated (by its session
number, or its session id: see state.py), and added to the state and to the batch's
buckets. `settle()` then compares, for every Sim the batch touched, the data state the usage
calls for with the one last commanded, and records a change (and the command to send) where
they differ:

- suspend: the Sim's usage in the current period passes its Fleet's limit;
- resume: the Sim is suspended but its current period's usage no longer passes the limit
  (a new period began, the limit was raised, or the Sim changed Fleet);
- activate: a `ready` Sim has used 250 KB in total (contract, Sim rule 4).

Level-triggered, so a restart, a late directory event or a Fleet change all converge by the same
rule, and each change happens once: it is recorded in the state (and in the usage log) when
decided. Command ids are derived from the Sim and its count of changes, never from a clock.
No clock here: `now` is given by the caller.
"""

from __future__ import annotations

from enum import StrEnum

from events.commands import ActivateSimOnDataUsage, Command, ResumeSimData, SuspendSimData
from events.usage import DataSessionReport, DataStateChange, UsageBucket, UsageFacts
from services.domain import rules
from services.domain.periods import as_datetime, hour_of
from services.usage.directory import Directory
from services.usage.state import UsageState

# A report that ended further than this in the future (by the processor's clock) is refused:
# it would start a billing period early for every Sim of the partition.
FUTURE_TOLERANCE_SECONDS = 300
# Session ids per usage-log record: keeps each record far below Kafka's 1 MB message limit.
MAX_SESSIONS_PER_RECORD = 5000


class Verdict(StrEnum):
    COUNTED = "counted"
    COUNTED_DATA_DISABLED = "counted_data_disabled"  # recorded, and flagged
    DUPLICATE = "duplicate"
    UNKNOWN_SIM = "unknown_sim"
    TOO_LATE = "too_late"  # older than the de-duplication horizon
    FROM_FUTURE = "from_future"


REFUSALS = {
    Verdict.UNKNOWN_SIM: "no Sim with this SID or ICCID in this account",
    Verdict.TOO_LATE: "the report's billing period is older than the de-duplication horizon",
    Verdict.FROM_FUTURE: "the report ended in the future",
}


class _Bucket:
    __slots__ = ("bytes_up", "bytes_down", "sessions", "sequences", "account_sid")

    def __init__(self, account_sid: str) -> None:
        self.account_sid = account_sid
        self.bytes_up = 0
        self.bytes_down = 0
        self.sessions: list[str] = []
        self.sequences: list[int] = []


class Batch:
    def __init__(self, state: UsageState, directory: Directory) -> None:
        self.state = state
        self.directory = directory
        # (sim, fleet, network, period, hour, data_disabled) -> bytes and sessions
        self.buckets: dict[tuple, _Bucket] = {}
        self.changes: list[DataStateChange] = []
        self.touched: set[str] = set()

    # --- counting --------------------------------------------------------------------------

    def advance(self, period: int) -> None:
        """The clock (or a report) says `period` has begun."""
        self.touched |= self.state.advance(period)

    def touch(self, sims: set[str]) -> None:
        """Sims whose data state the directory may have changed (limit, Fleet, status)."""
        self.touched |= sims

    def record(self, report: DataSessionReport, now: float) -> Verdict:
        state = self.state
        sim = self.directory.resolve(report.account_sid, report.sim)
        if sim is None:
            return Verdict.UNKNOWN_SIM
        ended = report.end_time.timestamp()
        if ended > now + FUTURE_TOLERANCE_SECONDS:
            return Verdict.FROM_FUTURE
        period = state.rule.start_of(ended)
        if period > state.current_period:
            self.advance(period)  # a report of a new period implies it
        elif period < state.horizon():
            return Verdict.TOO_LATE
        usage = state.sim(sim.account_sid, sim.sid)
        seen = usage.period(period)
        number = report.sequence
        if number is not None:
            counted = usage.sequence_counted(number)
            if counted is None:
                return Verdict.TOO_LATE
            if counted:
                return Verdict.DUPLICATE
            usage.count_sequence(number)
        elif seen.has_session(report.session_id):
            return Verdict.DUPLICATE
        else:
            seen.add_session(report.session_id)
        seen.bytes_up += report.bytes_up
        seen.bytes_down += report.bytes_down
        usage.total += report.bytes_up + report.bytes_down
        fleet = self.directory.fleet_of(sim)
        disabled = fleet is not None and not fleet.data_enabled
        key = (sim.sid, sim.fleet_sid, report.network_sid, period, hour_of(ended), disabled)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = _Bucket(sim.account_sid)
        bucket.bytes_up += report.bytes_up
        bucket.bytes_down += report.bytes_down
        if number is None:
            bucket.sessions.append(report.session_id)
        else:
            bucket.sequences.append(number)
        self.touched.add(sim.sid)
        return Verdict.COUNTED_DATA_DISABLED if disabled else Verdict.COUNTED

    # --- thresholds ------------------------------------------------------------------------

    def settle(self) -> list[DataStateChange]:
        """Decides the data-state changes of every touched Sim; returns the new ones."""
        first = len(self.changes)
        for sid in sorted(self.touched):  # sorted: the same batch always decides the same
            self._evaluate(sid)
        self.touched.clear()
        return self.changes[first:]

    def _evaluate(self, sid: str) -> None:
        usage = self.state.sims.get(sid)
        sim = self.directory.sims.get(sid)
        if usage is None or sim is None:
            return
        current = self.state.current_period
        fleet = self.directory.fleet_of(sim)
        used = usage.used_in(current)
        over = fleet is not None and rules.over_data_limit(used, fleet.data_limit)
        limit = None if fleet is None else fleet.data_limit
        fleet_sid = None if fleet is None else fleet.sid
        suspension = usage.suspension
        if suspension is not None and (suspension.period_start != current or not over):
            if suspension.period_start != current:
                reason = "new_period"
            elif fleet_sid != suspension.fleet_sid:
                reason = "fleet_changed"
            else:
                reason = "limit_raised"
            self._change("resume", sim.account_sid, sid, used, limit, fleet_sid, reason)
        if over and usage.suspension is None:
            self._change("suspend", sim.account_sid, sid, used, limit, fleet_sid, "over_limit")
        if (
            not usage.activation_sent
            and sim.status == "ready"
            and usage.total >= rules.ACTIVATION_BYTES
        ):
            self._change("activate", sim.account_sid, sid, usage.total, limit, fleet_sid, "")

    def _change(self, kind, account_sid, sid, used, limit, fleet_sid, reason) -> None:
        usage = self.state.sims[sid]
        seq = usage.seq if kind == "activate" else usage.seq + 1
        command_id = f"usage:{sid}:activate" if kind == "activate" else f"usage:{sid}:{seq}"
        current = self.state.current_period
        change = DataStateChange(
            command_id=command_id,
            kind=kind,
            account_sid=account_sid,
            sim_sid=sid,
            seq=seq,
            period_start=current,
            period_end=self.state.rule.end_of(current),
            data_used=used,
            data_limit=limit,
            fleet_sid=fleet_sid,
            reason=reason,
        )
        self.state.apply_change(change)  # the same function the replay uses
        self.changes.append(change)

    # --- output ----------------------------------------------------------------------------

    def facts(self, reports: int) -> list[UsageFacts]:
        """The usage-log records of this batch: buckets split so no record grows too big; the
        first carries the report count and the data-state changes."""
        state = self.state
        records: list[UsageFacts] = []
        chunk: list[UsageBucket] = []
        sessions = 0
        for (sim, fleet, network, period, hour, disabled), b in self.buckets.items():
            if chunk and sessions + len(b.sessions) + len(b.sequences) > MAX_SESSIONS_PER_RECORD:
                records.append(UsageFacts(current_period=state.current_period, buckets=chunk))
                chunk, sessions = [], 0
            chunk.append(
                UsageBucket(
                    account_sid=b.account_sid,
                    sim_sid=sim,
                    fleet_sid=fleet,
                    network_sid=network,
                    period_start=period,
                    period_end=state.rule.end_of(period),
                    hour=hour,
                    bytes_up=b.bytes_up,
                    bytes_down=b.bytes_down,
                    sessions=b.sessions,
                    data_disabled=disabled,
                    sequences=b.sequences,
                )
            )
            sessions += len(b.sessions) + len(b.sequences)
        records.append(UsageFacts(current_period=state.current_period, buckets=chunk))
        first = records[0]
        records[0] = UsageFacts(
            current_period=first.current_period,
            reports=reports,
            buckets=first.buckets,
            changes=self.changes,
        )
        return records


def command_for(change: DataStateChange) -> Command:
    """The command that asks the decider for `change`."""
    if change.kind == "activate":
        return ActivateSimOnDataUsage(sim=change.sim_sid, data_used=change.data_used)
    period = {
        "period_start": as_datetime(change.period_start),
        "period_end": as_datetime(change.period_end),
    }
    if change.kind == "suspend":
        return SuspendSimData(
            sim=change.sim_sid, data_used=change.data_used, data_limit=change.data_limit, **period
        )
    return ResumeSimData(
        sim=change.sim_sid,
        data_used=change.data_used,
        data_limit=change.data_limit,
        reason=change.reason,
        **period,
    )
