import json

import msgspec
import pytest

from events.codec import (
    InvalidMessage,
    decode_command,
    decode_event,
    decode_outcome,
    encode_command,
    encode_event,
    encode_outcome,
)
from events.commands import CreateFleet, UpdateSim
from events.envelope import EventEnvelope, outcome_of
from events.event_types import SCHEMA_VERSIONS
from services.domain import decide, fold

from .support import ISSUED_AT, World, envelope


def test_every_event_of_a_world_round_trips_through_the_codec():
    world = World()
    world.run(UpdateSim(sim=world.sim, fleet="fleet", status="active", unique_name="n"))
    for event in world.log:
        assert decode_event(encode_event(event)) == event


def test_an_event_on_the_wire_names_its_type_and_version_and_is_utc():
    world = World()
    [registered] = [e for e in world.log if e.type == "SimRegistered"]
    document = json.loads(encode_event(registered))
    assert document["type"] == document["payload"]["type"] == "SimRegistered"
    assert document["schema_version"] == 1
    assert document["occurred_at"] == "2026-11-25T18:00:00Z"


def test_a_command_round_trips_and_unset_fields_stay_absent():
    command = envelope(CreateFleet(network_access_profile="nap", commands_url=None))
    data = encode_command(command)
    assert b"sms_commands_url" not in data and b'"commands_url":null' in data
    assert decode_command(data) == command


def test_an_outcome_round_trips():
    world = World()
    command = envelope(UpdateSim(sim=world.sim, status="active"))
    outcome = outcome_of(command, decide(world.state, command), ISSUED_AT)
    assert decode_outcome(encode_outcome(outcome)) == outcome


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(type="NoSuchEvent"),
        lambda d: d["payload"].update(type="NoSuchEvent"),
        lambda d: d["payload"].update(iccid=5),
        lambda d: d.update(occurred_at="2026-11-25T18:00:00"),  # no timezone
        lambda d: d.update(schema_version=99),
        lambda d: d.update(type="FleetCreated"),  # envelope and payload disagree
    ],
)
def test_an_invalid_event_raises_invalid_message(mutate):
    world = World()
    [registered] = [e for e in world.log if e.type == "SimRegistered"]
    document = json.loads(encode_event(registered))
    mutate(document)
    with pytest.raises(InvalidMessage):
        decode_event(json.dumps(document).encode())


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"{}",
        b'{"command_id":"c","account_sid":"AC1","actor":"a","issued_at":"2026-11-25T18:00:00Z",'
        b'"command":{"type":"CreateFleet","network_access_profile":"n"}}',
    ],
)
def test_an_invalid_command_raises_invalid_message(data):
    with pytest.raises(InvalidMessage) as raised:
        decode_command(data)
    assert raised.value.reason


def test_a_command_with_an_unknown_field_is_invalid():
    data = encode_command(envelope(CreateFleet(network_access_profile="nap")))
    data = data.replace(b'"network_access_profile"', b'"colour":"red","network_access_profile"')
    with pytest.raises(InvalidMessage):
        decode_command(data)


def test_an_unknown_command_type_is_invalid():
    data = encode_command(envelope(CreateFleet(network_access_profile="nap")))
    with pytest.raises(InvalidMessage):
        decode_command(data.replace(b'"CreateFleet"', b'"DeleteFleet"'))


# --- upcasting -------------------------------------------------------------------------------


def fleet_created_v1(world: World) -> bytes:
    """A FleetCreated as the first release wrote it: v1, SMS Commands named commands_*."""
    current = next(e for e in world.log if e.type == "FleetCreated")
    document = json.loads(encode_event(current))
    payload = document["payload"]
    for suffix in ("enabled", "url", "method"):
        payload[f"commands_{suffix}"] = payload.pop(f"sms_commands_{suffix}")
    payload["commands_url"] = "https://old.example/sms"
    document["schema_version"] = 1
    return json.dumps(document).encode()


def test_fleet_created_is_at_schema_version_2():
    assert SCHEMA_VERSIONS["FleetCreated"] == 2


def test_a_v1_fleet_created_is_upcast_to_the_current_shape():
    world = World()
    event = decode_event(fleet_created_v1(world))
    assert event.schema_version == 2
    assert event.payload.sms_commands_url == "https://old.example/sms"
    assert event.payload.sms_commands_method == "POST"
    assert event.payload.sms_commands_enabled is True
    assert event.aggregate_id == world.fleet


def test_an_upcast_event_re_encodes_as_the_current_version():
    world = World()
    event = decode_event(fleet_created_v1(world))
    assert decode_event(encode_event(event)) == event
    assert b'"schema_version":2' in encode_event(event)


def test_a_v1_event_folds_like_a_current_one():
    world = World()
    log = [
        decode_event(fleet_created_v1(world)) if e.type == "FleetCreated" else e for e in world.log
    ]
    fleet = fold(log).accounts[world.account.sid].fleets[world.fleet]
    assert fleet.sms_commands_url == "https://old.example/sms"


def test_a_version_without_an_upcaster_is_invalid():
    world = World()
    [registered] = [e for e in world.log if e.type == "SimRegistered"]
    document = json.loads(encode_event(registered))
    document["schema_version"] = 0
    with pytest.raises(InvalidMessage):
        decode_event(json.dumps(document).encode())


def test_the_fast_path_decodes_the_current_version_without_dicts():
    # Guard for the benchmark design: the typed decoder alone reads a current event.
    world = World()
    data = encode_event(world.log[-1])
    assert msgspec.json.decode(data, type=EventEnvelope) == decode_event(data)
