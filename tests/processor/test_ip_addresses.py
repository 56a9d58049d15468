"""Never one address on two active Sims, on the real broker: two accounts on different
partitions share a pool smaller than their Sims, activate, deactivate and activate again at
once, with two processors, one of them SIGKILLed on the way in one run. The log alone is
checked (tests/chaos/checks.py, as every chaos run does)."""

from __future__ import annotations

import asyncio
import random

import msgspec
import pytest

from events.commands import (
    CreateFleet,
    CreateNetworkAccessProfile,
    NetworkIdentifier,
    ProvisionNetwork,
    RegisterSim,
    UpdateSim,
)
from events.sids import OPERATOR_ACCOUNT_SID
from tests.chaos.checks import ip_address_errors_in
from tests.processor.support import assert_log_is_exactly_once, settled_log
from tests.processor.test_card_ownership import accounts_apart, card, open_accounts, provision
from tests.services import ServiceProcess

pytestmark = pytest.mark.xdist_group("heavy")

POOL = "10.9.0.0/29"  # six addresses for ten Sims
SIMS_PER_ACCOUNT = 5
ROUNDS = 8


async def sims_in_a_fleet(client, account: str, network: str, first: int) -> list[str]:
    async def ok(command, account_sid=account):
        outcome = await client.execute(command, account_sid=account_sid, timeout=120)
        assert outcome.status == "accepted", outcome
        return outcome

    profile = await ok(CreateNetworkAccessProfile(networks=[network]))
    nap = profile.events[0].aggregate_id
    fleet = (await ok(CreateFleet(network_access_profile=nap))).events[0].aggregate_id
    cards = [card(first + n) for n in range(SIMS_PER_ACCOUNT)]
    await provision(client, cards)
    sims = []
    for iccid, code in cards:
        registered = await ok(RegisterSim(iccid=iccid, registration_code=code))
        sim = registered.events[0].aggregate_id
        await ok(UpdateSim(sim=sim, fleet=fleet))
        sims.append(sim)
    return sims


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kills", [0, 1])
async def test_two_accounts_sharing_a_tiny_pool_never_hold_one_address_twice(
    topics, client, tmp_path, kills
):
    settings = msgspec.structs.replace(topics, ip_pools=POOL)
    a, b = accounts_apart(settings.partitions)
    members = [
        ServiceProcess("processor", settings, log_path=tmp_path / f"processor-{i}.log")
        for i in range(2)
    ]
    for member in members:
        member.start()
    rng = random.Random(16 + kills)
    sent = []
    try:
        network = await client.execute(
            ProvisionNetwork(
                friendly_name="Carrier",
                iso_country="US",
                identifiers=[NetworkIdentifier(mcc="310", mnc="260")],
            ),
            account_sid=OPERATOR_ACCOUNT_SID,
            timeout=120,
        )
        hw = network.events[0].aggregate_id
        await open_accounts(client, a, b)
        sims = [(a, s) for s in await sims_in_a_fleet(client, a, hw, 16_000 + 100 * kills)]
        sims += [(b, s) for s in await sims_in_a_fleet(client, b, hw, 16_050 + 100 * kills)]
        status = dict.fromkeys(sims, "new")
        for n in range(ROUNDS):
            # The first round activates every Sim: more than the pool holds.
            changing = sims if n == 0 else rng.sample(sims, k=6)
            asks = []
            for account, sim in changing:
                to = "inactive" if status[(account, sim)] == "active" else "active"
                status[(account, sim)] = to
                envelope = client.envelope(UpdateSim(sim=sim, status=to), account_sid=account)
                sent.append(envelope.command_id)
                asks.append(client.execute(envelope, timeout=120))
            racing = asyncio.gather(*asks)
            if kills and n == ROUNDS // 2:
                await asyncio.sleep(0.05)  # somewhere along the steps
                members[0].kill()
                members[0].start()
            outcomes = await racing
            assert {o.status for o in outcomes} == {"accepted"}, outcomes
        assert sum(m.kills for m in members) == kills
        events, outcomes = await settled_log(settings)
    finally:
        for member in members:
            member.stop()
    assert ip_address_errors_in(events) == []
    assert_log_is_exactly_once(events, outcomes, sent)
    # The pool ran out (a Sim active without an address, told why) and released addresses
    # went to other Sims.
    assert any(e.type == "SimIpAddressUnavailable" for e in events)
    holders: dict[str, set[str]] = {}
    for e in events:
        if e.type == "IpAddressAllocated":
            holders.setdefault(e.aggregate_id, set()).add(e.payload.sim_sid)
    assert max(len(s) for s in holders.values()) > 1
    assert set(holders) <= {f"10.9.0.{n}" for n in range(1, 7)}
    # Every Sim's status is the last one asked, and an active one holds its address or was
    # told the pool had none.
    final = {}
    for e in events:
        if e.type == "SimStatusChanged":
            final[e.aggregate_id] = e.payload.to_status
    assert final == {sim: s for (_, sim), s in status.items()}
