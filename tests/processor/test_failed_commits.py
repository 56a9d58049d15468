"""A batch whose Kafka transaction fails or is fenced leaves nothing behind: for every command
type, with the commit made to fail on the real broker, the processor's state afterwards is the
fold of the committed log, and every command is answered once, as if nothing had failed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from events.commands import (
    COMMAND_TYPES,
    ActivateSimOnDataUsage,
    AddNetworkToProfile,
    CloseAccount,
    CreateAccount,
    CreateEsimProfile,
    CreateFleet,
    CreateNetworkAccessProfile,
    NetworkIdentifier,
    ProvisionNetwork,
    ProvisionSimCard,
    RecordEsimProfileReport,
    RecordSettingsUpdateStatus,
    RegisterSim,
    RemoveNetworkFromProfile,
    ResumeSimData,
    RotateAuthToken,
    SuspendSimData,
    UpdateFleet,
    UpdateNetworkAccessProfile,
    UpdateSim,
)
from events.sids import OPERATOR_ACCOUNT_SID, derive_sid
from tests.processor.inprocess import (
    FailingCommits,
    first_difference,
    fold_of_the_log,
    own_state,
    running,
)
from tests.processor.support import assert_log_is_exactly_once, committed_log

# CPU-heavy: under `make test`'s two xdist workers, these run one after another.
pytestmark = pytest.mark.xdist_group("heavy")

A, B = derive_sid("AC", "failed-commits-a"), derive_sid("AC", "failed-commits-b")
C = derive_sid("AC", "failed-commits-c")  # A's subaccount
D = derive_sid("AC", "failed-commits-d")  # rotated, then closed
ICCID, CODE = "8944000000000000017", "CARDCODE01"
MOVED, MOVED_CODE = "8944000000000000025", "CARDCODE02"
NOVEMBER = {
    "period_start": datetime(2026, 11, 1, tzinfo=UTC),
    "period_end": datetime(2026, 12, 1, tzinfo=UTC),
}
# The steps the processor sends itself on the way, each decided in a transaction of its own.
STEPS = {
    "ReserveSimCard",
    "CompleteSimRegistration",
    "ConfirmSimCard",
    "AdoptSubaccount",
    "TransferSimCard",
    "MoveSimIn",
    "MoveSimOut",
    "AllocateIpAddress",
    "RecordSimIpAddress",
    "ScheduleSettingsUpdates",
}


def scenario(network: str) -> list[tuple[str, object]]:
    """(account, command): every command type a sender sends, each accepted."""
    op = OPERATOR_ACCOUNT_SID
    return [
        (op, ProvisionSimCard(iccid=ICCID, registration_code=CODE)),
        (op, ProvisionSimCard(iccid=MOVED, registration_code=MOVED_CODE)),
        (A, CreateAccount(friendly_name="A", auth_token_hash="a" * 64)),
        (B, CreateAccount(friendly_name="B", auth_token_hash="b" * 64)),
        (C, CreateAccount(friendly_name="C", auth_token_hash="c" * 64, parent_account_sid=A)),
        (A, CreateNetworkAccessProfile(unique_name="nap")),
        (A, UpdateNetworkAccessProfile(network_access_profile="nap", unique_name="nap-2")),
        (A, AddNetworkToProfile(network_access_profile="nap-2", network=network)),
        (A, RemoveNetworkFromProfile(network_access_profile="nap-2", network=network)),
        (A, CreateFleet(network_access_profile="nap-2", unique_name="fleet")),
        (A, UpdateFleet(fleet="fleet", data_limit=5)),
        (A, RegisterSim(iccid=MOVED, registration_code=MOVED_CODE)),
        (A, UpdateSim(sim="<sim>", account=C)),
        (A, RegisterSim(iccid=ICCID, registration_code=CODE)),
        (A, UpdateSim(sim="<sim>", fleet="fleet", status="ready")),
        # The Sim's Fleet's profile changes: a step schedules its Settings Update.
        (A, AddNetworkToProfile(network_access_profile="nap-2", network=network)),
        (A, RecordSettingsUpdateStatus(settings_update="<update>", status="successful")),
        (A, ActivateSimOnDataUsage(sim="<sim>", data_used=300_000)),
        (A, SuspendSimData(sim="<sim>", data_used=6_000_000, data_limit=5, **NOVEMBER)),
        (
            A,
            ResumeSimData(
                sim="<sim>", data_used=6_000_000, data_limit=9, reason="limit_raised", **NOVEMBER
            ),
        ),  # fmt: skip
        (A, CreateEsimProfile(eid="8" * 32)),
        (A, RecordEsimProfileReport(profile="<profile>", status="reserving")),
        (D, CreateAccount(friendly_name="D", auth_token_hash="d" * 64)),
        (D, RotateAuthToken(auth_token_hash="e" * 64)),
        (D, CloseAccount()),
    ]


@pytest.mark.parametrize("mode", ["abort", "fence"])
async def test_a_failed_commit_of_any_command_leaves_the_state_equal_to_the_fold_of_the_log(
    topics, client, mode
):
    FailingCommits.plan = {t.__name__: mode for t in COMMAND_TYPES}
    FailingCommits.failed = []
    async with running(topics, FailingCommits) as processor:
        [provisioned] = (
            await client.execute(
                ProvisionNetwork(
                    friendly_name="N",
                    iso_country="US",
                    identifiers=[NetworkIdentifier(mcc="310", mnc="410")],
                ),
                account_sid=OPERATOR_ACCOUNT_SID,
                timeout=60,
            )
        ).events
        sim = profile = update = None
        sent = []
        for account, command in scenario(provisioned.aggregate_id):
            if getattr(command, "sim", None) == "<sim>":
                command = type(command)(**{**_fields(command), "sim": sim})
            if getattr(command, "profile", None) == "<profile>":
                command = type(command)(**{**_fields(command), "profile": profile})
            if getattr(command, "settings_update", None) == "<update>":
                command = type(command)(**{**_fields(command), "settings_update": update})
            envelope = client.envelope(command, account_sid=account)
            addressed = None
            if isinstance(command, ActivateSimOnDataUsage):  # its address comes in steps
                step = f"{envelope.command_id}:ip-allocate:ip-record"
                addressed = await client.expect(account, step)
            outcome = await client.execute(envelope, timeout=60)
            if addressed is not None:
                assert (await asyncio.wait_for(addressed, 60)).status == "accepted"
            assert outcome.status == "accepted", (type(command).__name__, outcome)
            assert outcome.events, type(command).__name__
            if isinstance(command, RegisterSim):
                sim = outcome.events[0].aggregate_id
            if isinstance(command, CreateEsimProfile):
                profile = outcome.events[0].aggregate_id
            for event in outcome.events:
                if event.type == "SettingsUpdateScheduled":
                    update = event.aggregate_id  # the assignment's
            sent.append((envelope, outcome))
        # Every type had a commit fail, and was then decided once, against committed state.
        sent_types = {type(e.command).__name__ for e, _ in sent} | {"ProvisionNetwork"}
        assert set(FailingCommits.failed) >= sent_types | STEPS
        events, outcomes = await committed_log(topics)
        assert_log_is_exactly_once(events, outcomes, [e.command_id for e, _ in sent])
        provisioned_cards = [e.payload.iccid for e in events if e.type == "SimCardProvisioned"]
        assert sorted(provisioned_cards) == sorted([ICCID, MOVED])
        # Retries get the first outcomes.
        for envelope, first in sent:
            assert await client.execute(envelope, timeout=60) == first
        # The cards the failed batches touched are A's and C's: B cannot have them.
        for iccid, code in ((ICCID, CODE), (MOVED, MOVED_CODE)):
            refused = await client.execute(
                RegisterSim(iccid=iccid, registration_code=code), account_sid=B, timeout=60
            )
            assert (refused.status, refused.rejection.code) == ("rejected", 83002)

        expected = await fold_of_the_log(topics)
        for partition, worker in processor.partitions.items():
            empty = ({}, {}, {}, {})
            difference = first_difference(own_state(worker.store), expected.get(partition, empty))
            assert difference is None, difference


def _fields(command) -> dict:
    return {f: getattr(command, f) for f in command.__struct_fields__}
