"""Guarantees of decide/evolve as a whole: idempotency, purity, derived metadata, replay."""

from events.commands import CreateAccount, CreateFleet, UpdateFleet, UpdateSim
from events.envelope import Rejection, outcome_of
from events.sids import derive_sid, is_sid
from services.domain import Limits, State, decide, fold

from .support import ISSUED_AT, World, envelope


def test_a_create_decided_again_finds_its_derived_sid_taken_and_appends_nothing():
    # The processor answers a remembered command id itself; a create that reaches the decider
    # a second time all the same still creates nothing new.
    world = World()
    command = envelope(CreateFleet(network_access_profile="nap"))
    fold(decide(world.state, command), world.state)
    assert decide(world.state, command) == []


def test_a_command_for_an_account_that_was_never_created_is_rejected_with_20404():
    world = World()
    stranger = derive_sid("AC", "never-created")
    rejection = decide(world.state, envelope(CreateFleet(network_access_profile="nap"), stranger))
    assert isinstance(rejection, Rejection)
    assert (rejection.http_status, rejection.code) == (404, 20404)
    assert stranger in rejection.message
    created = decide(
        world.state, envelope(CreateAccount(friendly_name="n", auth_token_hash="h"), stranger)
    )
    assert [e.type for e in created] == ["AccountCreated"]


def test_a_command_whose_event_the_log_cannot_hold_is_rejected_with_the_sizes():
    world = World()
    url = "https://example.com/" + "a" * 1900
    command = envelope(UpdateSim(sim=world.sim, callback_url=url))
    assert decide(world.state, command, Limits(max_event_bytes=100_000)) != []
    rejection = decide(world.state, command, Limits(max_event_bytes=1_000))
    assert isinstance(rejection, Rejection) and rejection.code == 20001
    assert "SimCallbackChanged" in rejection.message and "1000" in rejection.message


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
