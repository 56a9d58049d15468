"""One statement of each event's effect (services/domain/effects.py), two models derived from it:
the decider's records and the read-model rows agree field by field, and no effect names a field
that neither model keeps (a misspelt field would otherwise be dropped by both, silently)."""

from __future__ import annotations

from types import SimpleNamespace

from services.domain import effects
from services.domain.state import (
    Account,
    DeviceCommand,
    EsimProfile,
    Fleet,
    Profile,
    SettingsUpdate,
    Sim,
)
from services.projection.changes import TABLE_OF
from tests.projection.test_changes import busy_world, moved_world, project

RECORD_OF = {
    "Account": Account,
    "NetworkAccessProfile": Profile,
    "Fleet": Fleet,
    "Sim": Sim,
    "SmsCommand": DeviceCommand,
    "IpCommand": DeviceCommand,
    "EsimProfile": EsimProfile,
    "SettingsUpdate": SettingsUpdate,
}
COLUMN_OF = {"registered_at": "date_created"}  # the one field named otherwise in its row


def _aggregate(event_type: type) -> str:
    kinds = (
        "NetworkAccessProfile",
        "Fleet",
        "SmsCommand",
        "IpCommand",
        "EsimProfile",
        "SettingsUpdate",
        "Sim",
    )
    for kind in kinds:
        if event_type.__name__.startswith(kind):
            return kind
    return "Account"


def _fields_named(effect, event_type: type) -> set[str]:
    """A payload whose every field holds its own name: what an effect reads, not its value."""
    payload = event_type(**{name: name for name in event_type.__struct_fields__})
    fake = SimpleNamespace(payload=payload, occurred_at="t", command_id="c")
    return set(effect(fake))


def test_every_field_an_event_sets_is_kept_by_the_decider_or_the_read_model():
    for effects_of in (effects.CREATES, effects.SETS):
        for event_type, effect in effects_of.items():
            kind = _aggregate(event_type)
            kept = set(RECORD_OF[kind].__struct_fields__) | set(TABLE_OF[kind].columns)
            for name in _fields_named(effect, event_type):
                assert name in kept or COLUMN_OF.get(name) in kept, (event_type, name)


def _agree(record, row) -> None:
    shared = set(record.__struct_fields__) & set(row) - {"network_sids"}
    assert shared, record
    for name in shared:
        assert getattr(record, name) == row[name], (record.sid, name)
    if getattr(record, "registered_at", None) is not None:
        assert record.registered_at == row["date_created"]


def test_the_decider_and_the_read_model_agree_on_every_record_of_a_busy_log():
    for world in (busy_world(), moved_world()):
        tables = project(world.log)
        for account in world.state.accounts.values():
            for records, table in (
                (account.profiles, "network_access_profiles"),
                (account.fleets, "fleets"),
                (account.sims, "sims"),
            ):
                for sid, record in records.items():
                    row = tables[table][(sid,)]
                    assert row["account_sid"] == account.sid
                    _agree(record, row)
            if account.version:
                row = tables["accounts"][(account.sid,)]
                assert (row["friendly_name"], row["parent_account_sid"]) == (
                    account.friendly_name,
                    account.parent_account_sid,
                )
