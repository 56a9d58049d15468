"""eSIM Profiles through the official twilio-python SDK and plain HTTP, against the whole stack:
the API, the processor, the projector, the network gateway, the network simulator playing the
SM-DP+ (`fleetstate network-sim`) and the webhook delivery, with a real HTTP receiver that checks
every signature with twilio's own RequestValidator."""

from __future__ import annotations

import asyncio
import time

import msgspec
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from tests.api.support import assert_error
from tests.api.test_twilio_sdk import sdk
from tests.audit.support import fleetstate
from tests.delivery.receiver import Receiver

WAIT = 90.0
EID = "89049032005008882600033489000001"


def wait_for_status(v1, sid: str, status: str):
    """The profile once the read model shows `status` (the SM-DP+ answers on its own time)."""
    deadline = time.monotonic() + WAIT
    while True:
        profile = v1.esim_profiles(sid).fetch()
        if profile.status == status:
            return profile
        assert time.monotonic() < deadline, (sid, profile.status, status)
        time.sleep(0.2)


async def sm_dp_plus_sends(stack, account, profile_sid: str, status: str, *extra: str) -> None:
    """`fleetstate network-sim send esim-STATUS`: the SM-DP+ reports on the profile."""
    code, output = await fleetstate(
        stack.settings,
        "network-sim",
        "send",
        f"esim-{status}",
        "--account",
        account.sid,
        "--profile",
        profile_sid,
        *extra,
    )
    assert code == 0, output


async def history(stack, account, ref: str) -> list[dict]:
    code, output = await fleetstate(
        stack.settings, "history", ref, "--account", account.sid, "--json"
    )
    assert code == 0, output
    return msgspec.json.decode(output)


async def test_a_profile_is_reserved_made_available_with_its_sim_then_downloaded_and_installed(
    stack, account, device_services
):
    receiver = await Receiver().start()
    try:
        v1 = sdk(stack, account).supersim.v1
        ordered = await asyncio.to_thread(
            v1.esim_profiles.create, eid=EID, callback_url=receiver.url("/esim")
        )
        assert ordered.sid.startswith("HP") and ordered.account_sid == account.sid
        assert ordered.eid == EID and ordered.url.endswith(f"/v1/ESimProfiles/{ordered.sid}")
        # The SM-DP+ may already have answered: new, or further on, never back.
        assert ordered.status in ("new", "reserving", "available")

        profile = await asyncio.to_thread(wait_for_status, v1, ordered.sid, "available")
        assert profile.iccid and profile.iccid.startswith("89")
        assert profile.sim_sid.startswith("HS") and profile.smdp_plus_address
        assert profile.matching_id is None and profile.activation_code is None  # an Eid's
        assert profile.error_code is None

        # The ICCID is a Sim of this account, status new, its card owned through its one writer.
        sim = await asyncio.to_thread(lambda: v1.sims(profile.sim_sid).fetch())
        assert (sim.iccid, sim.status, sim.account_sid) == (profile.iccid, "new", account.sid)
        listed = await asyncio.to_thread(lambda: v1.sims.list(iccid=profile.iccid))
        assert [s.sid for s in listed] == [profile.sim_sid]
        card = [e["type"] for e in await history(stack, account, profile.iccid)]
        assert card == ["SimCardProvisioned", "SimCardReserved", "SimCardAssigned"]

        # The CallbackUrl is called on the change to available, signed as Twilio signs.
        await asyncio.wait_for(receiver.wait_for(lambda r: len(r.received) >= 1), WAIT)
        (call,) = receiver.received
        assert RequestValidator(account.token).validate(
            call.url, call.form, call.headers["X-Twilio-Signature"]
        )
        assert call.form == {
            "AccountSid": account.sid,
            "EsimProfileSid": profile.sid,
            "Status": "available",
            "Iccid": profile.iccid,
            "SimSid": profile.sim_sid,
            "SmdpPlusAddress": profile.smdp_plus_address,
        }

        await sm_dp_plus_sends(stack, account, profile.sid, "downloaded")
        await asyncio.to_thread(wait_for_status, v1, profile.sid, "downloaded")
        for _ in range(2):  # a report the SM-DP+ sends again counts once
            await sm_dp_plus_sends(stack, account, profile.sid, "installed")
        await asyncio.to_thread(wait_for_status, v1, profile.sid, "installed")
        changes = [
            e["payload"].get("to_status", "available")
            for e in await history(stack, account, profile.sid)
            if e["type"] != "EsimProfileCreated"
        ]
        assert changes == ["reserving", "available", "downloaded", "installed"]

        def lists():
            return (
                v1.esim_profiles.list(status="installed", eid=EID),
                v1.esim_profiles.list(sim_sid=profile.sim_sid),
                v1.esim_profiles.list(status="failed"),
            )

        installed, by_sim, failed = await asyncio.to_thread(lists)
        assert [p.sid for p in installed] == [profile.sid]
        assert [p.sid for p in by_sim] == [profile.sid]
        assert failed == []
        assert len(receiver.received) == 1  # only the change to available calls it
    finally:
        await receiver.stop()


async def test_a_matching_id_profile_gets_its_activation_code_and_may_fail(
    stack, account, device_services
):
    v1 = sdk(stack, account).supersim.v1
    ordered = await asyncio.to_thread(v1.esim_profiles.create, generate_matching_id=True)
    assert ordered.eid is None
    profile = await asyncio.to_thread(wait_for_status, v1, ordered.sid, "available")
    assert profile.matching_id and profile.activation_code.endswith("$" + profile.matching_id)
    extra = ("--error-code", "8.2.6", "--error-message", "the profile could not be installed")
    await sm_dp_plus_sends(stack, account, profile.sid, "failed", *extra)
    failed = await asyncio.to_thread(wait_for_status, v1, profile.sid, "failed")
    assert (failed.error_code, failed.error_message) == extra[1::2]
    assert failed.sim_sid == profile.sim_sid  # the Sim stays the account's
    listed = await asyncio.to_thread(lambda: v1.esim_profiles.list(status="failed"))
    assert [p.sid for p in listed] == [profile.sid]


async def test_an_order_without_eid_or_matching_id_is_refused_and_creates_nothing(stack, account):
    v1 = sdk(stack, account).supersim.v1

    def refused(**fields) -> TwilioRestException:
        try:
            v1.esim_profiles.create(**fields)
        except TwilioRestException as exc:
            return exc
        raise AssertionError(f"{fields} was accepted")

    for fields, says in (
        ({}, "Eid is required, unless GenerateMatchingId is true"),
        ({"generate_matching_id": False}, "Eid is required"),
        ({"eid": "not-an-eid"}, "Eid must be the eUICC's EID, 32 letters or digits"),
        ({"eid": EID, "callback_method": "PUT"}, "CallbackMethod must be GET or POST"),
    ):
        exc = await asyncio.to_thread(refused, **fields)
        assert (exc.status, exc.code) == (400, 20001) and says in exc.msg, exc
    assert await asyncio.to_thread(v1.esim_profiles.list) == []


async def test_bad_filters_and_unknown_profiles_are_answered_as_twilio_does(api):
    assert_error(await api.get("/v1/ESimProfiles?Status=lost"), 400, 20001)
    assert_error(await api.get("/v1/ESimProfiles?Colour=red"), 400, 20001)
    assert_error(await api.get("/v1/ESimProfiles/HP" + "0" * 32), 404, 20404)
    assert_error(await api.post("/v1/ESimProfiles", data={"Eid": ""}), 400, 20001)


async def test_another_account_cannot_see_or_fetch_a_profile(api, other_api):
    created = await api.post("/v1/ESimProfiles", data={"Eid": EID})
    assert created.status_code in (201, 202), created.text
    sid = created.json()["sid"]
    assert (await api.get(f"/v1/ESimProfiles/{sid}")).status_code == 200
    assert_error(await other_api.get(f"/v1/ESimProfiles/{sid}"), 404, 20404)
    assert (await other_api.get("/v1/ESimProfiles")).json()["esim_profiles"] == []
    listed = (await other_api.get(f"/v1/ESimProfiles?Eid={EID}")).json()["esim_profiles"]
    assert listed == []


async def test_the_openapi_document_describes_the_operations_with_their_parameters(api):
    paths = (await api.get("/openapi.json")).json()["paths"]
    create = paths["/v1/ESimProfiles"]["post"]
    form = create["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert create["operationId"] == "CreateEsimProfile"
    assert set(form["properties"]) == {"Eid", "GenerateMatchingId", "CallbackUrl", "CallbackMethod"}
    listing = paths["/v1/ESimProfiles"]["get"]
    assert {"Eid", "SimSid", "Status", "PageSize", "PageToken"} <= {
        p["name"] for p in listing["parameters"]
    }
    assert paths["/v1/ESimProfiles/{Sid}"]["get"]["operationId"] == "FetchEsimProfile"
