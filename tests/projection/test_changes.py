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


# --- a Sim that moved has events in two partitions, projected in no particular order --------


def moved_world():
    """A Sim registered, changed and moved to a subaccount, then changed there."""
    from events.commands import CreateAccount
    from events.sids import derive_sid
    from tests.domain.support import ACCOUNT_A

    sub = derive_sid("AC", "projection-sub")
    world = World()
    world.run(CreateAccount(friendly_name="s", auth_token_hash="h", parent_account_sid=ACCOUNT_A),
              sub)  # fmt: skip
    world.run(UpdateSim(sim=world.sim, unique_name="before"))
    world.run(UpdateSim(sim=world.sim, account=sub))
    world.run(UpdateSim(sim=world.sim, unique_name="after"), sub)
    return world


def _partition(event) -> str:
    # Where the event is logged: a card's events with the card, the others with their account.
    return event.aggregate_id if event.aggregate_type == "SimCard" else event.account_sid


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_projecting_partitions_in_any_order_and_batches_ends_as_a_replay_does(data):
    log = moved_world().log
    queues: dict[str, list] = {}
    for event in log:
        queues.setdefault(_partition(event), []).append(event)
    # Replay: each partition folded apart, the rows put together.
    replayed: dict = {}
    for events in queues.values():
        for event in events:
            for change in changes(event):
                apply_in_memory(replayed, change)
    # Live: partitions interleaved in any order (each in its own), in batches of any size,
    # each batch coalesced per partition and written with the writer's rules (deletes first).
    order = []
    pending = {k: list(v) for k, v in queues.items()}
    while any(pending.values()):
        key = data.draw(st.sampled_from(sorted(k for k, v in pending.items() if v)))
        order.append(pending[key].pop(0))
    live: dict = {}
    start = 0
    while start < len(order):
        size = data.draw(st.integers(1, 8))
        by_partition: dict[str, list] = {}
        for event in order[start : start + size]:
            by_partition.setdefault(_partition(event), []).extend(changes(event))
        for batch in by_partition.values():
            for change in sorted(coalesce(batch), key=lambda c: c.kind != "delete"):
                apply_in_memory(live, change)
        start += size
    assert live == replayed
    [sim] = live["sims"].values()
    assert sim["unique_name"] == "after"
