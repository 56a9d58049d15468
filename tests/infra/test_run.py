"""`fleetstate run`, what `make run` ends with: every service up, a demo whose printed credentials
and curl line work as printed, and Ctrl-C stopping it all."""

from __future__ import annotations

import asyncio
import re
import shlex
import signal
import sys

import httpx
import msgspec
import pytest

from services.config import environment_of
from tests.api.conftest import free_port


@pytest.mark.timeout(300)
async def test_run_serves_the_api_prints_working_credentials_and_stops_on_ctrl_c(
    settings, migrated, tmp_path
):
    settings = msgspec.structs.replace(
        settings,
        database_url=migrated,
        api_port=free_port(),
        processor_metrics_port=free_port(),
        usage_metrics_port=free_port(),
        api_metrics_port=free_port(),
        demo_file=str(tmp_path / "demo.json"),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "run",
        env=environment_of(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    printed = []
    try:
        async with asyncio.timeout(180):
            while not any("curl -u" in line for line in printed):
                line = (await process.stdout.readline()).decode()
                assert line, "fleetstate run ended early:\n" + "".join(printed)
                printed.append(line)
            while "http://" not in printed[-1]:  # the curl line's URL ends the command
                printed.append((await process.stdout.readline()).decode())
        text = "".join(printed)
        account = re.search(r"Account SID\s+(AC[0-9a-f]{32})", text).group(1)
        token = re.search(r"Auth Token\s+([0-9a-f]{32})", text).group(1)
        curl = next(line for line in printed if "curl -u" in line)
        argv = shlex.split(curl.replace("\\\n", ""))
        assert argv[:3] == ["curl", "-u", f"{account}:{token}"]
        async with httpx.AsyncClient(auth=(account, token)) as http:
            networks = await http.get(argv[-1])
            assert networks.status_code == 200 and len(networks.json()["networks"]) >= 4
            metrics = await http.get(f"http://127.0.0.1:{settings.processor_metrics_port}/")
            assert "fleetstate_commands_total" in metrics.text
            api_metrics = await http.get(f"http://127.0.0.1:{settings.api_metrics_port}/metrics")
            assert "fleetstate_api_requests_total" in api_metrics.text
        # The cards' codes printed are the ones drawn for this demo file.
        demo = msgspec.json.decode((tmp_path / "demo.json").read_bytes())
        for iccid, code in demo["cards"]:
            assert f"ICCID {iccid}  registration code {code}" in text
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            code = await process.wait()
    assert code == 0
