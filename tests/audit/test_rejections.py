"""Rejected outcomes joined with their commands: who tried what, and why it was refused."""

from __future__ import annotations

from datetime import timedelta

from events.commands import CommandEnvelope, CreateFleet, UpdateSim
from events.envelope import Outcome, Rejection
from services.audit.rejections import rejected_commands
from tests.domain.support import ACCOUNT_A, ACCOUNT_B, ISSUED_AT


def command(command_id, body, account=ACCOUNT_A, actor="alice"):
    return CommandEnvelope(
        command_id=command_id, account_sid=account, actor=actor, issued_at=ISSUED_AT, command=body
    )


def refused(command_id, code, seconds, account=ACCOUNT_A):
    return Outcome(
        command_id=command_id,
        account_sid=account,
        status="rejected",
        rejection=Rejection(400, code, f"refused {code}"),
        decided_at=ISSUED_AT + timedelta(seconds=seconds),
    )


def accepted(command_id, seconds):
    return Outcome(
        command_id=command_id,
        account_sid=ACCOUNT_A,
        status="accepted",
        decided_at=ISSUED_AT + timedelta(seconds=seconds),
    )


COMMANDS = {
    "dup-name": command("dup-name", CreateFleet(network_access_profile="nap", unique_name="f")),
    "no-fleet": command("no-fleet", UpdateSim(sim="sim-1", status="active"), actor="bob"),
    "fine": command("fine", CreateFleet(network_access_profile="nap")),
}


def test_each_refusal_names_the_command_its_parameters_its_sender_and_the_reason():
    outcomes = [refused("dup-name", 20409, 1), accepted("fine", 2), refused("no-fleet", 83007, 3)]
    listed = rejected_commands(outcomes, COMMANDS, ACCOUNT_A)
    assert [(r.command_id, r.code, r.actor) for r in listed] == [
        ("dup-name", 20409, "alice"),
        ("no-fleet", 83007, "bob"),
    ]
    assert listed[1].command_type == "UpdateSim"
    assert listed[1].parameters == {"sim": "sim-1", "status": "active"}


def test_a_retried_refusal_is_listed_once_with_its_attempts():
    outcomes = [refused("dup-name", 20409, 1)] * 3
    [listed] = rejected_commands(outcomes, COMMANDS, ACCOUNT_A)
    assert listed.attempts == 3


def test_a_refusal_whose_command_left_the_commands_topic_is_listed_without_it():
    [listed] = rejected_commands([refused("gone", 83010, 1)], COMMANDS, ACCOUNT_A)
    assert listed.command_type is None and listed.actor is None and listed.code == 83010


def test_since_and_the_account_bound_the_list():
    outcomes = [
        refused("dup-name", 20409, 1),
        refused("no-fleet", 83007, 10),
        refused("other", 20001, 10, account=ACCOUNT_B),
    ]
    since = ISSUED_AT + timedelta(seconds=5)
    assert [r.command_id for r in rejected_commands(outcomes, COMMANDS, ACCOUNT_A, since)] == [
        "no-fleet"
    ]


def test_a_command_of_another_account_with_the_same_id_is_not_taken_for_this_one():
    commands = {"dup-name": command("dup-name", CreateFleet(network_access_profile="x"), ACCOUNT_B)}
    [listed] = rejected_commands([refused("dup-name", 20409, 1)], commands, ACCOUNT_A)
    assert listed.command_type is None
