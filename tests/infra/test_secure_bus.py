"""The locked-down bus (devstack/secure.sh): TLS, SASL/SCRAM and the ACLs of services/acls.py,
tried against a real broker of its own, as each principal and as strangers."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NoError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    for_code,
)

from events.client import CommandClient
from events.commands import CreateAccount, CreateFleet
from events.kafka_security import KafkaSecurity, kafka_options
from events.network import SmsToDevice, decode_from_network, encode
from services.config import Settings, load_settings, with_topic_prefix
from services.credentials import hash_auth_token, new_account_sid, new_auth_token
from services.health import kafka_refusal
from services.operator import execute
from tests.network import support as network_topics
from tests.services import ServiceProcess, until_ok

pytestmark = pytest.mark.xdist_group("heavy")

ROOT = Path(__file__).resolve().parents[2]
# The topics secure.sh creates and its ACLs name: those the services run on, and a second set
# (the same table applied again under another prefix) for tests that write stray records,
# which the services must never read (the events are a hash chain).
PREFIX, SCRATCH_PREFIX = "secure", "secure-scratch"
START_TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SecureBus:
    directory: Path
    bootstrap: str
    settings: Settings  # the services' topics
    scratch: Settings  # topics for stray records

    def environment(self, principal: str) -> dict[str, str]:
        """The FLEETSTATE_KAFKA_* variables secure.sh wrote for `principal`."""
        text = (self.directory / "principals" / f"{principal}.env").read_text()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def security(self, principal: str) -> KafkaSecurity:
        return KafkaSecurity.from_environment(self.environment(principal))

    @property
    def ca_file(self) -> str:
        return str(self.directory / "tls" / "ca.pem")


def _script(action: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(ROOT / "devstack" / "secure.sh"), action], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"secure.sh {action} failed:\n{done.stdout}\n{done.stderr}"


# Session-scoped though only this module uses it: pytest-xdist tears a module's fixtures down
# whenever a worker's next test is another module's, and this broker takes half a minute.
@pytest.fixture(scope="session")
def bus(tmp_path_factory) -> SecureBus:
    directory = tmp_path_factory.mktemp("secure-bus")
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSTATE_")}
    env = {
        **base,
        "FLEETSTATE_STACK_DIR": str(directory),
        "FLEETSTATE_KAFKA_PORT": str(port),
        "FLEETSTATE_KAFKA_CONTROLLER_PORT": str(free_port()),
        "FLEETSTATE_TOPIC_PREFIX": PREFIX,
        "FLEETSTATE_PARTITIONS": "2",
        "FLEETSTATE_START_TIMEOUT": str(START_TIMEOUT),
    }
    try:
        _script("start", env)
        # Started again: the broker is up, so this only adds the second set's topics and ACLs.
        _script("start", {**env, "FLEETSTATE_TOPIC_PREFIX": SCRATCH_PREFIX})
        settings, scratch = (
            msgspec.structs.replace(
                with_topic_prefix(load_settings(), prefix),
                kafka_bootstrap=f"127.0.0.1:{port}",
                partitions=2,
            )
            for prefix in (PREFIX, SCRATCH_PREFIX)
        )
        yield SecureBus(directory, settings.kafka_bootstrap, settings, scratch)
    finally:
        _script("stop", env)


async def produce(bus: SecureBus, security: KafkaSecurity, topic: str, **options) -> None:
    producer = AIOKafkaProducer(
        **kafka_options(bus.bootstrap, security), request_timeout_ms=10_000, **options
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"secure-bus test", key=b"AC0")
    finally:
        await producer.stop()


async def read_end_offsets(
    bus: SecureBus, security: KafkaSecurity, topic: str, timeout_ms: int = 10_000
) -> None:
    consumer = AIOKafkaConsumer(
        **kafka_options(bus.bootstrap, security),
        enable_auto_commit=False,
        request_timeout_ms=timeout_ms,
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.end_offsets([tp])
        consumer.seek(tp, 0)
        await consumer.getmany(tp, timeout_ms=1000)
    finally:
        await consumer.stop()


async def metadata_error(bus: SecureBus, security: KafkaSecurity, topic: str) -> type:
    """What the broker answers `security` asking for `topic`'s metadata (NoError: allowed)."""
    admin = AIOKafkaAdminClient(**kafka_options(bus.bootstrap, security))
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return for_code(described["error_code"])
    finally:
        await admin.close()


# ------------------------------------------------------------------ strangers


async def test_a_client_without_credentials_cannot_produce_or_read(bus):
    commands = bus.scratch.commands_topic
    for stranger in (KafkaSecurity(), KafkaSecurity("SSL", ca_file=bus.ca_file)):
        with pytest.raises(KafkaConnectionError):
            await produce(bus, stranger, commands)
        with pytest.raises(KafkaConnectionError):
            await read_end_offsets(bus, stranger, commands)
        assert "the broker hung up" in await kafka_refusal(bus.bootstrap, stranger)


async def test_a_wrong_password_is_refused_and_said_so(bus):
    api = bus.security("api")
    for wrong in (
        KafkaSecurity("SASL_SSL", username="api", password="not-its-password", ca_file=api.ca_file),
        KafkaSecurity("SASL_SSL", username="nobody", password=api.password, ca_file=api.ca_file),
    ):
        with pytest.raises(KafkaConnectionError):
            await produce(bus, wrong, bus.scratch.commands_topic)
        with pytest.raises(KafkaConnectionError):
            await read_end_offsets(bus, wrong, bus.scratch.outcomes_topic)
        reason = await kafka_refusal(bus.bootstrap, wrong)
        assert "SaslAuthenticationFailed" in reason and "invalid credentials" in reason
    assert await kafka_refusal(bus.bootstrap, api) is None


@pytest.fixture
def other_ca(tmp_path) -> str:
    """A CA of the same kind that did not sign the broker's certificate."""
    subprocess.run([sys.executable, str(ROOT / "devstack" / "certs.py"), str(tmp_path)], check=True)
    return str(tmp_path / "ca.pem")


async def test_a_client_that_does_not_trust_the_ca_fails_the_handshake(bus, other_ca):
    api = bus.security("api")
    stranger_ca = KafkaSecurity("SASL_SSL", username="api", password=api.password, ca_file=other_ca)
    with pytest.raises(KafkaConnectionError):
        await produce(bus, stranger_ca, bus.scratch.commands_topic)
    reason = await kafka_refusal(bus.bootstrap, stranger_ca)
    assert "CERTIFICATE_VERIFY_FAILED" in reason


# ------------------------------------------------------------------ principals


async def test_the_api_sends_commands_and_nothing_else(bus):
    api, s = bus.security("api"), bus.scratch
    await produce(bus, api, s.commands_topic, acks="all", enable_idempotence=True)
    for topic in (s.operator_topic, s.internal_topic, s.events_topic, s.processor_changelog_topic):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(bus, api, topic)
    # Reading: the broker will not even say the changelog exists, so a reader finds no
    # partition to read; the outcomes, where its answers come from, it reads.
    changelog = s.processor_changelog_topic
    assert await metadata_error(bus, api, changelog) is TopicAuthorizationFailedError
    with pytest.raises(KafkaTimeoutError):
        await read_end_offsets(bus, api, changelog, timeout_ms=3000)
    assert await metadata_error(bus, api, s.outcomes_topic) is NoError
    await read_end_offsets(bus, api, s.outcomes_topic)


async def test_the_operator_sends_operator_commands_only(bus):
    operator, s = bus.security("operator"), bus.scratch
    await produce(bus, operator, s.operator_topic, acks="all", enable_idempotence=True)
    for topic in (s.events_topic, s.commands_topic, s.internal_topic):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(bus, operator, topic)


async def test_the_processor_commits_transactions_under_its_own_ids_only(bus, unique):
    processor, s = bus.security("processor"), bus.scratch
    producer = AIOKafkaProducer(
        **kafka_options(bus.bootstrap, processor),
        transactional_id=f"fleetstate-processor.{s.commands_topic}.test-{unique}",
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(s.events_topic, b"secure-bus test", key=b"AC0", partition=0)
            await producer.send_offsets_to_transaction(
                {TopicPartition(s.commands_topic, 0): 0}, f"fleetstate-processor.test-{unique}"
            )
    finally:
        await producer.stop()
    # Committed: a read_committed reader (the processor itself reads the events) sees it.
    await wait_until_read(bus, processor, s.events_topic, b"secure-bus test")
    for foreign in (f"fleetstate-usage.{unique}", f"test-{unique}"):
        producer = AIOKafkaProducer(
            **kafka_options(bus.bootstrap, processor), transactional_id=foreign
        )
        with pytest.raises(TransactionalIdAuthorizationFailed):
            await producer.start()
        await producer.stop()


async def test_the_network_reads_and_answers_on_its_two_topics_only(bus, tmp_path):
    """The simulator as the network principal: it answers what the processor relays (which it
    may write), and may write nothing of fleetstate's own."""
    network, processor, s = bus.security("network"), bus.security("processor"), bus.scratch
    for topic in (s.events_topic, s.commands_topic, s.internal_topic, s.network_out_topic):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(bus, network, topic)
    assert await metadata_error(bus, network, s.events_topic) is TopicAuthorizationFailedError
    message = SmsToDevice(
        message_id="HC" + uuid.uuid4().hex,
        account_sid="AC" + "1" * 32,
        sim_sid="HS" + "2" * 32,
        iccid="8901260000000000001",
        payload="hello device",
        sent_at=datetime.now(UTC),
    )
    key = message.iccid.encode()
    await network_topics.produce(s, s.network_out_topic, [(key, encode(message))], processor)
    sim = ServiceProcess(
        "network-sim", s, log_path=tmp_path / "sim.log", env=bus.environment("network")
    )

    def answered(records) -> bool:
        statuses = [decode_from_network(r.value).status for r in records]
        return statuses == ["sent", "delivered"]

    sim.start()
    try:
        await network_topics.read_until(s, s.network_in_topic, answered, security=processor)
    finally:
        sim.stop()


async def wait_until_read(bus: SecureBus, security: KafkaSecurity, topic: str, value: bytes):
    """Reads `topic` as `security` (read_committed, no group) until `value` comes: a commit
    returns before the broker has written its markers, so a committed record shows a moment
    later."""
    consumer = AIOKafkaConsumer(
        **kafka_options(bus.bootstrap, security),
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(bus.scratch.partitions)])
        async with asyncio.timeout(30):
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                if any(r.value == value for records in batches.values() for r in records):
                    return
    finally:
        await consumer.stop()


# ------------------------------------------------------------------ the services


def log_of(service: ServiceProcess) -> str:
    return Path(service.log_path).read_text(errors="replace")


async def wait_for_line(service: ServiceProcess, text: str) -> None:
    """Until the service logs `text`; fails at once, with its log, if it exits first."""
    async with asyncio.timeout(START_TIMEOUT):
        while text not in log_of(service):
            assert service.process.poll() is None, f"{service.name} exited:\n{log_of(service)}"
            await asyncio.sleep(0.1)


async def wait_ready(url: str) -> None:
    await until_ok(url, START_TIMEOUT)


async def test_every_service_runs_as_its_own_principal(bus, migrated, tmp_path):
    """Each service starts (its start-up check, group, restore and transactions), and a command
    travels operator -> processor -> projector, each as its principal, and the api principal
    cannot ask for what only the operator may: every row of the ACL table
    that a service uses is exercised, and none of them is refused anything."""
    settings = msgspec.structs.replace(
        bus.settings, database_url=migrated, api_port=free_port(), api_metrics_port=0
    )
    principals = {
        "processor": "processor",
        "usage-processor": "usage",
        "projector": "projector",
        "usage-projector": "projector",
        "api": "api",
    }
    services = {
        name: ServiceProcess(
            name, settings, log_path=tmp_path / f"{name}.log", env=bus.environment(principal)
        )
        for name, principal in principals.items()
    }
    for service in services.values():
        service.start()
    try:
        await wait_for_line(services["processor"], "processor answers partitions")
        await wait_for_line(services["usage-processor"], "usage processor answers partitions")
        await wait_ready(f"http://127.0.0.1:{settings.api_port}/readyz")
        account = new_account_sid()
        command = CreateAccount(
            friendly_name="locked-down", auth_token_hash=hash_auth_token(new_auth_token())
        )
        async with CommandClient(
            settings.kafka_bootstrap,
            commands_topic=settings.commands_topic,
            operator_topic=settings.operator_topic,
            outcomes_topic=settings.outcomes_topic,
            actor="operator",
            security=bus.security("operator"),
        ) as operator:
            # On the operator's topic: decided in the processor's transaction, answered, and
            # projected (execute waits for the read model).
            outcome = await execute(settings, operator, command, account_sid=account)
            assert outcome.rejection is None and outcome.events
        async with CommandClient(
            settings.kafka_bootstrap,
            commands_topic=settings.commands_topic,
            outcomes_topic=settings.outcomes_topic,
            actor="test",
            security=bus.security("api"),
        ) as client:
            # The api principal may only write the tenants' topic: an account it asks for
            # there is refused by the processor, a tenant's command decided.
            forged = await client.execute(command, account_sid=new_account_sid(), timeout=30)
            assert forged.rejection is not None and forged.rejection.code == 20001, forged
            assert "only the operator" in forged.rejection.message
            fleet = await client.execute(
                CreateFleet(network_access_profile="none", unique_name=f"f-{uuid.uuid4().hex}"),
                account_sid=account,
                timeout=30,
            )
            assert fleet.rejection is not None and fleet.rejection.http_status == 404, fleet
        for service in services.values():
            assert service.process.poll() is None, f"{service.name} exited"
    finally:
        for service in services.values():
            service.stop()
    for name, service in services.items():
        log = log_of(service)
        assert "not authorized" not in log and "AuthorizationFailed" not in log, (name, log)
