"""schemathesis against our /openapi.json: generated requests, valid and invalid, to every
operation, with every check schemathesis has (`--checks all`: no 5xx; status, content type,
headers and body as documented; valid data accepted and invalid data refused; Allow as
documented; auth not ignored; ...) and every phase, the stateful one included, since some
checks only look at sequences of calls. tests/api/schemathesis.toml says which answers the
contract gives to valid data besides 2xx, and why.

FLEETSTATE_SCHEMATHESIS_EXAMPLES sets the examples per operation (default 30, what CI runs; set
it higher, 500 say, to fuzz harder: `make test PYTEST_ARGS=tests/api/test_schemathesis.py`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from tests.api.support import create_fleet, create_profile, register_sim

EXAMPLES = int(os.environ.get("FLEETSTATE_SCHEMATHESIS_EXAMPLES", "30"))
CONFIG = Path(__file__).with_name("schemathesis.toml")


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
        "--config-file",
        str(CONFIG),
        "run",
        f"{stack.base_url}/openapi.json",
        "--auth",
        f"{account.sid}:{account.token}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
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
