"""No Docker engine runs here, so compose.yaml is checked for what can be checked: it parses, and
its images, ports and variables match the Makefile stack and the service's settings."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from services.config import ENVIRONMENT, load_settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_the_kafka_version_the_dev_stack_resolves():
    pom = (ROOT / "devstack" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>(.+)</kafka.version>", pom).group(1)
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{version}"


def test_compose_publishes_the_ports_of_the_default_settings():
    defaults = load_settings({})
    services = compose()["services"]
    kafka_port = defaults.kafka_bootstrap.rsplit(":", 1)[1]
    pg_port = str(urlsplit(defaults.database_url).port)
    assert f"127.0.0.1:{kafka_port}:9092" in services["kafka"]["ports"]
    assert f"127.0.0.1:{pg_port}:5432" in services["postgres"]["ports"]
    assert f"127.0.0.1:{defaults.api_port}:8080" in services["fleetstate"]["ports"]


def test_compose_database_credentials_match_the_default_database_url():
    url = urlsplit(load_settings({}).database_url)
    env = compose()["services"]["postgres"]["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == (
        url.username,
        url.password,
        url.path.lstrip("/"),
    )


def test_every_variable_compose_sets_is_one_the_service_reads():
    env = compose()["services"]["fleetstate"]["environment"]
    assert set(env) <= set(ENVIRONMENT), set(env) - set(ENVIRONMENT)
    load_settings(env)  # and each value is valid
