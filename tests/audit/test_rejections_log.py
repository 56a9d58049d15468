"""`fleetstate rejections`: the account's refused commands from the outcomes topic, with what
was tried and by whom from the commands topic."""

from __future__ import annotations

import msgspec

from services.audit.rejection_log import rejections
from tests.audit.support import fleetstate
from tests.domain.support import ACCOUNT_A, ACCOUNT_B


async def test_each_refused_command_is_listed_with_what_who_and_why(audited):
    listed = await rejections(audited.settings, ACCOUNT_A)
    taken, no_fleet = audited.rejected["taken_name"], audited.rejected["no_fleet"]
    wrong_code = audited.rejected["wrong_code"]
    expected = [taken.command_id, no_fleet.command_id, wrong_code.command_id]
    assert [r.command_id for r in listed] == expected  # the card registry's steps left out
    first, second, refused_registration = listed
    assert (refused_registration.command_type, refused_registration.code) == ("RegisterSim", 83002)
    assert (first.command_type, first.code, first.http_status) == ("CreateFleet", 20409, 409)
    assert first.parameters == {"network_access_profile": "nap-2", "unique_name": "fleet"}
    assert (second.command_type, second.actor, second.code) == ("UpdateSim", "dave", 83007)
    assert second.message == no_fleet.rejection.message
    assert await rejections(audited.settings, ACCOUNT_B) == []


async def test_since_leaves_out_what_was_decided_before(audited):
    no_fleet = audited.rejected["no_fleet"]
    wrong_code = audited.rejected["wrong_code"]
    listed = await rejections(audited.settings, ACCOUNT_A, since=no_fleet.decided_at)
    assert [r.command_id for r in listed] == [no_fleet.command_id, wrong_code.command_id]


async def test_the_rejections_command_prints_json(audited):
    since = audited.rejected["taken_name"].decided_at.isoformat()
    code, output = await fleetstate(
        audited.settings, "rejections", "--account", ACCOUNT_A, "--since", since, "--json"
    )
    assert code == 0, output
    assert [r["code"] for r in msgspec.json.decode(output)] == [20409, 83007, 83002]
