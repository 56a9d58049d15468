"""The pure usage domain: what counts, and which thresholds fire, once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from events.commands import UpdateFleet, UpdateSim
from events.usage import decode_facts, encode_facts
from services.domain.periods import BillingPeriod
from services.usage.domain import Batch, Verdict, command_for
from services.usage.state import MAX_MISSING_RANGES, UsageState
from tests.domain.support import ACCOUNT_A, ACCOUNT_B, ICCID_1, World

from .support import MONTH, NOVEMBER, directory_of, recomputed_totals, report

NOW = NOVEMBER.timestamp()
MB = 1_000_000


class Usage:
    """A World whose Sim is in a Fleet with a 1 MB limit, and a usage processor's state."""

    def __init__(self, status: str = "active", limit_mb: int = 1) -> None:
        self.world = World()
        self.world.run(UpdateFleet(fleet="fleet", data_limit=limit_mb))
        self.world.run(UpdateSim(sim=self.world.sim, fleet="fleet", status=status))
        self.directory = directory_of(self.world.log)
        self.state = UsageState(MONTH, dedup_periods=2)
        self.facts = []  # every usage-log record written so far

    @property
    def sim(self) -> str:
        return self.world.sim

    def batch(self, *reports, now: float = NOW, touched=(), period=None):
        batch = Batch(self.state, self.directory)
        batch.advance(period or MONTH.start_of(now))
        batch.touch(set(touched))
        verdicts = [batch.record(r, now) for r in reports]
        changes = batch.settle()
        self.facts += batch.facts(len(reports))
        return verdicts, changes

    def use(self, up: int, down: int = 0, **kwargs):
        return self.batch(report(ACCOUNT_A, self.sim, up, down), **kwargs)

    def run(self, command):
        """A command decided by the command processor, seen by the directory."""
        events = self.world.run(command)
        touched = set()
        for event in events:
            touched |= self.directory.apply(event)
        return touched


def kinds(changes) -> list[str]:
    return [c.kind for c in changes]


def test_a_sim_is_found_by_sid_or_iccid_only_in_its_own_account():
    usage = Usage()
    assert usage.directory.resolve(ACCOUNT_A, usage.sim).sid == usage.sim
    assert usage.directory.resolve(ACCOUNT_A, ICCID_1).sid == usage.sim
    assert usage.directory.resolve(ACCOUNT_B, usage.sim) is None
    assert usage.directory.resolve(ACCOUNT_B, ICCID_1) is None


def test_passing_the_limit_suspends_once_and_more_usage_adds_nothing():
    usage = Usage(limit_mb=1)
    assert usage.use(MB)[1] == []  # at the limit: not past it
    _, changes = usage.use(1)
    assert kinds(changes) == ["suspend"]
    assert (changes[0].data_used, changes[0].data_limit) == (MB + 1, 1)
    assert usage.use(5 * MB)[1] == []


def test_raising_the_limit_above_the_usage_resumes_once():
    usage = Usage(limit_mb=1)
    usage.use(2 * MB)
    touched = usage.run(UpdateFleet(fleet="fleet", data_limit=3))
    _, changes = usage.batch(touched=touched)
    assert kinds(changes) == ["resume"] and changes[0].reason == "limit_raised"
    assert usage.batch(touched=touched)[1] == []
    _, changes = usage.use(2 * MB)  # 4 MB now: past the new limit
    assert kinds(changes) == ["suspend"]
    assert len({c.command_id for c in usage.facts for c in c.changes}) == 3


def test_raising_the_limit_but_not_above_the_usage_keeps_the_sim_suspended():
    usage = Usage(limit_mb=1)
    usage.use(3 * MB)
    touched = usage.run(UpdateFleet(fleet="fleet", data_limit=2))
    assert usage.batch(touched=touched)[1] == []


def test_a_new_period_resumes_a_suspended_sim_once():
    usage = Usage(limit_mb=1)
    usage.use(2 * MB)
    december = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC).timestamp()
    _, changes = usage.batch(now=december)
    assert kinds(changes) == ["resume"] and changes[0].reason == "new_period"
    assert changes[0].period_start == MONTH.start_of(december)
    assert usage.batch(now=december)[1] == []


def test_a_report_of_the_next_period_implies_it():
    usage = Usage(limit_mb=1)
    usage.use(2 * MB)
    soon = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    _, changes = usage.batch(report(ACCOUNT_A, usage.sim, 10, end=soon), now=soon.timestamp() - 60)
    assert kinds(changes) == ["resume"] and changes[0].reason == "new_period"


def test_a_late_report_counts_in_its_own_period_and_does_not_suspend_the_current_one():
    usage = Usage(limit_mb=1)
    usage.use(100)
    october = NOVEMBER - timedelta(days=30)
    verdicts, changes = usage.batch(report(ACCOUNT_A, usage.sim, 5 * MB, end=october))
    assert verdicts == [Verdict.COUNTED] and changes == []
    sim = usage.state.sims[usage.sim]
    assert sim.used_in(MONTH.start_of(october.timestamp())) == 5 * MB
    assert sim.used_in(MONTH.start_of(NOW)) == 100


def test_a_report_older_than_the_dedup_horizon_is_refused_as_too_late():
    usage = Usage()
    september = NOVEMBER - timedelta(days=60)
    verdicts, _ = usage.batch(report(ACCOUNT_A, usage.sim, 5, end=september))
    assert verdicts == [Verdict.TOO_LATE]


def test_reports_from_the_future_and_for_unknown_sims_are_refused():
    usage = Usage()
    future = NOVEMBER + timedelta(hours=1)
    verdicts, _ = usage.batch(
        report(ACCOUNT_A, usage.sim, 5, end=future),
        report(ACCOUNT_A, "HS" + "0" * 32, 5),
        report(ACCOUNT_B, usage.sim, 5),
    )
    assert verdicts == [Verdict.FROM_FUTURE, Verdict.UNKNOWN_SIM, Verdict.UNKNOWN_SIM]


def test_a_duplicate_session_id_counts_once():
    usage = Usage(limit_mb=100)
    first = report(ACCOUNT_A, usage.sim, 10, 20, session_id="s-1")
    verdicts, _ = usage.batch(first, first)
    assert verdicts == [Verdict.COUNTED, Verdict.DUPLICATE]
    assert usage.batch(first)[0] == [Verdict.DUPLICATE]
    assert usage.state.sims[usage.sim].used_in(MONTH.start_of(NOW)) == 30


def test_250_kb_in_total_activate_a_ready_sim_once():
    usage = Usage(status="ready", limit_mb=100)
    assert usage.use(249_999)[1] == []
    _, changes = usage.use(1)
    assert kinds(changes) == ["activate"] and changes[0].data_used == 250_000
    assert changes[0].command_id == f"usage:{usage.sim}:activate"
    assert usage.use(300_000)[1] == []


def test_a_sim_that_used_250_kb_before_it_was_ready_is_activated_once_it_is_ready():
    usage = Usage(limit_mb=100)
    usage.world = World()  # its Sim is `new`, without a Fleet
    usage.directory = directory_of(usage.world.log)
    assert usage.use(300_000)[1] == []
    touched = usage.run(UpdateSim(sim=usage.sim, fleet="fleet", status="ready"))
    _, changes = usage.batch(touched=touched)
    assert kinds(changes) == ["activate"]


def test_usage_of_a_sim_whose_fleet_has_data_disabled_is_recorded_and_flagged():
    from events.commands import CreateFleet

    usage = Usage()
    usage.run(CreateFleet(network_access_profile="nap", unique_name="off", data_enabled=False))
    usage.run(UpdateSim(sim=usage.sim, fleet="off"))
    verdicts, _ = usage.use(10)
    assert verdicts == [Verdict.COUNTED_DATA_DISABLED]
    [bucket] = usage.facts[-1].buckets
    assert bucket.data_disabled and bucket.bytes_up == 10


def test_moving_a_suspended_sim_to_a_fleet_with_room_resumes_it_with_reason_fleet_changed():
    from events.commands import CreateFleet

    usage = Usage(limit_mb=1)
    usage.use(2 * MB)
    usage.run(CreateFleet(network_access_profile="nap", unique_name="big", data_limit=10))
    touched = usage.run(UpdateSim(sim=usage.sim, fleet="big"))
    _, changes = usage.batch(touched=touched)
    assert kinds(changes) == ["resume"] and changes[0].reason == "fleet_changed"


def test_changes_become_the_commands_of_the_decider():
    usage = Usage(limit_mb=1)
    _, [change] = usage.use(2 * MB)
    command = command_for(change)
    assert type(command).__name__ == "SuspendSimData"
    assert command.period_start == datetime(2026, 11, 1, tzinfo=UTC)
    assert command.period_end == datetime(2026, 12, 1, tzinfo=UTC)


# --- properties: totals equal a plain recomputation; the log replays into the same state ------

_times = st.integers(min_value=-40 * 24, max_value=0).map(lambda h: NOVEMBER + timedelta(hours=h))


@st.composite
def report_streams(draw):
    usage = Usage(limit_mb=draw(st.integers(1, 3)))
    originals = draw(
        st.lists(
            st.tuples(st.integers(0, 700_000), st.integers(0, 700_000), _times),
            min_size=1,
            max_size=40,
        )
    )
    reports = [report(ACCOUNT_A, usage.sim, up, down, end) for up, down, end in originals]
    if draw(st.booleans()):  # the network numbers the sessions: de-duplicated by watermark
        reports = [msgspec.structs.replace(r, sequence=i + 1) for i, r in enumerate(reports)]
    # duplicates (resent reports), shuffled: out of order
    reports += draw(st.lists(st.sampled_from(reports), max_size=20))
    order = draw(st.permutations(range(len(reports))))
    sizes = draw(st.lists(st.integers(1, 10), min_size=1, max_size=10))
    return usage, [reports[i] for i in order], sizes


def _batches(reports, sizes):
    start, i = 0, 0
    while start < len(reports):
        size = sizes[i % len(sizes)]
        yield reports[start : start + size]
        start, i = start + size, i + 1


@settings(max_examples=150, deadline=None)
@given(report_streams())
def test_totals_equal_a_recomputation_from_the_raw_reports_whatever_the_order_and_duplicates(
    case,
):
    usage, reports, sizes = case
    for batch in _batches(reports, sizes):
        usage.batch(*batch)
    expected = recomputed_totals(reports, sim_of=lambda r: usage.sim)
    from_log: dict = {}
    for facts in usage.facts:
        for b in facts.buckets:
            key = (b.sim_sid, b.period_start)
            from_log[key] = from_log.get(key, 0) + b.bytes_up + b.bytes_down
    assert from_log == expected
    sim = usage.state.sims[usage.sim]
    assert sim.total == sum(expected.values())
    for (_, period), total in expected.items():
        assert sim.used_in(period) == total
    # thresholds: at most one suspension, and it happened iff the current period is over
    suspends = [c for f in usage.facts for c in f.changes if c.kind == "suspend"]
    current_total = expected.get((usage.sim, MONTH.start_of(NOW)), 0)
    limit = usage.directory.fleet_of(usage.directory.sims[usage.sim]).data_limit
    assert len(suspends) == (1 if current_total > limit * MB else 0)


@settings(max_examples=100, deadline=None)
@given(report_streams(), st.integers(0, 2))
def test_replaying_the_usage_log_rebuilds_the_live_state(case, extra_periods):
    usage, reports, sizes = case
    rule = MONTH
    for batch in _batches(reports, sizes):
        usage.batch(*batch)
    later = rule.shift(rule.start_of(NOW), extra_periods)
    usage.batch(now=float(later), period=later)
    replayed = UsageState(rule, dedup_periods=2)
    for facts in usage.facts:
        replayed.apply_facts(decode_facts(encode_facts(facts)))
    assert _snapshot(replayed) == _snapshot(usage.state)
    # ... and so does the changelog: each Sim's record, loaded back.
    restored = UsageState(rule, dedup_periods=2)
    restored.current_period = usage.state.current_period
    for sid in usage.state.sims:
        restored.load(sid, usage.state.record_of(sid))
    assert _snapshot(restored) == _snapshot(usage.state)


def _snapshot(state: UsageState):
    return (
        state.current_period,
        {
            sid: (
                u.total,
                u.suspension,
                u.seq,
                u.activation_sent,
                (u.high, list(u.missing), u.floor),
                {
                    p: (v.bytes_up, v.bytes_down, frozenset(v.sessions or ()))
                    for p, v in u.periods.items()
                },
            )
            for sid, u in state.sims.items()
        },
    )


def test_fixed_length_periods_align_to_the_epoch_and_months_to_the_calendar():
    twenty = BillingPeriod.parse("20s")
    assert twenty.start_of(1_000_000_019.5) == 1_000_000_000
    assert twenty.shift(1_000_000_000, -1) == 999_999_980
    start = MONTH.start_of(datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC).timestamp())
    assert datetime.fromtimestamp(start, UTC) == datetime(2024, 2, 1, tzinfo=UTC)
    assert datetime.fromtimestamp(MONTH.end_of(start), UTC) == datetime(2024, 3, 1, tzinfo=UTC)
    assert datetime.fromtimestamp(MONTH.shift(start, -2), UTC) == datetime(2023, 12, 1, tzinfo=UTC)


# --- session numbers: a watermark per Sim ----------------------------------------------------


def numbered(usage: Usage, sequence: int, up: int = 1000):
    return msgspec.structs.replace(report(ACCOUNT_A, usage.sim, up), sequence=sequence)


def test_numbered_sessions_count_once_in_any_order_and_fill_their_gaps():
    usage = Usage(limit_mb=100)
    verdicts, _ = usage.batch(*(numbered(usage, n) for n in (1, 2, 5, 2, 3, 5)))
    assert verdicts == ["counted", "counted", "counted", "duplicate", "counted", "duplicate"]
    sim = usage.state.sims[usage.sim]
    assert (sim.high, sim.missing) == (5, [(4, 4)])
    assert usage.batch(numbered(usage, 4), numbered(usage, 4))[0] == ["counted", "duplicate"]
    assert (sim.high, sim.missing, sim.total) == (5, [], 5000)
    # The session id plays no part once sessions are numbered.
    assert sim.periods[MONTH.start_of(NOW)].sessions is None


def test_a_sims_watermark_stays_small_however_many_sessions_it_counted():
    usage = Usage(limit_mb=2000)
    for start in range(1, 20_001, 1000):
        usage.batch(*(numbered(usage, n, up=1) for n in range(start, start + 1000)))
    sim = usage.state.sims[usage.sim]
    assert (sim.high, sim.missing, sim.total) == (20_000, [], 20_000)
    assert len(usage.state.record_of(usage.sim)) < 100  # bytes in the changelog


def test_gaps_beyond_the_remembered_number_are_given_up_and_their_sessions_refused():
    usage = Usage(limit_mb=2000)
    # Every other session missing: more gaps than a Sim remembers.
    usage.batch(*(numbered(usage, n) for n in range(2, 2 * (MAX_MISSING_RANGES + 10), 2)))
    sim = usage.state.sims[usage.sim]
    assert len(sim.missing) == MAX_MISSING_RANGES
    oldest_gap, recent_gap = 1, 2 * (MAX_MISSING_RANGES + 9) - 1
    late, recent = usage.batch(numbered(usage, oldest_gap), numbered(usage, recent_gap))[0]
    assert (late, recent) == ("too_late", "counted")
