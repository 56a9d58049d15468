"""`fleetstate run` starts the network simulator only when FLEETSTATE_NETWORK_SIM says so."""

import pytest

from services.config import ConfigError, load_settings
from services.run import NETWORK_SIM, SERVICES, service_arguments


def test_the_simulator_is_off_unless_asked_for():
    assert NETWORK_SIM not in service_arguments(load_settings({}))
    assert NETWORK_SIM not in service_arguments(load_settings({"FLEETSTATE_NETWORK_SIM": "off"}))


def test_on_it_runs_beside_every_service():
    started = service_arguments(load_settings({"FLEETSTATE_NETWORK_SIM": "on"}))
    assert list(started) == [*SERVICES, NETWORK_SIM]
    assert started[NETWORK_SIM] == []


def test_a_setting_other_than_on_or_off_is_refused():
    with pytest.raises(ConfigError, match="FLEETSTATE_NETWORK_SIM"):
        load_settings({"FLEETSTATE_NETWORK_SIM": "yes"})
    with pytest.raises(ConfigError, match="FLEETSTATE_NETWORK_SIM_UNREACHABLE: not an ICCID: 12"):
        load_settings({"FLEETSTATE_NETWORK_SIM_UNREACHABLE": "8901260000000000001, 12"})
