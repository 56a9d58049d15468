"""The network's JSON Schemas in the repository are the ones events/network.py generates."""

import json
from pathlib import Path

from events.network import FROM_NETWORK, TO_NETWORK, EsimProfileReport, EsimReservation
from events.schemas import network_schemas, schema_text
from services.cli import build_parser

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "network"
REGENERATE = "regenerate them: fleetstate schemas --network schemas/network"


def test_the_committed_network_schemas_are_the_generated_ones():
    generated = network_schemas()
    committed = {path.name for path in COMMITTED.glob("*.json")}
    assert committed == set(generated), (
        f"schemas/network has other files than expected; {REGENERATE}"
    )
    for name, document in generated.items():
        text = (COMMITTED / name).read_text(encoding="utf-8")
        assert text == schema_text(document), f"schemas/network/{name} is stale; {REGENERATE}"


def test_one_schema_per_message_type_named_by_its_type():
    for cls in (*TO_NETWORK, *FROM_NETWORK):
        document = network_schemas()[f"{cls.__struct_config__.tag}.json"]
        assert document["title"] == cls.__name__
        definition = document["$defs"][cls.__name__]
        assert definition["properties"]["type"] == {"enum": [cls.__struct_config__.tag]}
        assert definition["additionalProperties"] is False
        # What the record is keyed by is always there: the ICCID, or an eSIM Profile's SID.
        key = "message_id" if cls in (EsimReservation, EsimProfileReport) else "iccid"
        assert key in definition["required"]


def schemas_command(*argv: str) -> int:
    # The command's function, not main(): main() would set uvloop for the whole test process.
    args = build_parser().parse_args(["schemas", *argv])
    return args.func(args)


def test_the_cli_writes_the_network_schemas_alone_or_beside_the_others(tmp_path, capsys):
    assert schemas_command("--network", str(tmp_path / "only")) == 0
    assert {p.name for p in (tmp_path / "only").iterdir()} == set(network_schemas())
    assert schemas_command(str(tmp_path / "all")) == 0
    written = {p.name for p in (tmp_path / "all" / "network").iterdir()}
    assert written == set(network_schemas())
    document = json.loads((tmp_path / "all" / "network" / "receipt.json").read_text())
    assert document["x-topic-setting"] == "network_in_topic"
    assert "wrote" in capsys.readouterr().out
