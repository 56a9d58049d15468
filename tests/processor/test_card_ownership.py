"""One owner per SIM card across every account, on the real broker: the same card registered
from two accounts of different partitions at once, with two processors, with one of them
SIGKILLed on the way, after restarts under other hash seeds, and while the Sim moves."""

from __future__ import annotations

import asyncio
from collections import Counter

import msgspec
import pytest

from bench.event_log import partition_of
from events.commands import (
    CommandEnvelope,
    CompleteSimRegistration,
    CreateAccount,
    ProvisionSimCard,
    RefuseSimRegistration,
    RegisterSim,
    UpdateSim,
)
from events.sids import OPERATOR_ACCOUNT_SID, SIM, derive_sid
from services.processor.partition import CommandPartition
from tests.processor.inprocess import running
from tests.processor.support import assigned_log, committed_log, send_raw
from tests.services import ServiceProcess

# CPU-heavy: under `make test`'s two xdist workers, these run one after another.
pytestmark = pytest.mark.xdist_group("heavy")

ROUNDS = 100


def accounts_apart(partitions: int) -> tuple[str, str]:
    """Two accounts whose commands land on different partitions."""
    a = derive_sid("AC", "owner-a")
    for n in range(100):
        b = derive_sid("AC", f"owner-b-{n}")
        if partition_of(b, partitions) != partition_of(a, partitions):
            return a, b
    raise AssertionError("no two accounts apart")


def card(n: int) -> tuple[str, str]:
    return f"8944{n:015d}", f"OWNER{n:05d}"


async def open_accounts(client, *accounts: str, parent: str | None = None) -> None:
    """The accounts created (as subaccounts of `parent`, once the parent knows them)."""
    for account in accounts:
        created = CreateAccount(
            friendly_name="owner", auth_token_hash="0" * 64, parent_account_sid=parent
        )
        envelope = client.envelope(created, account_sid=account)
        adopted = await client.expect(parent, f"{envelope.command_id}:adopt") if parent else None
        outcome = await client.execute(envelope, timeout=60)
        assert outcome.status == "accepted", outcome
        if adopted is not None:
            assert (await asyncio.wait_for(adopted, 60)).status == "accepted"


async def provision(client, cards: list[tuple[str, str]]) -> None:
    envelopes = [
        client.envelope(
            ProvisionSimCard(iccid=i, registration_code=c), account_sid=OPERATOR_ACCOUNT_SID
        )
        for i, c in cards
    ]
    outcomes = await client.execute_many(envelopes, timeout=120)
    assert {o.status for o in outcomes} == {"accepted"}


async def race(client, a: str, b: str, iccid: str, code: str):
    """Both accounts register the card at once; returns their outcomes."""
    command = RegisterSim(iccid=iccid, registration_code=code)
    return await asyncio.gather(
        client.execute(command, account_sid=a, timeout=120),
        client.execute(command, account_sid=b, timeout=120),
    )


def assert_one_owner_each(events, iccids: list[str]) -> None:
    registered = Counter(e.payload.iccid for e in events if e.type == "SimRegistered")
    assigned = Counter(e.aggregate_id for e in events if e.type == "SimCardAssigned")
    for iccid in iccids:
        assert registered[iccid] == 1, f"{iccid} registered {registered[iccid]} times"
        assert assigned[iccid] == 1, f"{iccid} assigned {assigned[iccid]} times"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kills", [0, 3])
async def test_the_same_card_registered_from_two_accounts_at_once_has_one_owner_every_round(
    topics, client, tmp_path, kills
):
    a, b = accounts_apart(topics.partitions)
    members = [
        ServiceProcess("processor", topics, log_path=tmp_path / f"processor-{i}.log")
        for i in range(2)
    ]
    for member in members:
        member.start()
    try:
        await open_accounts(client, a, b)
        cards = [card(n + 1000 * kills) for n in range(ROUNDS)]
        await provision(client, cards)
        winners = Counter()
        for n, (iccid, code) in enumerate(cards):
            if kills and n % (ROUNDS // kills) == ROUNDS // kills // 2:
                racing = asyncio.create_task(race(client, a, b, iccid, code))
                await asyncio.sleep(0.02 * (n % 5))  # somewhere along the steps
                members[n % 2].kill()
                members[n % 2].start()
                outcomes = await racing
            else:
                outcomes = await race(client, a, b, iccid, code)
            statuses = sorted(o.status for o in outcomes)
            assert statuses == ["accepted", "rejected"], (n, outcomes)
            [lost] = [o for o in outcomes if o.status == "rejected"]
            assert lost.rejection.code == 83002
            winners[next(o.account_sid for o in outcomes if o.status == "accepted")] += 1
        assert sum(members[i].kills for i in range(2)) == kills
        events, _ = await assigned_log(topics, [iccid for iccid, _ in cards])
    finally:
        for member in members:
            member.stop()
    assert_one_owner_each(events, [iccid for iccid, _ in cards])
    assert winners[a] + winners[b] == ROUNDS


@pytest.mark.timeout(600)
async def test_an_owned_card_stays_owned_across_restarts_under_other_hash_seeds(
    topics, client, tmp_path
):
    a, b = accounts_apart(topics.partitions)
    processor = ServiceProcess("processor", topics, log_path=tmp_path / "processor.log")
    processor.start()
    try:
        await open_accounts(client, a, b)
        cards = [card(5000 + n) for n in range(5)]
        await provision(client, cards)
        firsts = []
        for iccid, code in cards:
            envelope = client.envelope(
                RegisterSim(iccid=iccid, registration_code=code), account_sid=a
            )
            firsts.append((envelope, await client.execute(envelope, timeout=60)))
        assert {o.status for _, o in firsts} == {"accepted"}
        for seed in ("0", "1", "42", "31337"):
            processor.stop()
            processor.env["PYTHONHASHSEED"] = seed
            processor.start()
            for iccid, code in cards:
                refused = await client.execute(
                    RegisterSim(iccid=iccid, registration_code=code), account_sid=b, timeout=60
                )
                assert (refused.status, refused.rejection.code) == ("rejected", 83002), seed
                again = await client.execute(
                    RegisterSim(iccid=iccid, registration_code=code), account_sid=a, timeout=60
                )
                assert again.rejection.code == 83003  # a's already, under its Sim
            for envelope, first in firsts:
                assert await client.execute(envelope, timeout=60) == first
        events, _ = await assigned_log(topics, [iccid for iccid, _ in cards])
    finally:
        processor.stop()
    assert_one_owner_each(events, [iccid for iccid, _ in cards])


@pytest.mark.timeout(600)
async def test_moves_racing_registrations_and_status_changes_keep_one_owner(
    topics, client, processor
):
    a, b = accounts_apart(topics.partitions)
    sub = derive_sid("AC", "owner-sub")
    await open_accounts(client, a, b)
    await open_accounts(client, sub, parent=a)
    cards = [card(7000 + n) for n in range(20)]
    await provision(client, cards)
    moved = set()
    for iccid, code in cards:
        registered = await client.execute(
            RegisterSim(iccid=iccid, registration_code=code), account_sid=a, timeout=60
        )
        sim = registered.events[0].aggregate_id
        move, steal, change = await asyncio.gather(
            client.execute(UpdateSim(sim=sim, account=sub), account_sid=a, timeout=60),
            client.execute(
                RegisterSim(iccid=iccid, registration_code=code), account_sid=b, timeout=60
            ),  # fmt: skip
            client.execute(UpdateSim(sim=sim, status="inactive"), account_sid=a, timeout=60),
        )
        assert steal.status == "rejected" and steal.rejection.code == 83002
        # The status change came first (and the Sim, no longer new, did not move) or the move
        # did (and the change was refused: 409 while moving, 404 once gone): never both.
        assert sorted([move.status, change.status]) == ["accepted", "rejected"], (move, change)
        if move.status == "accepted":
            moved.add(iccid)
            assert change.rejection.http_status in (404, 409), change
        else:
            assert "new" in move.rejection.message, move
    events, _ = await assigned_log(topics, [iccid for iccid, _ in cards])
    owners = {}
    for event in events:
        if event.type == "SimCardAssigned":
            owners[event.aggregate_id] = event.account_sid
        elif event.type == "SimCardTransferred":
            assert owners[event.aggregate_id] == event.payload.from_account_sid
            owners[event.aggregate_id] = event.payload.to_account_sid
    for iccid, _ in cards:
        assert owners[iccid] == (sub if iccid in moved else a)
    assert_one_owner_each(events, [iccid for iccid, _ in cards])


@pytest.mark.timeout(300)
async def test_a_retry_in_the_batch_that_refuses_its_registration_gets_the_refusal(topics, client):
    """Found by the chaos run: the registration's refusal and a retry of it in one batch; the
    retry was decided again, and its SimRegistrationRequested appended a second time."""
    account = derive_sid("AC", "retry-in-batch")
    async with running(topics):
        await open_accounts(client, account)
    iccid, code = card(9000)  # never provisioned: the registry refuses it
    register = client.envelope(
        RegisterSim(iccid=iccid, registration_code=code), account_sid=account
    )
    refusal = RefuseSimRegistration(
        sim=derive_sid(SIM, register.command_id, account),
        iccid=iccid,
        request_id=register.command_id,
        http_status=400,
        code=83002,
        message="The Iccid and RegistrationCode do not match a registrable SIM",
    )
    refuse = CommandEnvelope(
        command_id=f"{register.command_id}:reserve:refused",  # the registry's own step id
        account_sid=account,
        actor="card-registry",
        issued_at=register.issued_at,
        correlation_id=register.command_id,
        command=refusal,
    )
    answered = await client.expect(account, register.command_id, "tenant")
    reserved = await client.expect(account, f"{register.command_id}:reserve")
    # Waiting in the log before the processor starts, the three are read in one batch.
    await send_raw(topics, [register, refuse, register])
    async with running(topics):
        outcome = await asyncio.wait_for(answered, 60)
        await asyncio.wait_for(reserved, 60)  # the registry's refusal, sent on, is answered
    assert (outcome.status, outcome.rejection.code) == ("rejected", 83002)
    events, outcomes = await committed_log(topics)
    duplicates = [e for e, n in Counter(e.event_id for e in events).items() if n > 1]
    assert not duplicates, "a retry appended its request's events again"
    assert [o for o in outcomes if o.command_id == register.command_id] == [outcome, outcome]
    reserves = [o for o in outcomes if o.command_id == f"{register.command_id}:reserve"]
    assert len(reserves) == 1, "the retry asked the registry again"


class LosesOneStep(CommandPartition):
    """Never sends the first CompleteSimRegistration: a step lost, as a topic's retention or
    an operator's mistake could lose it, which leaves the card reserved."""

    lost: list[str] = []

    async def _send(self, txn, envelope: CommandEnvelope, trace=None) -> None:
        if isinstance(envelope.command, CompleteSimRegistration) and not self.lost:
            self.lost.append(envelope.command_id)
            return
        await super()._send(txn, envelope, trace)


@pytest.mark.timeout(300)
async def test_a_reservation_that_cannot_complete_is_released_with_its_reason(topics, client):
    settings = msgspec.structs.replace(topics, card_reservation_seconds=2.0)
    a, b = accounts_apart(settings.partitions)
    iccid, code = card(9200)
    async with running(settings, worker=LosesOneStep):
        await open_accounts(client, a, b)
        await provision(client, [(iccid, code)])
        register = RegisterSim(iccid=iccid, registration_code=code)
        refused = await client.execute(register, account_sid=a, timeout=120)
        assert LosesOneStep.lost, "the step was not lost: the test tests nothing"
        # The registry asked a's partition about the stale reservation; a refused its waiting
        # registration and the card was released: b may have it now.
        assert (refused.status, refused.rejection.code) == ("rejected", 20503), refused
        taken = await client.execute(register, account_sid=b, timeout=60)
        assert taken.status == "accepted", taken
        events, _ = await assigned_log(settings, [iccid])
    [released] = [e for e in events if e.type == "SimCardReservationReleased"]
    assert released.aggregate_id == iccid and "did not answer in time" in released.payload.reason
    assert_one_owner_each(events, [iccid])
    [owner] = [e for e in events if e.type == "SimCardAssigned"]
    assert owner.account_sid == b
