"""The operator's command line (accounts, inventory, networks, demo), /metrics and /openapi.json."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys

import httpx
import msgspec

from services.api.app import create_app
from services.config import environment_of
from services.demo import seed
from services.usage import records_query
from tests.api.support import assert_error


async def fleetstate(stack, *args: str, **env: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *args,
        env={**environment_of(stack.settings), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_accounts_create_prints_credentials_that_work_at_once(stack):
    code, out, _ = await fleetstate(stack, "accounts", "create", "--name", "Acme", "--json")
    assert code == 0
    created = json.loads(out)
    assert created["account_sid"].startswith("AC") and len(created["auth_token"]) == 32
    auth = (created["account_sid"], created["auth_token"])
    async with httpx.AsyncClient(base_url=stack.base_url, auth=auth) as http:
        assert (await http.get("/v1/Fleets")).status_code == 200
    # Only the hash is stored.
    async with httpx.AsyncClient(base_url=stack.base_url, auth=auth) as http:
        wrong = await http.get(
            "/v1/Fleets", auth=(created["account_sid"], created["auth_token"][:-1])
        )
        assert_error(wrong, 401, 20003)


async def test_inventory_and_networks_add_report_the_outcome_and_fail_on_rejection(stack, api):
    iccid = f"89{secrets.randbelow(10**17):017d}"
    code, out, _ = await fleetstate(
        stack, "inventory", "add", "--iccid", iccid, "--code", "ABCDE12345"
    )
    assert code == 0 and "SimCardProvisioned" in out
    code, _, err = await fleetstate(
        stack, "inventory", "add", "--iccid", iccid, "--code", "OTHER12345"
    )
    assert code == 1 and "409 20409" in err
    code, _, err = await fleetstate(
        stack, "inventory", "add", "--iccid", "123", "--code", "ABCDE12345"
    )
    assert code == 1 and "20001" in err

    mnc = f"{secrets.randbelow(900) + 100}"
    code, out, _ = await fleetstate(
        stack,
        "networks",
        "add",
        "--name",
        "Test Net",
        "--country",
        "NL",
        "--mcc",
        "204",
        "--mnc",
        mnc,
    )
    assert code == 0 and "NetworkProvisioned" in out
    listed = (await api.get("/v1/Networks", params={"Mcc": "204", "Mnc": mnc})).json()["networks"]
    assert [n["friendly_name"] for n in listed] == ["Test Net"]
    code, _, err = await fleetstate(
        stack, "networks", "add", "--name", "Dup", "--country", "NL", "--mcc", "204", "--mnc", mnc
    )
    assert code == 1 and "409 20409" in err


async def test_the_demo_seeds_once_and_prints_the_same_working_credentials_every_time(
    stack, tmp_path
):
    settings = msgspec.structs.replace(stack.settings, demo_file=str(tmp_path / "demo.json"))
    first, networks = await seed(settings)
    again, networks_again = await seed(settings)
    assert again == first and networks_again == networks and len(networks) == 5
    assert (tmp_path / "demo.json").stat().st_mode & 0o077 == 0  # the owner's only
    async with httpx.AsyncClient(
        base_url=stack.base_url, auth=(first.account_sid, first.auth_token)
    ) as http:
        profiles = (await http.get("/v1/NetworkAccessProfiles")).json()["network_access_profiles"]
        assert [p["unique_name"] for p in profiles] == ["demo-nap"]  # not twice
        listed = (await http.get("/v1/Networks", params={"Mcc": "310", "Mnc": "260"})).json()
        assert [n["friendly_name"] for n in listed["networks"]] == ["T-Mobile USA"]
        iccid, code = first.cards[0]
        sim = await http.post("/v1/Sims", data={"Iccid": iccid, "RegistrationCode": code})
        assert sim.status_code == 201, sim.text
        fleet = await http.post(
            "/v1/Fleets", data={"NetworkAccessProfile": "demo-nap", "DataLimit": 100}
        )
        assert fleet.status_code == 201


async def test_metrics_count_requests_by_route_and_report_projection_lag(stack, api):
    await api.get("/v1/Fleets/unknown-fleet")
    async with httpx.AsyncClient() as http:
        text = (await http.get(stack.metrics_url)).text
    requests = [line for line in text.splitlines() if line.startswith("fleetstate_api_requests")]
    assert any(
        '"/v1/Fleets/{sid}"' in line and 'status="404"' in line and 'method="GET"' in line
        for line in requests
    ), requests
    assert "fleetstate_api_request_seconds_bucket" in text
    assert 'fleetstate_api_commands_total{command="CreateAccount"' not in text  # not the API's
    assert (
        f'fleetstate_projection_events_behind{{partition="0",projection="read_models",topic="{stack.settings.events_topic}"}}'
        in text
    )
    assert "fleetstate_projection_seconds_behind" in text


async def test_the_openapi_document_describes_every_operation_we_serve(stack):
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        document = (await http.get("/openapi.json")).json()
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    served = {
        (method, _shape(route.path))
        for route in create_app(stack.settings).routes
        for method in route.methods - {"HEAD", "OPTIONS"}
        if route.path.startswith("/v1/")
    }
    assert {(method, _shape(path)) for method, path in operations} == served
    assert (
        "DELETE",
        "/v1/NetworkAccessProfiles/{NetworkAccessProfileSid}/Networks/{Sid}",
    ) in operations
    create_fleet = document["paths"]["/v1/Fleets"]["post"]
    assert {"201", "202", "409", "503"} <= set(create_fleet["responses"])
    form = create_fleet["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["NetworkAccessProfile"] and form["additionalProperties"] is False
    fleet = document["components"]["schemas"]["Fleet"]
    assert {"commands_url", "sms_commands_url", "data_limit"} <= set(fleet["properties"])
    # UsageRecords takes exactly the parameters its query parses; the fetch shows data_usage.
    usage = document["paths"]["/v1/UsageRecords"]["get"]
    assert [p["name"] for p in usage["parameters"]] == [
        *records_query.FILTERS,
        *records_query.PAGING,
    ]
    fetch_sim = document["paths"]["/v1/Sims/{Sid}"]["get"]["responses"]["200"]
    schema = fetch_sim["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/SimWithDataUsage"}
    fetched = document["components"]["schemas"]["SimWithDataUsage"]
    assert "data_usage" in fetched["required"]
    assert "data_usage" not in document["components"]["schemas"]["Sim"]["properties"]


async def test_options_allows_exactly_the_methods_the_document_describes(stack):
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        document = (await http.get("/openapi.json")).json()
        for path, item in document["paths"].items():
            response = await http.options(re.sub(r"\{[^}]*\}", "x", path))
            assert response.status_code == 204, path
            allowed = {method.strip() for method in response.headers["allow"].split(",")}
            assert allowed == {*(method.upper() for method in item), "OPTIONS"}, path


def _shape(path: str) -> str:
    """A path with its parameters unnamed: /v1/Fleets/{sid:str} and /v1/Fleets/{Sid} agree."""
    return re.sub(r"\{[^}]*\}", "{}", path)
