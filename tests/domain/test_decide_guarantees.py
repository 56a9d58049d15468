"""Guarantees of decide/evolve as a whole: idempotency, purity, derived metadata, replay."""

from events.commands import CreateFleet, UpdateFleet, UpdateSim
from events.envelope import outcome_of
from events.sids import is_sid
from services.domain import State, decide, fold

from .support import ISSUED_AT, World, envelope


def test_a_command_id_already_answered_appends_nothing():
    world = World()
    command = envelope(CreateFleet(network_access_profile="nap"))
    first = decide(world.state, command)
    for event in first:
        world.state = fold([event], world.state)
    assert decide(world.state, command) == []
    assert world.state.seen_command(command.account_sid, command.command_id)


def test_a_retry_older_than_the_dedup_window_still_creates_nothing_new():
    world = World()
    command = envelope(CreateFleet(network_access_profile="nap"))
    fold(decide(world.state, command), world.state)
    world.account.recent_commands.clear()  # as if the window had moved on
    assert decide(world.state, command) == []


def test_decide_never_mutates_the_state_and_is_deterministic():
    world = World()
    before = world.state.copy()
    command = envelope(UpdateSim(sim=world.sim, fleet="fleet", status="active"))
    assert decide(world.state, command) == decide(world.state, command)
    assert world.state == before


def test_event_metadata_is_derived_from_the_command():
    world = World()
    command = envelope(UpdateFleet(fleet="fleet", data_limit=9, unique_name="f2"))
    events = decide(world.state, command)
    assert len({e.event_id for e in events}) == len(events)
    for event in events:
        assert is_sid("EV", event.event_id)
        assert event.occurred_at == ISSUED_AT
        assert (event.command_id, event.actor) == (command.command_id, command.actor)
        assert event.account_sid == command.account_sid
        assert event.type == type(event.payload).__name__


def test_replaying_the_log_from_nothing_rebuilds_the_same_state():
    world = World()
    world.run(CreateFleet(network_access_profile="nap", unique_name="f2"))
    world.run(UpdateSim(sim=world.sim, fleet="f2", status="ready", unique_name="s"))
    world.run(UpdateFleet(fleet="f2", data_limit=3, unique_name="f3"))
    assert fold(world.log) == world.state
    assert fold(world.log) == fold(world.log, State())


def test_an_outcome_lists_the_events_or_the_rejection():
    world = World()
    command = envelope(UpdateSim(sim=world.sim, status="active"))
    result = decide(world.state, command)
    outcome = outcome_of(command, result, ISSUED_AT)
    assert outcome.status == "rejected" and outcome.rejection.code == 83007
    command = envelope(UpdateFleet(fleet="fleet", data_limit=2))
    outcome = outcome_of(command, decide(world.state, command), ISSUED_AT)
    assert outcome.status == "accepted" and outcome.events[0].type == "FleetDataLimitChanged"


def test_a_nul_character_anywhere_in_a_command_is_rejected_with_20001_and_appends_nothing():
    world = World()
    for command, where in (
        (CreateFleet(network_access_profile="nap", unique_name="bad\x00name"), "unique_name"),
        (UpdateSim(sim=world.sim, callback_url="https://example.com/\x00"), "callback_url"),
    ):
        rejection = decide(world.state, envelope(command))
        assert (rejection.http_status, rejection.code) == (400, 20001)
        assert where in rejection.message
    rejection = decide(world.state, envelope(UpdateFleet(fleet="fleet"), command_id="id\x00"))
    assert rejection.code == 20001 and "command_id" in rejection.message
