import json

from events.commands import COMMAND_TYPES
from events.event_types import EVENT_TYPES, SCHEMA_VERSIONS
from events.network import FROM_NETWORK, TO_NETWORK
from events.schemas import write_schemas


def test_one_schema_file_per_command_event_and_envelope_type(tmp_path):
    paths = write_schemas(tmp_path / "schemas")
    names = {p.name for p in paths}
    assert {f"command.{c.__name__}.json" for c in COMMAND_TYPES} <= names
    assert {f"event.{name}.json" for name in EVENT_TYPES} <= names
    for envelope in ("CommandEnvelope", "EventEnvelope", "Outcome", "Rejection"):
        assert f"envelope.{envelope}.json" in names
    assert "report.DataSessionReport.json" in names
    network = [p.name for p in paths if p.parent.name == "network"]
    assert len(network) == len(TO_NETWORK) + len(FROM_NETWORK)
    assert len(paths) == len(COMMAND_TYPES) + len(EVENT_TYPES) + 5 + len(network)


def test_every_schema_file_is_valid_json_with_a_title(tmp_path):
    for path in write_schemas(tmp_path):
        document = json.loads(path.read_text())
        if path.parent.name != "network":  # those are named by their "type" (tests/network)
            assert document["title"] == path.name.split(".")[1]
        assert "$defs" in document or "properties" in document


def test_event_schemas_carry_their_schema_version(tmp_path):
    write_schemas(tmp_path)
    document = json.loads((tmp_path / "event.FleetCreated.json").read_text())
    assert document["x-schema-version"] == SCHEMA_VERSIONS["FleetCreated"] == 2
