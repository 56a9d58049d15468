"""A Settings Update rollout through the real processor and broker: the change is answered with
its own one event, and the steps it sends itself on the internal topic reach every Sim of the
profile's Fleets, one chunk per decision, each Sim once."""

from __future__ import annotations

import asyncio
import time

from events.commands import (
    AddNetworkToProfile,
    CreateAccount,
    CreateFleet,
    CreateNetworkAccessProfile,
    NetworkIdentifier,
    ProvisionNetwork,
    ProvisionSimCard,
    RegisterSim,
    UpdateSim,
)
from events.sids import OPERATOR_ACCOUNT_SID, derive_sid
from services.domain import decide_settings
from tests.processor.inprocess import running
from tests.processor.support import committed_log

ACCOUNT = derive_sid("AC", "settings-rollout")
CODE = "ABCDE12345"


async def test_a_new_network_reaches_every_sim_in_chunks_one_decision_each(
    topics, client, monkeypatch
):
    monkeypatch.setattr(decide_settings, "CHUNK_SIZE", 2)  # the in-process processor's

    async def ok(command, account=ACCOUNT):
        outcome = await client.execute(command, account_sid=account, timeout=60)
        assert outcome.status == "accepted", outcome
        return outcome

    async with running(topics):
        networks = []
        for mnc in ("410", "260"):
            identifiers = [NetworkIdentifier(mcc="310", mnc=mnc)]
            provisioned = await ok(
                ProvisionNetwork(friendly_name=mnc, iso_country="US", identifiers=identifiers),
                OPERATOR_ACCOUNT_SID,
            )
            networks.append(provisioned.events[0].aggregate_id)
        await ok(CreateAccount(friendly_name="rollout", auth_token_hash="0" * 64))
        await ok(CreateNetworkAccessProfile(unique_name="nap", networks=networks[:1]))
        for fleet in ("a", "b"):
            await ok(CreateFleet(network_access_profile="nap", unique_name=fleet))
        sims = []
        for n in range(5):
            iccid = f"8901000000000077{n:03d}"
            await ok(ProvisionSimCard(iccid=iccid, registration_code=CODE), OPERATOR_ACCOUNT_SID)
            sim = (await ok(RegisterSim(iccid=iccid, registration_code=CODE))).events[0]
            await ok(UpdateSim(sim=sim.aggregate_id, fleet="a" if n < 3 else "b"))
            sims.append(sim.aggregate_id)
        added = await ok(AddNetworkToProfile(network_access_profile="nap", network=networks[1]))
        assert [e.type for e in added.events] == ["NetworkAddedToProfile"]  # the change alone

        def rollout(events):
            return [
                e
                for e in events
                if e.type == "SettingsUpdateScheduled"
                and e.payload.reason == "profile_networks_changed"
            ]

        deadline = time.monotonic() + 60
        while len(rollout((await committed_log(topics))[0])) < len(sims):
            assert time.monotonic() < deadline, "the rollout never reached every Sim"
            await asyncio.sleep(0.2)
        events, _ = await committed_log(topics)
    updates = rollout(events)
    assert sorted(u.payload.sim_sid for u in updates) == sorted(sims)  # each Sim once
    chunks: dict[str, list[str]] = {}
    for update in updates:
        chunks.setdefault(update.command_id, []).append(update.payload.sim_sid)
    cause = next(e.command_id for e in events if e.type == "NetworkAddedToProfile")
    assert list(chunks) == [f"{cause}:settings:{n}" for n in (1, 2, 3)]
    assert [len(c) for c in chunks.values()] == [2, 2, 1]
    assert [sid for chunk in chunks.values() for sid in chunk] == sorted(sims)
