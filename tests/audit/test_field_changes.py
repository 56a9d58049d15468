"""History entries: each event of a resource with the fields it changed, old -> new, as the
fold of the resource's events through the projection shows them."""

from __future__ import annotations

from services.audit.field_changes import NOT_NEWS, history_entries
from services.audit.resources import BY_AGGREGATE_TYPE
from tests.projection.test_changes import busy_world


def events_of(log, aggregate_id):
    return [(e, None) for e in log if e.aggregate_id == aggregate_id]


def pairs(entry) -> set[tuple]:
    return {(repr(c.old), repr(c.new)) for c in entry.changes}


def test_every_event_that_records_old_and_new_values_shows_exactly_those():
    log = busy_world().log
    checked = 0
    for aggregate_id in {e.aggregate_id for e in log}:
        events = events_of(log, aggregate_id)
        for entry, (event, _) in zip(history_entries(events), events, strict=True):
            payload = entry.payload
            for name in payload:
                if name.startswith("from_"):
                    after = payload["to_" + name[len("from_") :]]
                    assert (repr(payload[name]), repr(after)) in pairs(entry), (event.type, entry)
                    checked += 1
    assert checked >= 8


def test_a_creating_event_shows_every_field_of_the_resource_as_new():
    world = busy_world()
    [entry, *_] = history_entries(events_of(world.log, world.fleet))
    assert entry.created and entry.type == "FleetCreated"
    fields = {c.field for c in entry.changes}
    kind = BY_AGGREGATE_TYPE["Fleet"]
    assert fields == set(kind.table.columns) - NOT_NEWS
    assert all(c.old is None for c in entry.changes)
    assert {c.field: c.new for c in entry.changes}["data_limit"] == 1000


def test_the_history_of_a_resource_is_its_events_in_version_order_with_their_metadata():
    world = busy_world()
    events = events_of(world.log, world.sim)
    entries = history_entries(events)
    assert [e.event_id for e in entries] == [e.event_id for e, _ in events]
    assert [e.aggregate_version for e in entries] == list(range(1, len(events) + 1))
    assert all(e.actor == "test" and e.command_id for e in entries)


def test_a_change_without_recorded_old_values_takes_them_from_the_state_before_it():
    world = busy_world()
    entries = history_entries(events_of(world.log, world.sim))
    [callback] = [e for e in entries if e.type == "SimCallbackChanged"]
    changed = {c.field: (c.old, c.new) for c in callback.changes}
    assert changed["callback_url"] == (None, "https://example.com/cb")
    assert changed["callback_method"] == (None, "POST")


def test_networks_added_to_and_removed_from_a_profile_show_as_its_network_list():
    world = busy_world()
    networks = sorted(world.state.networks)
    entries = history_entries(events_of(world.log, world.profile))
    added = [e for e in entries if e.type == "NetworkAddedToProfile"]
    removed = [e for e in entries if e.type == "NetworkRemovedFromProfile"]
    assert added and removed
    for entry in added:
        [change] = entry.changes
        assert change.field == "networks" and len(change.new) == len(change.old) + 1
    for entry in removed:
        [change] = entry.changes
        assert change.field == "networks" and len(change.new) == len(change.old) - 1
    assert entries[-1].changes[0].new == networks
