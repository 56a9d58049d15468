"""JSON Schemas for publishers written in other languages: one file per type."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import msgspec

from events.commands import COMMAND_TYPES, CommandEnvelope
from events.envelope import EventEnvelope, Outcome, Rejection
from events.event_types import EVENT_TYPES, SCHEMA_VERSIONS
from events.network import FROM_NETWORK, TO_NETWORK
from events.usage import DataSessionReport

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _schema(cls: type, title: str, **extra: object) -> dict:
    schema = _clean_descriptions(msgspec.json.schema(cls))
    return {"$schema": SCHEMA_DIALECT, "title": title, **extra, **schema}


def _clean_descriptions(node):
    """Docstrings dedented here, not left to msgspec (0.22 keeps their indentation, 0.23
    removes it): the committed schemas must not change with the library's version."""
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value) if key == "description" and isinstance(value, str)
            else _clean_descriptions(value)
            for key, value in node.items()
        }  # fmt: skip
    if isinstance(node, list):
        return [_clean_descriptions(value) for value in node]
    return node


def all_schemas() -> dict[str, dict]:
    """File name -> JSON Schema document."""
    documents: dict[str, dict] = {}
    for cls in COMMAND_TYPES:
        documents[f"command.{cls.__name__}.json"] = _schema(cls, cls.__name__)
    for name, cls in EVENT_TYPES.items():
        version = SCHEMA_VERSIONS[name]
        documents[f"event.{name}.json"] = _schema(cls, name, **{"x-schema-version": version})
    for cls in (CommandEnvelope, EventEnvelope, Outcome, Rejection):
        documents[f"envelope.{cls.__name__}.json"] = _schema(cls, cls.__name__)
    # What network-side services publish to the usage topic.
    documents["report.DataSessionReport.json"] = _schema(DataSessionReport, "DataSessionReport")
    for file_name, document in network_schemas().items():
        documents[f"{NETWORK_DIRECTORY}/{file_name}"] = document
    return documents


# The mobile network's interface (events/network.py), committed in the repository under
# schemas/network/ for the network's side to build against; a test keeps them generated.
NETWORK_DIRECTORY = "network"


def network_schemas() -> dict[str, dict]:
    """File name ("<type>.json", the message's "type") -> JSON Schema document."""
    documents: dict[str, dict] = {}
    for cls in (*TO_NETWORK, *FROM_NETWORK):
        tag = cls.__struct_config__.tag
        topic = "network_out_topic" if cls in TO_NETWORK else "network_in_topic"
        documents[f"{tag}.json"] = _schema(cls, cls.__name__, **{"x-topic-setting": topic})
    return documents


def schema_text(document: dict) -> str:
    """A schema file's exact text: written and compared the same way."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: str | Path, documents: dict[str, dict] | None = None) -> list[Path]:
    """Write every schema (or `documents`) into `directory`, subdirectories created as needed;
    returns the paths written."""
    target = Path(directory)
    written = []
    for file_name, document in sorted((all_schemas() if documents is None else documents).items()):
        path = target / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(schema_text(document), encoding="utf-8")
        written.append(path)
    return written
