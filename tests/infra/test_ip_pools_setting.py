"""FLEETSTATE_IP_POOLS is checked at start, like every setting: a bad pool stops the service
with the entry named, before anything is decided with it."""

from __future__ import annotations

import pytest

from services.config import ConfigError, ip_pools_of, load_settings

ACCOUNT = "AC" + "1" * 32


def test_the_default_pool_and_per_account_pools_are_read():
    settings = load_settings({"FLEETSTATE_IP_POOLS": f"10.1.0.0/16,{ACCOUNT}=192.168.0.0/24"})
    pools = ip_pools_of(settings)
    assert pools.pool_for(ACCOUNT) == "192.168.0.0/24"
    assert pools.pool_for("AC" + "2" * 32) == "10.1.0.0/16"
    assert ip_pools_of(load_settings({})).default == "10.64.0.0/10"


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("10.0.0.0/7", "larger than a /8"),
        ("10.0.0.1/24", "not a CIDR block"),
        ("fd00::/64", "not IPv4"),
        (f"{ACCOUNT}=10.0.0.0/24,{ACCOUNT}=10.1.0.0/24", "two pools for"),
    ],
)
def test_a_bad_pool_is_refused_at_start_naming_it(setting, says):
    with pytest.raises(ConfigError) as refused:
        load_settings({"FLEETSTATE_IP_POOLS": setting})
    assert "FLEETSTATE_IP_POOLS" in str(refused.value) and says in str(refused.value)
