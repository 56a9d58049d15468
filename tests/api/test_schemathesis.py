"""schemathesis against our /openapi.json: generated requests, valid and invalid, to every
operation; no 5xx, and every response conforms to the document (status, content type, schema).

FLEETSTATE_SCHEMATHESIS_EXAMPLES sets the examples per operation (default 100, what CI runs).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from tests.api.support import create_fleet, create_profile, register_sim

EXAMPLES = int(os.environ.get("FLEETSTATE_SCHEMATHESIS_EXAMPLES", "100"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "ignored_auth",
    ]
)


async def test_generated_requests_get_no_5xx_and_responses_conform_to_our_openapi(
    stack, api, account, tmp_path: Path
):
    # Something to find: generated SIDs rarely exist, but unique names like these might.
    await create_profile(api, UniqueName="0", Networks=stack.network_sids[:1])
    await create_fleet(api, "0", UniqueName="1")
    sim = await register_sim(api, stack)
    named = await api.post(f"/v1/Sims/{sim['sid']}", data={"UniqueName": "0"})
    assert named.status_code == 200  # so generated Sim references find it: fetch, UsageRecords
    document = (await api.get("/openapi.json")).json()
    operations = sum(len(methods) for methods in document["paths"].values())
    st = Path(sys.executable).parent / "schemathesis"
    process = await asyncio.create_subprocess_exec(
        str(st),
        "run",
        f"{stack.base_url}/openapi.json",
        "--auth",
        f"{account.sid}:{account.token}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--seed",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    (stack.logs / "schemathesis.txt").write_text(text)
    assert process.returncode == 0, text[-6000:]
    assert "No issues found" in text or "passed" in text, text[-3000:]
    assert f"Tested: {operations}" in text, text[-3000:]  # none left out, new ones included
    # The stack is still healthy after all that.
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{stack.base_url}/healthz")).status_code == 200
