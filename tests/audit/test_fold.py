"""Folding the log in memory up to a moment: the state at every event boundary is the fold of
the events up to it, and a clock that went backwards never yields a state that never was."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from services.audit.fold import Fold
from services.audit.resources import FLEET, resource_view
from services.projection.changes import LogPosition
from tests.domain.support import ISSUED_AT
from tests.projection.test_changes import busy_world


def timed(log, step=timedelta(seconds=1)):
    """The log with each event one step later than the one before."""
    return [msgspec.structs.replace(e, occurred_at=ISSUED_AT + i * step) for i, e in enumerate(log)]


def with_positions(events):
    return [(e, LogPosition(0, i)) for i, e in enumerate(events)]


def test_the_state_at_each_event_boundary_is_the_fold_of_the_events_up_to_it():
    log = with_positions(timed(busy_world().log))
    for k, (event, _) in enumerate(log):
        as_of = Fold(until=event.occurred_at).apply_all(log)
        assert as_of.tables == Fold().apply_all(log[: k + 1]).tables, event.type
        assert as_of.applied == k + 1 and as_of.left_out == len(log) - k - 1


def test_before_the_first_event_nothing_exists_and_after_the_last_everything_does():
    log = with_positions(timed(busy_world().log))
    first, last = log[0][0].occurred_at, log[-1][0].occurred_at
    assert Fold(until=first - timedelta(seconds=1)).apply_all(log).tables == {}
    assert (
        Fold(until=last + timedelta(days=1)).apply_all(log).tables == Fold().apply_all(log).tables
    )


def test_a_clock_that_went_backwards_stops_the_aggregate_at_its_first_later_event():
    world = busy_world()
    fleet_events = [e for e in world.log if e.aggregate_id == world.fleet]
    created = fleet_events[0]
    late = msgspec.structs.replace(
        created, event_id="late", aggregate_version=2, occurred_at=ISSUED_AT + timedelta(hours=2)
    )
    rewound = msgspec.structs.replace(
        created,
        event_id="rewound",
        aggregate_version=3,
        occurred_at=ISSUED_AT + timedelta(hours=1),
    )
    log = with_positions([created, late, rewound])
    fold = Fold(until=ISSUED_AT + timedelta(hours=1)).apply_all(log)
    view = resource_view(fold.tables, FLEET, world.fleet)
    assert view["version"] == 1  # not 3: versions 1 and 3 without 2 never existed together
    assert fold.left_out == 2
