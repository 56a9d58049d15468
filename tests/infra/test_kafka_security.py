"""The Kafka principal from the environment: what a misconfigured process is told at start."""

from __future__ import annotations

import pytest

from events.kafka_security import KafkaSecurity, KafkaSecurityError, kafka_options
from services.config import ConfigError, load_settings


@pytest.fixture
def ca_file(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("not read until a connection is made")
    return str(path)


def test_plaintext_is_the_default_and_adds_nothing():
    assert KafkaSecurity.from_environment({}).options() == {}
    options = kafka_options("127.0.0.1:9", KafkaSecurity())
    assert options == {"bootstrap_servers": "127.0.0.1:9"}


@pytest.mark.parametrize(
    "environ, variable",
    [
        ({"FLEETSTATE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "SECURITY_PROTOCOL"),
        ({"FLEETSTATE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "FLEETSTATE_KAFKA_CA_FILE"),
        (
            {"FLEETSTATE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FLEETSTATE_KAFKA_CA_FILE": "CA"},
            "FLEETSTATE_KAFKA_USERNAME",
        ),
        (
            {
                "FLEETSTATE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "FLEETSTATE_KAFKA_CA_FILE": "CA",
                "FLEETSTATE_KAFKA_USERNAME": "api",
            },
            "FLEETSTATE_KAFKA_PASSWORD",
        ),
        (
            {
                "FLEETSTATE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "FLEETSTATE_KAFKA_CA_FILE": "CA",
                "FLEETSTATE_KAFKA_SASL_MECHANISM": "GSSAPI",
            },
            "FLEETSTATE_KAFKA_SASL_MECHANISM",
        ),
        (
            {"FLEETSTATE_KAFKA_PASSWORD": "x", "FLEETSTATE_KAFKA_PASSWORD_FILE": "/x"},
            "not both",
        ),
        ({"FLEETSTATE_KAFKA_PASSWORD_FILE": "/no/such/file"}, "FLEETSTATE_KAFKA_PASSWORD_FILE"),
    ],
)
def test_an_incomplete_setting_names_its_variable(environ, variable, ca_file):
    environ = {k: ca_file if v == "CA" else v for k, v in environ.items()}
    with pytest.raises(KafkaSecurityError, match=variable):
        KafkaSecurity.from_environment(environ)
    with pytest.raises(ConfigError, match=variable):  # every service refuses it at start
        load_settings(environ)


def test_a_missing_ca_file_is_named():
    with pytest.raises(KafkaSecurityError, match="FLEETSTATE_KAFKA_CA_FILE: no such file"):
        KafkaSecurity("SSL", ca_file="/no/such/ca.pem")


def test_the_password_comes_from_a_mounted_file_without_its_newline(tmp_path, ca_file):
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    security = KafkaSecurity.from_environment(
        {
            "FLEETSTATE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "FLEETSTATE_KAFKA_USERNAME": "processor",
            "FLEETSTATE_KAFKA_PASSWORD_FILE": str(secret),
            "FLEETSTATE_KAFKA_CA_FILE": ca_file,
        }
    )
    assert security.password == "s3cret"
    assert "s3cret" not in repr(security)
