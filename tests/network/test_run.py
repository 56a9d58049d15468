"""`fleetstate run` starts the network simulator only when FLEETSTATE_NETWORK_SIM says so, and
as many of every other service as FLEETSTATE_INSTANCES says."""

import asyncio
import subprocess
import sys

import msgspec
import pytest

from services.config import ConfigError, load_settings
from services.run import METRICS_PORT_STEP, NETWORK_SIM, SERVICES, children
from tests.api.conftest import free_port
from tests.services import ServiceProcess, until_ok, wait_healthy


def test_the_simulator_is_off_unless_asked_for():
    assert NETWORK_SIM not in children(load_settings({}))
    assert NETWORK_SIM not in children(load_settings({"FLEETSTATE_NETWORK_SIM": "off"}))


def test_on_it_runs_beside_every_service():
    started = children(load_settings({"FLEETSTATE_NETWORK_SIM": "on"}))
    assert list(started) == [*SERVICES, NETWORK_SIM]
    assert started[NETWORK_SIM].args == []


def test_a_setting_other_than_on_or_off_is_refused():
    with pytest.raises(ConfigError, match="FLEETSTATE_NETWORK_SIM"):
        load_settings({"FLEETSTATE_NETWORK_SIM": "yes"})
    with pytest.raises(ConfigError, match="FLEETSTATE_NETWORK_SIM_UNREACHABLE: not an ICCID: 12"):
        load_settings({"FLEETSTATE_NETWORK_SIM_UNREACHABLE": "8901260000000000001, 12"})


def test_instances_start_every_service_that_many_times_with_metrics_ports_of_their_own():
    settings = load_settings({"FLEETSTATE_INSTANCES": "2", "FLEETSTATE_NETWORK_SIM": "on"})
    started = children(settings)
    assert list(started) == [f"{s}-{n}" for s in SERVICES for n in (1, 2)] + [NETWORK_SIM]
    first, second = started["processor-1"], started["processor-2"]
    assert first.args == ["--metrics-port", str(settings.processor_metrics_port)]
    assert second.args == [
        "--metrics-port",
        str(settings.processor_metrics_port + METRICS_PORT_STEP),
    ]
    api_ports = {started[f"api-{n}"].env["FLEETSTATE_API_METRICS_PORT"] for n in (1, 2)}
    assert api_ports == {str(settings.api_metrics_port + k * METRICS_PORT_STEP) for k in (0, 1)}
    with pytest.raises(ConfigError, match="FLEETSTATE_INSTANCES"):
        load_settings({"FLEETSTATE_INSTANCES": "0"})


async def test_api_instances_share_one_port_and_a_lone_api_on_a_taken_port_fails(
    topics, migrated, tmp_path
):
    settings, port = msgspec.structs.replace(topics, database_url=migrated), free_port()
    shared = msgspec.structs.replace(settings, api_port=port, instances=2)
    apis = [
        ServiceProcess(
            "api",
            msgspec.structs.replace(shared, api_metrics_port=free_port()),
            log_path=tmp_path / f"api-{n}.log",
        )
        for n in (1, 2)
    ]
    for api in apis:
        api.start()
    try:
        await wait_healthy(f"http://127.0.0.1:{port}")
        for api in apis:  # each bound the port, and serves (its metrics say it runs)
            await until_ok(f"http://127.0.0.1:{api.settings.api_metrics_port}/metrics")
            assert api.process.poll() is None
        # One more, not sharing: the port is taken, and it says so by failing.
        alone = msgspec.structs.replace(settings, api_port=port, api_metrics_port=0)
        lone = ServiceProcess("api", alone, log_path=tmp_path / "lone.log")
        lone.start()
        code = await asyncio.to_thread(lone.process.wait, 60)
        assert code != 0
        assert "address already in use" in (tmp_path / "lone.log").read_text().lower()
    finally:
        for api in apis:
            api.stop()


def test_fleetstate_instances_is_read_by_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "api"],
        env={"FLEETSTATE_INSTANCES": "nope", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "FLEETSTATE_INSTANCES" in done.stderr
