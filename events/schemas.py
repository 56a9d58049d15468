"""JSON Schemas for publishers written in other languages: one file per type."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from events.commands import COMMAND_TYPES, CommandEnvelope
from events.envelope import EventEnvelope, Outcome, Rejection
from events.event_types import EVENT_TYPES, SCHEMA_VERSIONS
from events.usage import DataSessionReport

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _schema(cls: type, title: str, **extra: object) -> dict:
    schema = msgspec.json.schema(cls)
    return {"$schema": SCHEMA_DIALECT, "title": title, **extra, **schema}


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
    return documents


def write_schemas(directory: str | Path) -> list[Path]:
    """Write every schema into `directory` (created if needed); returns the paths written."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, document in sorted(all_schemas().items()):
        path = target / file_name
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
