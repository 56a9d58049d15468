"""The pure projection: every event type writes rows, from the event alone; coalescing a batch
never changes what the batch does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from events.commands import (
    AddNetworkToProfile,
    CreateFleet,
    RemoveNetworkFromProfile,
    UpdateFleet,
    UpdateNetworkAccessProfile,
    UpdateSim,
)
from events.event_types import EVENT_TYPES
from services.projection.changes import PROJECTIONS, apply_in_memory, changes, coalesce
from tests.domain.support import World


def test_every_event_type_has_a_projection():
    assert set(PROJECTIONS) == set(EVENT_TYPES.values())


def busy_world() -> World:
    world = World()
    world.run(UpdateNetworkAccessProfile(network_access_profile="nap", unique_name="nap2"))
    networks = list(world.state.networks)
    world.run(AddNetworkToProfile(network_access_profile="nap2", network=networks[1]))
    world.run(RemoveNetworkFromProfile(network_access_profile="nap2", network=networks[0]))
    world.run(CreateFleet(network_access_profile="nap2", unique_name="f2", data_limit=5))
    world.run(UpdateFleet(fleet="f2", data_limit=7, sms_commands_url="https://example.com/c"))
    world.run(UpdateSim(sim=world.sim, fleet="f2", status="ready", unique_name="s1"))
    world.run(UpdateSim(sim=world.sim, status="active", callback_url="https://example.com/cb"))
    world.run(UpdateSim(sim=world.sim, fleet="fleet", unique_name="s2"))
    world.run(AddNetworkToProfile(network_access_profile="nap2", network=networks[0]))
    return world


def project(events, batch_sizes=None):
    """Rows after applying `events` in batches, each batch coalesced, as the projector does."""
    tables: dict = {}
    sizes = iter(batch_sizes or [len(events)])
    start = 0
    while start < len(events):
        size = max(1, next(sizes, len(events)))
        batch = [c for e in events[start : start + size] for c in changes(e)]
        for change in coalesce(batch):
            apply_in_memory(tables, change)
        start += size
    return tables


def test_rows_carry_the_times_and_versions_of_their_events():
    world = busy_world()
    tables = project(world.log)
    sim = tables["sims"][(world.sim,)]
    sim_events = [e for e in world.log if e.aggregate_id == world.sim]
    assert sim["version"] == sim_events[-1].aggregate_version == len(sim_events)
    assert sim["date_created"] == sim_events[0].occurred_at
    assert (sim["status"], sim["unique_name"]) == ("active", "s2")
    assert sim["callback_url"] == "https://example.com/cb"
    profile_networks = tables["network_access_profile_networks"]
    assert {k[1] for k in profile_networks if k[0] == world.profile} == set(world.state.networks)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=40))
def test_coalescing_any_batching_of_the_log_gives_the_rows_of_applying_it_event_by_event(sizes):
    events = busy_world().log
    one_by_one = project(events, [1] * len(events))
    assert project(events, sizes) == one_by_one
    assert project(events) == one_by_one
