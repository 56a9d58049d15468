"""Webhooks end to end, driven by the official twilio-python SDK against the whole stack (API,
processor, projector, network gateway, network simulator, delivery), received by a real HTTP
server on 127.0.0.1 that checks every signature with twilio's own RequestValidator."""

from __future__ import annotations

import asyncio
import time

import msgspec
from twilio.request_validator import RequestValidator

from services.network_sim.send import send, sms_from_device
from tests.api.test_twilio_sdk import sdk
from tests.audit.support import fleetstate
from tests.delivery.receiver import Receiver

WAIT = 90.0


def paths(receiver: Receiver) -> list[str]:
    return [r.url.split("?")[0].rsplit("/", 1)[1] for r in receiver.received]


async def test_device_commands_and_sim_updates_call_their_webhooks_signed(
    stack, account, device_services
):
    receiver = await Receiver().start()
    try:

        def setup():
            v1 = sdk(stack, account).supersim.v1
            nap = v1.network_access_profiles.create(networks=stack.network_sids[:1])
            fleet = v1.fleets.create(
                network_access_profile=nap.sid, sms_commands_url=receiver.url("/sms-in")
            )
            iccid, code = stack.card()
            sim = v1.sims.create(iccid=iccid, registration_code=code)
            sim = v1.sims(sim.sid).update(
                fleet=fleet.sid, status="active", callback_url=receiver.url("/sim")
            )
            command = v1.sms_commands.create(
                sim=sim.sid, payload="reboot", callback_url=receiver.url("/sms-status")
            )
            return v1, iccid, sim, command

        v1, iccid, sim, command = await asyncio.to_thread(setup)
        await send(stack.settings, sms_from_device(iccid, "temperature=21"))
        wanted = {"sim": 1, "sms-status": 2, "sms-in": 1}

        def arrived(r: Receiver) -> bool:
            got = paths(r)
            return all(got.count(path) >= n for path, n in wanted.items())

        await asyncio.wait_for(receiver.wait_for(arrived), WAIT)
        validator = RequestValidator(account.token)
        for request in receiver.received:
            signature = request.headers["X-Twilio-Signature"]
            assert validator.validate(request.url, request.form, signature), request
        by_path: dict[str, list] = {}
        for request in receiver.received:
            by_path.setdefault(request.url.rsplit("/", 1)[1], []).append(request.form)
        assert by_path["sim"] == [
            {"AccountSid": account.sid, "SimSid": sim.sid, "Status": "active"}
        ]
        # Two deliveries, each on its own schedule: they may arrive in either order.
        assert sorted(form["Status"] for form in by_path["sms-status"]) == ["delivered", "sent"]
        assert {form["SmsCommandSid"] for form in by_path["sms-status"]} == {command.sid}
        (inbound,) = by_path["sms-in"]
        assert (inbound["Payload"], inbound["Direction"], inbound["SimSid"]) == (
            "temperature=21",
            "from_sim",
            sim.sid,
        )

        def read_back():
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                fetched = v1.sms_commands(command.sid).fetch()
                received = v1.sms_commands.list(direction="from_sim")
                if fetched.status == "delivered" and received:
                    return fetched, received, v1.sms_commands.list(status="delivered")
                time.sleep(0.2)
            raise AssertionError("the read model never showed the delivered command")

        fetched, received, delivered = await asyncio.to_thread(read_back)
        assert fetched.status == "delivered"
        assert [c.sid for c in delivered] == [command.sid]  # the Status filter
        assert [(c.payload, c.status) for c in received] == [("temperature=21", "received")]
        # Each resource's history shows the webhooks its events called, with every attempt.
        command_calls = await webhooks_in_history(stack, account, command.sid, 2)
        assert sorted(call["params"]["Status"] for call in command_calls) == ["delivered", "sent"]
        sim_calls = await webhooks_in_history(stack, account, sim.sid, 1)
        assert [call["url"] for call in sim_calls] == [receiver.url("/sim")]
        for call in command_calls + sim_calls:
            assert call["attempts"][-1]["status_code"] == 200, call
    finally:
        await receiver.stop()


async def webhooks_in_history(stack, account, sid: str, expected: int) -> list[dict]:
    """The webhooks `fleetstate history SID` shows, once `expected` of them are delivered
    (the delivery records an attempt just after the receiver has it)."""
    deadline = time.monotonic() + WAIT
    while True:
        code, output = await fleetstate(
            stack.settings, "history", sid, "--account", account.sid, "--json"
        )
        assert code == 0, output
        calls = [e["webhook"] for e in msgspec.json.decode(output) if e["webhook"]]
        if [c["status"] for c in calls] == ["delivered"] * expected:
            return calls
        assert time.monotonic() < deadline, calls
        await asyncio.sleep(0.2)
