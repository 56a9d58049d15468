"""The webhook and token-key settings: their defaults, and a clear ConfigError naming the
variable for a value that cannot work."""

from __future__ import annotations

import pytest

from services.config import ConfigError, environment_of, load_settings, token_keys_of
from services.delivery.sealing import generate_key


def test_the_defaults():
    settings = load_settings({})
    assert settings.webhook_allow == ""
    assert settings.webhook_timeout_seconds == 10
    assert settings.webhook_per_host == 4
    assert settings.webhook_retry_base_seconds == 5
    assert settings.webhook_retry_cap_seconds == 3600
    assert settings.webhook_retry_horizon_hours == 24
    assert token_keys_of(settings) == []


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"FLEETSTATE_WEBHOOK_ALLOW": "10.0.0.0/33"}, "invalid FLEETSTATE_WEBHOOK_ALLOW"),
        ({"FLEETSTATE_WEBHOOK_ALLOW": "internal.example"}, "invalid FLEETSTATE_WEBHOOK_ALLOW"),
        ({"FLEETSTATE_WEBHOOK_TIMEOUT_SECONDS": "0"}, "FLEETSTATE_WEBHOOK_TIMEOUT_SECONDS must"),
        ({"FLEETSTATE_WEBHOOK_TIMEOUT_SECONDS": "soon"}, "FLEETSTATE_WEBHOOK_TIMEOUT_SECONDS"),
        ({"FLEETSTATE_WEBHOOK_PER_HOST": "0"}, "FLEETSTATE_WEBHOOK_PER_HOST must"),
        ({"FLEETSTATE_WEBHOOK_PER_HOST": "2.5"}, "invalid FLEETSTATE_WEBHOOK_PER_HOST"),
        ({"FLEETSTATE_WEBHOOK_RETRY_BASE_SECONDS": "0"}, "BASE_SECONDS must be more than 0"),
        (
            {
                "FLEETSTATE_WEBHOOK_RETRY_BASE_SECONDS": "60",
                "FLEETSTATE_WEBHOOK_RETRY_CAP_SECONDS": "5",
            },
            "FLEETSTATE_WEBHOOK_RETRY_CAP_SECONDS must be at least",
        ),
        ({"FLEETSTATE_WEBHOOK_RETRY_HORIZON_HOURS": "-1"}, "HORIZON_HOURS must be more than 0"),
        ({"FLEETSTATE_TOKEN_KEYS": "not-a-key"}, "invalid FLEETSTATE_TOKEN_KEYS: token key 1"),
        ({"FLEETSTATE_TOKEN_KEYS_FILE": "/no/such/file"}, "FLEETSTATE_TOKEN_KEYS_FILE"),
        ({"FLEETSTATE_TOKEN_KEYS": "k", "FLEETSTATE_TOKEN_KEYS_FILE": "/f"}, "not both"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(environ, message):
    with pytest.raises(ConfigError, match=message) as refused:
        load_settings(environ)
    assert "not-a-key" not in str(refused.value)  # a key, even a bad one, is never shown


def test_token_keys_come_from_the_variable_or_a_file(tmp_path):
    new, old = generate_key(), generate_key()
    assert token_keys_of(load_settings({"FLEETSTATE_TOKEN_KEYS": f"{new}, {old}"})) == [new, old]
    secret = tmp_path / "token-keys"
    secret.write_text(f"{new}\n{old}\n")
    settings = load_settings({"FLEETSTATE_TOKEN_KEYS_FILE": str(secret)})
    assert token_keys_of(settings) == [new, old]
    # A child process given the parent's settings loads the same ones (not "both" set).
    assert load_settings(environment_of(settings, base={})) == settings


def test_allow_list_and_numbers_are_read():
    settings = load_settings(
        {
            "FLEETSTATE_WEBHOOK_ALLOW": "127.0.0.1:8099,10.1.0.0/16",
            "FLEETSTATE_WEBHOOK_TIMEOUT_SECONDS": "2.5",
            "FLEETSTATE_WEBHOOK_PER_HOST": "8",
        }
    )
    assert settings.webhook_allow == "127.0.0.1:8099,10.1.0.0/16"
    assert (settings.webhook_timeout_seconds, settings.webhook_per_host) == (2.5, 8)
