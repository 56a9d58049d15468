"""One audited world for the audit tests that cross a boundary: real commands through a real
`fleetstate processor` into the log, projected into the public schema of a fresh database by
the live projector. Built once per module: the processor and the projector take seconds."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import msgspec
import pytest

from events.client import CommandClient
from events.codec import decode_event
from events.commands import (
    AddNetworkToProfile,
    CloseAccount,
    CreateAccount,
    CreateEsimProfile,
    CreateFleet,
    CreateNetworkAccessProfile,
    NetworkIdentifier,
    ProvisionNetwork,
    ProvisionSimCard,
    ReceiveDeviceMessage,
    RecordCommandReceipt,
    RecordEsimProfileReport,
    RecordSettingsUpdateStatus,
    RegisterSim,
    RemoveNetworkFromProfile,
    ReserveSimCard,
    ResumeSimData,
    RotateAuthToken,
    SendIpCommand,
    SendSmsCommand,
    SuspendSimData,
    UpdateFleet,
    UpdateNetworkAccessProfile,
    UpdateSim,
)
from events.envelope import EventEnvelope, Outcome
from events.sids import OPERATOR_ACCOUNT_SID, derive_sid
from services.config import Settings, with_topic_prefix
from services.domain import rules
from services.log_reader import read_all
from services.migrate import migrate
from services.postgres import drop_database
from services.projection.changes import LogPosition
from services.projection.projector import Projector
from services.topics import ensure_topics
from tests.domain.support import ACCOUNT_A, ACCOUNT_B, CODE_1, CODE_2, ICCID_1, ICCID_2
from tests.projection.support import wait_until_projected
from tests.services import ServiceProcess

ACCOUNT_CHILD = derive_sid("AC", "audited-child")
ACCOUNT_CLOSED = derive_sid("AC", "audited-closed")
ICCID_3, CODE_3 = "8901260000000000045", "KLMNO24680"
ICCID_4, CODE_4 = "8901260000000000052", "PQRST13579"
ICCID_5, CODE_5 = "8901260000000000060", "UVWXY11223"
ICCID_6, CODE_6 = "8901260000000000078", "ZABCD44556"
# Account B's Sims share one address: the second to become active finds none free.
B_POOL = "10.99.0.7/32"


@dataclass
class Audited:
    settings: Settings  # the test's topics and database
    log: list[tuple[EventEnvelope, LogPosition]] = field(default_factory=list)
    sids: dict[str, str] = field(default_factory=dict)  # role -> aggregate id
    rejected: dict[str, Outcome] = field(default_factory=dict)  # role -> outcome

    def events_of(self, aggregate_id: str) -> list[tuple[EventEnvelope, LogPosition]]:
        return [(e, p) for e, p in self.log if e.aggregate_id == aggregate_id]


def _settings(base: Settings, unique: str, database_url: str) -> Settings:
    return msgspec.structs.replace(
        with_topic_prefix(base, f"test-{unique}"),
        partitions=2,
        database_url=database_url,
        ip_pools=f"10.64.0.0/10,{ACCOUNT_B}={B_POOL}",
    )


async def _scenario(client: CommandClient, world: Audited) -> None:
    """Every event type the processor can produce, some twice, and two refusals."""

    async def do(command, account=ACCOUNT_A, actor="test", role=None) -> Outcome:
        outcome = await client.execute(command, account_sid=account, actor=actor, timeout=60)
        if outcome.status == "accepted" and role is not None:
            world.sids[role] = outcome.events[0].aggregate_id
        if outcome.status == "rejected" and role is not None:
            world.rejected[role] = outcome
        return outcome

    operator = OPERATOR_ACCOUNT_SID
    for role, mnc in (("network_1", "410"), ("network_2", "260")):
        identifiers = [NetworkIdentifier(mcc="310", mnc=mnc)]
        network = ProvisionNetwork(friendly_name=mnc, iso_country="US", identifiers=identifiers)
        await do(network, operator, "operator", role)
    for iccid, code in ((ICCID_1, CODE_1), (ICCID_2, CODE_2)):
        await do(ProvisionSimCard(iccid=iccid, registration_code=code), operator, "operator")
    await do(CreateAccount(friendly_name="A", auth_token_hash="h" * 64), role="account")
    n1, n2 = world.sids["network_1"], world.sids["network_2"]
    await do(CreateNetworkAccessProfile(unique_name="nap", networks=[n1]), role="profile")
    await do(UpdateNetworkAccessProfile(network_access_profile="nap", unique_name="nap-2"))
    await do(AddNetworkToProfile(network_access_profile="nap-2", network=n2))
    await do(RemoveNetworkFromProfile(network_access_profile="nap-2", network=n1))
    await do(CreateNetworkAccessProfile(unique_name="other-nap"), role="other_profile")
    await do(CreateFleet(network_access_profile="nap-2", unique_name="fleet", data_limit=100),
             role="fleet")  # fmt: skip
    await do(UpdateFleet(fleet="fleet", data_limit=250), actor="alice")
    await do(UpdateFleet(fleet="fleet", unique_name="fleet-old"), actor="bob")
    await do(UpdateFleet(fleet="fleet-old", network_access_profile="other-nap"))
    await do(UpdateFleet(fleet="fleet-old", sms_commands_url="https://example.com/sms",
                         sms_commands_method="GET"))  # fmt: skip
    await do(UpdateFleet(fleet="fleet-old", ip_commands_url="https://example.com/ip",
                         ip_commands_method="GET"))  # fmt: skip
    await do(CreateFleet(network_access_profile="nap-2", unique_name="fleet"), role="new_fleet")
    await do(RegisterSim(iccid=ICCID_1, registration_code=CODE_1), role="sim")
    await do(UpdateSim(sim=world.sids["sim"], unique_name="sim-1"))
    assigned = await do(UpdateSim(sim="sim-1", fleet="fleet-old", status="ready"), actor="carol")
    # The Settings Update the assignment scheduled, moved on as the network reports it.
    [update] = [e.aggregate_id for e in assigned.events if e.type == "SettingsUpdateScheduled"]
    world.sids["settings_update"] = update
    for status in ("in-progress", "successful"):
        report = RecordSettingsUpdateStatus(settings_update=update, status=status)
        await do(report, actor="network")
    await do(UpdateSim(sim="sim-1", callback_url="https://example.com/cb"))
    activate = client.envelope(UpdateSim(sim="sim-1", status="active"), account_sid=ACCOUNT_A)
    addressed = await client.expect(ACCOUNT_A, f"{activate.command_id}:ip-allocate:ip-record")
    await client.execute(activate, timeout=60)
    await asyncio.wait_for(addressed, 60)  # its address, in the log before what follows
    await do(UpdateFleet(fleet="fleet-old", data_limit=500), actor="alice")
    # Device commands to sim-1, the network's receipts for them, and messages it sent.
    sms = await do(SendSmsCommand(sim="sim-1", payload="ping", callback_url="https://e.com/c"))
    for status in ("sent", "delivered"):
        receipt = RecordCommandReceipt(command=sms.events[0].aggregate_id, status=status)
        await do(receipt, actor="network")
    ip = await do(SendIpCommand(sim="sim-1", payload="ping", device_port=6000))
    receipt = RecordCommandReceipt(command=ip.events[0].aggregate_id, status="sent",
                                   device_ip="10.64.0.1")  # fmt: skip
    await do(receipt, actor="network")
    for kind, payload in (("sms", "pong"), ("ip", "cG9uZw==")):
        message = client.envelope(
            ReceiveDeviceMessage(iccid=ICCID_1, kind=kind, network_message_id=f"n-{kind}",
                                 payload=payload, device_ip="10.64.0.1", device_port=6000),
            account_sid=operator,
        )  # fmt: skip
        recorded = await client.expect(ACCOUNT_A, f"{message.command_id}:from-sim")
        await client.execute(message, timeout=60)
        await asyncio.wait_for(recorded, 60)
    # What the usage processor asks when sim-1 passes its Fleet's limit, and after a raise.
    november = {"period_start": NOVEMBER, "period_end": DECEMBER, "data_used": 600_000_000}
    await do(SuspendSimData(sim="sim-1", data_limit=500, **november), actor="usage-processor")
    await do(UpdateFleet(fleet="fleet-old", data_limit=1000), actor="alice")
    await do(
        ResumeSimData(sim="sim-1", data_limit=1000, reason="limit_raised", **november),
        actor="usage-processor",
    )
    # Refusals: a taken name, and activation without a Fleet.
    await do(CreateFleet(network_access_profile="nap-2", unique_name="fleet"), role="taken_name")
    await do(RegisterSim(iccid=ICCID_2, registration_code=CODE_2), role="sim_2")
    await do(UpdateSim(sim=world.sids["sim_2"], status="active"), actor="dave", role="no_fleet")
    # A subaccount, and a new Sim moved to it.
    child = client.envelope(
        CreateAccount(friendly_name="A's", auth_token_hash="h" * 64, parent_account_sid=ACCOUNT_A),
        account_sid=ACCOUNT_CHILD,
    )
    adopted = await client.expect(ACCOUNT_A, f"{child.command_id}:adopt")
    await client.execute(child, timeout=60)
    await asyncio.wait_for(adopted, 60)
    await do(ProvisionSimCard(iccid=ICCID_3, registration_code=CODE_3), operator, "operator")
    await do(RegisterSim(iccid=ICCID_3, registration_code=CODE_3), role="moved_sim")
    await do(UpdateSim(sim=world.sids["moved_sim"], account=ACCOUNT_CHILD))
    # A registration refused by the card registry (a wrong code), and a card held for a Sim
    # its account is not registering: released again, with the reason.
    await do(RegisterSim(iccid=ICCID_3, registration_code="WRONGCODE1"), role="wrong_code")
    await do(ProvisionSimCard(iccid=ICCID_4, registration_code=CODE_4), operator, "operator")
    stray = client.envelope(
        ReserveSimCard(iccid=ICCID_4, registration_code_hash=rules.registration_code_hash(
            ICCID_4, CODE_4), sim="HS" + "5" * 32, request_id="stray"),
        account_sid=ACCOUNT_A,
    )  # fmt: skip
    released = await client.expect(ACCOUNT_A, f"{stray.command_id}:complete:release")
    await client.execute(stray, timeout=60)
    await asyncio.wait_for(released, 60)
    # An eSIM Profile: reserved, made available (its ICCID claimed through the card's
    # partition: the account gets its Sim, the card its owner), downloaded, then one failed.
    esim = await do(CreateEsimProfile(eid=EID, callback_url="https://e.com/esim"), role="esim")
    hp = esim.events[0].aggregate_id
    await do(RecordEsimProfileReport(profile=hp, status="reserving"), actor="network")
    available = client.envelope(
        RecordEsimProfileReport(profile=hp, status="available", iccid=ICCID_ESIM,
                                smdp_plus_address="smdp.example.com"),
        account_sid=ACCOUNT_A,
    )  # fmt: skip
    last_step = f"{available.command_id}:esim-claim:esim-complete:confirm"
    confirmed = await client.expect(ACCOUNT_A, last_step)
    await client.execute(available, timeout=60)
    await asyncio.wait_for(confirmed, 60)
    await do(RecordEsimProfileReport(profile=hp, status="downloaded"), actor="network")
    failing = await do(CreateEsimProfile(generate_matching_id=True), role="failed_esim")
    await do(RecordEsimProfileReport(profile=failing.events[0].aggregate_id, status="failed",
                                     error_code="8.1", error_message="no such EID"),
             actor="network")  # fmt: skip
    # Another tenant, with a Fleet of the same name.
    await do(CreateAccount(friendly_name="B", auth_token_hash="h" * 64), ACCOUNT_B)
    await do(CreateNetworkAccessProfile(unique_name="nap"), ACCOUNT_B)
    await do(
        CreateFleet(network_access_profile="nap", unique_name="fleet"), ACCOUNT_B, role="b_fleet"
    )
    # B's Sims and its one address: allocated, none free for the second, given back.
    for iccid, code, role in ((ICCID_5, CODE_5, "b_sim"), (ICCID_6, CODE_6, "b_sim_2")):
        await do(ProvisionSimCard(iccid=iccid, registration_code=code), operator, "operator")
        await do(RegisterSim(iccid=iccid, registration_code=code), ACCOUNT_B, role=role)
        activate = client.envelope(
            UpdateSim(sim=world.sids[role], fleet="fleet", status="active"), account_sid=ACCOUNT_B
        )
        answer = "ip-record" if role == "b_sim" else "ip-unavailable"
        answered = await client.expect(ACCOUNT_B, f"{activate.command_id}:ip-allocate:{answer}")
        await client.execute(activate, timeout=60)
        await asyncio.wait_for(answered, 60)
    deactivate = client.envelope(
        UpdateSim(sim=world.sids["b_sim"], status="inactive"), account_sid=ACCOUNT_B
    )
    released = await client.expect(ACCOUNT_B, f"{deactivate.command_id}:ip-release")
    await client.execute(deactivate, timeout=60)
    await asyncio.wait_for(released, 60)
    # An account whose token is rotated, and which is then closed.
    closing = ACCOUNT_CLOSED
    await do(CreateAccount(friendly_name="C", auth_token_hash="h" * 64), closing, role="closing")
    await do(RotateAuthToken(auth_token_hash="c" * 64), closing, actor="operator")
    await do(CloseAccount(), closing, actor="operator")


EID, ICCID_ESIM = "89049032005008882600033489000001", "8988307000000000017"
NOVEMBER, DECEMBER = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


async def _read_log(settings: Settings) -> list[tuple[EventEnvelope, LogPosition]]:
    records = await read_all(settings.kafka_bootstrap, settings.events_topic)
    return [
        (decode_event(r.value), LogPosition(p, r.offset))
        for p, rs in sorted(records.items())
        for r in rs
    ]


@pytest.fixture(scope="module")
async def audited(base_settings, tmp_path_factory):
    unique = uuid.uuid4().hex[:10]
    name = f"test_{unique}"
    admin = await asyncpg.connect(base_settings.database_url)
    await admin.execute(f'create database "{name}"')
    await admin.close()
    settings = _settings(
        base_settings, unique, base_settings.database_url.rsplit("/", 1)[0] + "/" + name
    )
    await migrate(settings.database_url)
    await ensure_topics(settings)
    logs = tmp_path_factory.mktemp("audited")
    processor = ServiceProcess("processor", settings, log_path=logs / "processor.log")
    processor.start()
    stop = asyncio.Event()
    projector = asyncio.create_task(Projector(settings).run(stop))
    world = Audited(settings)
    try:
        async with CommandClient(
            settings.kafka_bootstrap,
            commands_topic=settings.commands_topic,
            operator_topic=settings.operator_topic,
            internal_topic=settings.internal_topic,
            outcomes_topic=settings.outcomes_topic,
        ) as client:
            await _scenario(client, world)
        await wait_until_projected(settings, settings.database_url)
        world.log = await _read_log(settings)
        yield world
    finally:
        stop.set()
        await projector
        processor.stop()
        admin = await asyncpg.connect(base_settings.database_url)
        await drop_database(admin, name)
        await admin.close()
