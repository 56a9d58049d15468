"""No Docker engine runs here, so compose.yaml is checked for what can be checked: it parses, and
its images, ports and variables match the Makefile stack and the service's settings."""

from __future__ import annotations

import base64
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


def cluster() -> tuple[list[dict], dict]:
    services = compose()["services"]
    nodes = [services[f"kafka-{n}"] for n in (1, 2, 3)]
    return nodes, services["fleetstate-cluster"]


def test_the_cluster_profile_is_three_nodes_of_one_quorum_that_keep_two_copies_of_each_write():
    nodes, app = cluster()
    assert all(node["profiles"] == ["cluster"] for node in nodes) and app["profiles"] == ["cluster"]
    assert "profiles" not in compose()["services"]["kafka"]  # `docker compose up` is unchanged
    envs = [node["environment"] for node in nodes]
    assert len({env["CLUSTER_ID"] for env in envs}) == 1
    assert len(base64.urlsafe_b64decode(envs[0]["CLUSTER_ID"] + "==")) == 16  # a UUID
    assert [env["KAFKA_NODE_ID"] for env in envs] == ["1", "2", "3"]
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    for env in envs:
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
    # The host reaches node n where the dev stack's cluster has it (devstack/stack.sh).
    for n, node in enumerate(nodes, 1):
        port = 9092 + 2 * (n - 1)
        assert node["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert f"HOST://127.0.0.1:{port}" in node["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        assert node["image"] == compose()["services"]["kafka"]["image"]


def test_the_cluster_profile_runs_two_of_every_service_promising_what_the_brokers_keep():
    nodes, app = cluster()
    env = app["environment"]
    settings = load_settings(env)
    assert settings.kafka_bootstrap.split(",") == [f"kafka-{n}:19092" for n in (1, 2, 3)]
    broker = nodes[0]["environment"]
    assert str(settings.replication_factor) == broker["KAFKA_DEFAULT_REPLICATION_FACTOR"]
    assert str(settings.min_insync_replicas) == broker["KAFKA_MIN_INSYNC_REPLICAS"]
    assert settings.instances == 2
    assert set(app["depends_on"]) == {"kafka-1", "kafka-2", "kafka-3", "postgres"}
    assert set(env) <= set(ENVIRONMENT)
