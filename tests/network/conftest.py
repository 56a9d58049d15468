"""The network simulator as a child process on the test's own topics."""

from __future__ import annotations

import msgspec
import pytest

from tests.services import ServiceProcess

# Reachable and unreachable SIM cards (unreachable: one by the flag, one by the setting).
ICCID = "8901260000000000001"
UNREACHABLE_BY_FLAG = "8901260000000000002"
UNREACHABLE_BY_SETTING = "89012600000000000037"


@pytest.fixture
def sim_settings(topics):
    return msgspec.structs.replace(topics, network_sim_unreachable=UNREACHABLE_BY_SETTING)


@pytest.fixture
def network_sim(sim_settings, tmp_path):
    process = ServiceProcess(
        "network-sim",
        sim_settings,
        "--unreachable",
        UNREACHABLE_BY_FLAG,
        log_path=tmp_path / "network-sim.log",
    )
    process.start()
    yield process
    process.stop()
