"""The data-usage commands of the usage processor, decided against the Sim's current state."""

from datetime import UTC, datetime

from events.commands import (
    ActivateSimOnDataUsage,
    ResumeSimData,
    SuspendSimData,
    UpdateFleet,
    UpdateSim,
)
from events.event_types import SimDataResumed, SimDataSuspended, SimStatusChanged
from services.domain import fold

from .support import World, accepted, rejected

PERIOD = {
    "period_start": datetime(2026, 11, 1, tzinfo=UTC),
    "period_end": datetime(2026, 12, 1, tzinfo=UTC),
}
MB = 1_000_000


def suspend(world: World, data_used: int):
    return accepted(
        world.state, SuspendSimData(sim=world.sim, data_used=data_used, data_limit=5, **PERIOD)
    )


def resume(world: World, reason: str = "limit_raised"):
    return accepted(
        world.state,
        ResumeSimData(sim=world.sim, data_used=0, data_limit=5, reason=reason, **PERIOD),
    )


def limited_world(limit_mb: int = 5) -> World:
    world = World()
    world.run(UpdateFleet(fleet="fleet", data_limit=limit_mb))
    world.run(UpdateSim(sim=world.sim, fleet="fleet", status="active"))
    return world


def test_usage_past_the_fleet_limit_suspends_data_once():
    world = limited_world(5)
    [event] = suspend(world, 5 * MB + 1)
    assert isinstance(event.payload, SimDataSuspended)
    assert (event.payload.data_used, event.payload.data_limit) == (5 * MB + 1, 5)
    assert world.account.sims[world.sim].data_suspended
    assert suspend(world, 6 * MB) == []  # already suspended: nothing more


def test_usage_exactly_at_the_limit_does_not_suspend():
    world = limited_world(5)
    assert suspend(world, 5 * MB) == []
    assert not world.account.sims[world.sim].data_suspended


def test_a_suspension_seen_against_a_limit_raised_since_is_not_appended():
    world = limited_world(5)
    world.run(UpdateFleet(fleet="fleet", data_limit=10))
    assert suspend(world, 6 * MB) == []


def test_resuming_appends_only_for_a_suspended_sim_and_carries_the_reason():
    world = limited_world(5)
    assert resume(world) == []
    suspend(world, 6 * MB)
    [event] = resume(world, "new_period")
    assert isinstance(event.payload, SimDataResumed) and event.payload.reason == "new_period"
    assert not world.account.sims[world.sim].data_suspended
    assert resume(world) == []


def test_250_kb_activate_a_ready_sim_with_reason_data_usage():
    world = World()
    world.run(UpdateSim(sim=world.sim, fleet="fleet", status="ready"))
    [event] = accepted(world.state, ActivateSimOnDataUsage(sim=world.sim, data_used=250_000))
    assert isinstance(event.payload, SimStatusChanged)
    assert (event.payload.from_status, event.payload.to_status) == ("ready", "active")
    assert event.payload.reason == "data_usage"
    assert accepted(world.state, ActivateSimOnDataUsage(sim=world.sim, data_used=300_000)) == []


def test_activation_on_usage_ignores_sims_that_are_not_ready_or_under_250_kb():
    world = World()  # status new
    assert accepted(world.state, ActivateSimOnDataUsage(sim=world.sim, data_used=10**6)) == []
    world.run(UpdateSim(sim=world.sim, fleet="fleet", status="ready"))
    assert accepted(world.state, ActivateSimOnDataUsage(sim=world.sim, data_used=249_999)) == []
    world.run(UpdateSim(sim=world.sim, status="inactive"))
    assert accepted(world.state, ActivateSimOnDataUsage(sim=world.sim, data_used=10**6)) == []


def test_usage_commands_about_an_unknown_sim_are_rejected_with_20404():
    world = World()
    unknown = "HS" + "0" * 32
    assert rejected(world.state, ActivateSimOnDataUsage(sim=unknown, data_used=1)).code == 20404
    r = rejected(world.state, SuspendSimData(sim=unknown, data_used=1, data_limit=1, **PERIOD))
    assert r.code == 20404


def test_the_data_state_replays_from_the_log():
    world = limited_world(5)
    world.log.extend(suspend(world, 6 * MB))
    assert fold(world.log).accounts[world.account.sid].sims[world.sim].data_suspended
