"""Settings from environment variables, with defaults that match the local dev stack."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import msgspec

from events.iccid import iccid_is_valid
from events.ip_pools import DEFAULT_POOL, IpPools, PoolError
from events.kafka_security import KafkaSecurity, KafkaSecurityError
from services.delivery.sealing import SealError, TokenSeal, parse_keys
from services.delivery.target import Policy
from services.domain.periods import BillingPeriod


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = "postgresql://fleetstate:fleetstate@127.0.0.1:5433/fleetstate"
    # Commands arrive on three topics of one partition count, one per kind of sender (see
    # events.commands.sender_of): tenants, the operator, fleetstate's own processors.
    commands_topic: str = "fleetstate.commands"
    operator_topic: str = "fleetstate.commands.operator"
    internal_topic: str = "fleetstate.commands.internal"
    events_topic: str = "fleetstate.events"
    outcomes_topic: str = "fleetstate.outcomes"
    dlq_topic: str = "fleetstate.commands.dlq"
    # The command processor's state, one compacted partition per commands partition, and the
    # catalogue every processor reads whole (both rebuilt from the events if deleted).
    processor_changelog_topic: str = "fleetstate.processor.changelog"
    catalogue_topic: str = "fleetstate.catalogue"
    # How long command ids are remembered: a retry inside it gets the first outcome, a
    # command issued longer ago than this is refused (never decided twice).
    command_dedup_hours: int = 24
    # A SIM card reserved for a registration that has not finished after this long is asked
    # about again: the registering account's partition refuses it and the card is released.
    card_reservation_seconds: float = 60.0
    # Commands, events and outcomes share one partition count: a command's events land in the
    # partition of the same number, so one processor owns an account end to end.
    partitions: int = 4
    # The replication the deployment promises: topics are created with it, and a service
    # refuses to start on a topic with fewer replicas or a lower min.insync.replicas.
    replication_factor: int = 1
    min_insync_replicas: int = 1
    # How many of each service `fleetstate run` starts (the network simulator: always one).
    # Above 1 the API's instances share its port (SO_REUSEPORT) and the others' metrics
    # ports step by 100 per instance.
    instances: int = 1
    # Data usage: reports in, the usage log (facts, kept forever), reports that could not count.
    usage_topic: str = "fleetstate.usage"
    usage_log_topic: str = "fleetstate.usage.log"
    usage_dlq_topic: str = "fleetstate.usage.dlq"
    usage_changelog_topic: str = "fleetstate.usage.changelog"
    # "month" (calendar month, UTC) or a fixed length aligned to the Unix epoch: "30d", "1h", "20s".
    billing_period: str = "month"
    # Billing periods whose session ids are kept for de-duplication (the current one included);
    # a report of an older period is refused as too late.
    usage_dedup_periods: int = 2
    # The mobile network (events/network.py): messages for devices out, receipts and messages
    # from devices in (both keyed by ICCID), and network messages that could not be read.
    network_out_topic: str = "fleetstate.network.to-devices"
    network_in_topic: str = "fleetstate.network.from-devices"
    network_dlq_topic: str = "fleetstate.network.dead-letters"
    # "on": `fleetstate run` also runs the network simulator (services/network_sim), which
    # answers network_out like a network. A dev tool: never on in production, where the real
    # network answers. ICCIDs (comma-separated) it answers as not attached to any network.
    network_sim: Literal["on", "off"] = "off"
    network_sim_unreachable: str = ""
    # How long a processor may be silent before the group gives its partitions to another.
    processor_session_timeout_ms: int = 10_000
    # Where `fleetstate run` has the processors serve Prometheus metrics (0: not at all).
    processor_metrics_port: int = 8081
    usage_metrics_port: int = 8082
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # The API's Prometheus metrics: on a port of their own (0: none), and on the public API
    # port only if this dev setting says so.
    api_metrics_host: str = "127.0.0.1"
    api_metrics_port: int = 8083
    api_public_metrics: bool = False
    # Public base URL for absolute `url` fields; empty means the request's own scheme and host.
    public_base_url: str = ""
    # How long a write waits for its outcome and for the read model to show it before the API
    # answers 202 (accepted, not yet visible) instead of 201/200.
    api_write_timeout: float = 10.0
    # A verified auth token hash is kept this long after it was read from PostgreSQL (never
    # longer: hits do not extend it), so a rotated token or a closed account stops working
    # within the projection's lag plus this.
    api_auth_cache_seconds: float = 2.0
    # Token buckets (requests a second, and the burst allowed at once), in each API process:
    # every authenticated request of a client address, then of an account; and requests that
    # failed to authenticate, per address, checked before auth queries the database.
    api_rate_per_address: float = 1000.0
    api_burst_per_address: int = 2000
    api_rate_per_account: float = 500.0
    api_burst_per_account: int = 1000
    api_failed_logins_per_second: float = 1.0
    api_failed_logins_burst: int = 30
    # Where `fleetstate run` remembers the demo account's credentials (git-ignored).
    demo_file: str = ".devstack/demo.json"
    # Outbound webhooks (services/delivery). Addresses a webhook may reach although they are
    # not public (comma-separated networks, or address:port for one port; see target.py).
    webhook_allow: str = ""
    # One attempt, redirects and reading the response included; then it is retried.
    webhook_timeout_seconds: float = 10.0
    # Requests in flight to one host:port at once, so one slow host cannot hold every sender.
    webhook_per_host: int = 4
    # Attempts in flight at once in one delivery service, whatever the host.
    webhook_concurrency: int = 64
    # Retries wait up to base * 2**(n-1) seconds, never over the cap; after the horizon (from
    # the first attempt) the delivery is given up.
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_cap_seconds: float = 3600.0
    webhook_retry_horizon_hours: float = 24.0
    # Fernet keys sealing the auth tokens webhooks are signed with, newest first
    # (comma-separated), or a file holding them; see services/delivery/sealing.py.
    token_keys: str = ""
    token_keys_file: str = ""
    # Address pools of active Sims (events/ip_pools.py): a CIDR for every account, and
    # `AC...=CIDR` entries for some, comma-separated. Pools may overlap or be shared.
    ip_pools: str = DEFAULT_POOL
    # "off": no trace context is read from or written to any header, no span is made (see
    # events/tracing.py; exporting is configured by the standard OTEL_* variables).
    tracing: Literal["on", "off"] = "on"


# Environment variable -> field. Kept explicit so the README table and the code agree.
ENVIRONMENT = {
    "FLEETSTATE_KAFKA_BOOTSTRAP": "kafka_bootstrap",
    "FLEETSTATE_DATABASE_URL": "database_url",
    "FLEETSTATE_COMMANDS_TOPIC": "commands_topic",
    "FLEETSTATE_OPERATOR_TOPIC": "operator_topic",
    "FLEETSTATE_INTERNAL_TOPIC": "internal_topic",
    "FLEETSTATE_EVENTS_TOPIC": "events_topic",
    "FLEETSTATE_OUTCOMES_TOPIC": "outcomes_topic",
    "FLEETSTATE_DLQ_TOPIC": "dlq_topic",
    "FLEETSTATE_PROCESSOR_CHANGELOG_TOPIC": "processor_changelog_topic",
    "FLEETSTATE_CATALOGUE_TOPIC": "catalogue_topic",
    "FLEETSTATE_COMMAND_DEDUP_HOURS": "command_dedup_hours",
    "FLEETSTATE_CARD_RESERVATION_SECONDS": "card_reservation_seconds",
    "FLEETSTATE_PARTITIONS": "partitions",
    "FLEETSTATE_REPLICATION_FACTOR": "replication_factor",
    "FLEETSTATE_MIN_INSYNC_REPLICAS": "min_insync_replicas",
    "FLEETSTATE_INSTANCES": "instances",
    "FLEETSTATE_USAGE_TOPIC": "usage_topic",
    "FLEETSTATE_USAGE_LOG_TOPIC": "usage_log_topic",
    "FLEETSTATE_USAGE_DLQ_TOPIC": "usage_dlq_topic",
    "FLEETSTATE_USAGE_CHANGELOG_TOPIC": "usage_changelog_topic",
    "FLEETSTATE_BILLING_PERIOD": "billing_period",
    "FLEETSTATE_IP_POOLS": "ip_pools",
    "FLEETSTATE_USAGE_DEDUP_PERIODS": "usage_dedup_periods",
    "FLEETSTATE_NETWORK_OUT_TOPIC": "network_out_topic",
    "FLEETSTATE_NETWORK_IN_TOPIC": "network_in_topic",
    "FLEETSTATE_NETWORK_DLQ_TOPIC": "network_dlq_topic",
    "FLEETSTATE_NETWORK_SIM": "network_sim",
    "FLEETSTATE_NETWORK_SIM_UNREACHABLE": "network_sim_unreachable",
    "FLEETSTATE_PROCESSOR_SESSION_TIMEOUT_MS": "processor_session_timeout_ms",
    "FLEETSTATE_PROCESSOR_METRICS_PORT": "processor_metrics_port",
    "FLEETSTATE_USAGE_METRICS_PORT": "usage_metrics_port",
    "FLEETSTATE_API_HOST": "api_host",
    "FLEETSTATE_API_PORT": "api_port",
    "FLEETSTATE_API_METRICS_HOST": "api_metrics_host",
    "FLEETSTATE_API_METRICS_PORT": "api_metrics_port",
    "FLEETSTATE_API_PUBLIC_METRICS": "api_public_metrics",
    "FLEETSTATE_PUBLIC_BASE_URL": "public_base_url",
    "FLEETSTATE_API_WRITE_TIMEOUT": "api_write_timeout",
    "FLEETSTATE_API_AUTH_CACHE_SECONDS": "api_auth_cache_seconds",
    "FLEETSTATE_API_RATE_PER_ADDRESS": "api_rate_per_address",
    "FLEETSTATE_API_BURST_PER_ADDRESS": "api_burst_per_address",
    "FLEETSTATE_API_RATE_PER_ACCOUNT": "api_rate_per_account",
    "FLEETSTATE_API_BURST_PER_ACCOUNT": "api_burst_per_account",
    "FLEETSTATE_API_FAILED_LOGINS_PER_SECOND": "api_failed_logins_per_second",
    "FLEETSTATE_API_FAILED_LOGINS_BURST": "api_failed_logins_burst",
    "FLEETSTATE_DEMO_FILE": "demo_file",
    "FLEETSTATE_WEBHOOK_ALLOW": "webhook_allow",
    "FLEETSTATE_WEBHOOK_TIMEOUT_SECONDS": "webhook_timeout_seconds",
    "FLEETSTATE_WEBHOOK_PER_HOST": "webhook_per_host",
    "FLEETSTATE_WEBHOOK_CONCURRENCY": "webhook_concurrency",
    "FLEETSTATE_WEBHOOK_RETRY_BASE_SECONDS": "webhook_retry_base_seconds",
    "FLEETSTATE_WEBHOOK_RETRY_CAP_SECONDS": "webhook_retry_cap_seconds",
    "FLEETSTATE_WEBHOOK_RETRY_HORIZON_HOURS": "webhook_retry_horizon_hours",
    "FLEETSTATE_TOKEN_KEYS": "token_keys",
    "FLEETSTATE_TOKEN_KEYS_FILE": "token_keys_file",
    "FLEETSTATE_TRACING": "tracing",
}


# Each topic setting and the name it takes under a prefix: "fleetstate" gives the defaults.
TOPIC_SUFFIXES = {
    "commands_topic": "commands",
    "operator_topic": "commands.operator",
    "internal_topic": "commands.internal",
    "events_topic": "events",
    "outcomes_topic": "outcomes",
    "dlq_topic": "commands.dlq",
    "processor_changelog_topic": "processor.changelog",
    "catalogue_topic": "catalogue",
    "usage_topic": "usage",
    "usage_log_topic": "usage.log",
    "usage_dlq_topic": "usage.dlq",
    "usage_changelog_topic": "usage.changelog",
    "network_out_topic": "network.to-devices",
    "network_in_topic": "network.from-devices",
    "network_dlq_topic": "network.dead-letters",
}


def with_topic_prefix(settings: Settings, prefix: str) -> Settings:
    """`settings` with every topic renamed under `prefix`: how tests, benchmarks and the chaos
    run get topics of their own (missing one would share, and perhaps misshape, a real one)."""
    names = {field: f"{prefix}.{suffix}" for field, suffix in TOPIC_SUFFIXES.items()}
    return msgspec.structs.replace(settings, **names)


class ConfigError(ValueError):
    pass


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    given = {field: environ[var] for var, field in ENVIRONMENT.items() if var in environ}
    try:
        settings = msgspec.convert(given, Settings, strict=False)
    except msgspec.ValidationError as exc:
        field = str(exc).rpartition("$.")[2].rstrip("`")  # "... - at `$.field`"
        var = next((v for v, f in ENVIRONMENT.items() if f == field), field)
        raise ConfigError(f"invalid {var}: {exc}") from None
    if settings.partitions < 1:
        raise ConfigError("FLEETSTATE_PARTITIONS must be at least 1")
    if settings.replication_factor < 1 or settings.min_insync_replicas < 1:
        raise ConfigError(
            "FLEETSTATE_REPLICATION_FACTOR and FLEETSTATE_MIN_INSYNC_REPLICAS must be at least 1"
        )
    if settings.instances < 1:
        raise ConfigError("FLEETSTATE_INSTANCES must be at least 1")
    if settings.command_dedup_hours < 1:
        raise ConfigError("FLEETSTATE_COMMAND_DEDUP_HOURS must be at least 1")
    if settings.card_reservation_seconds <= 0:
        raise ConfigError("FLEETSTATE_CARD_RESERVATION_SECONDS must be more than 0")
    if settings.usage_dedup_periods < 1:
        raise ConfigError("FLEETSTATE_USAGE_DEDUP_PERIODS must be at least 1")
    if settings.api_auth_cache_seconds < 0:
        raise ConfigError("FLEETSTATE_API_AUTH_CACHE_SECONDS must be 0 or more")
    for var in (
        "FLEETSTATE_API_RATE_PER_ADDRESS",
        "FLEETSTATE_API_RATE_PER_ACCOUNT",
        "FLEETSTATE_API_FAILED_LOGINS_PER_SECOND",
    ):
        if getattr(settings, ENVIRONMENT[var]) <= 0:
            raise ConfigError(f"{var} must be more than 0")
    for var in (
        "FLEETSTATE_API_BURST_PER_ADDRESS",
        "FLEETSTATE_API_BURST_PER_ACCOUNT",
        "FLEETSTATE_API_FAILED_LOGINS_BURST",
    ):
        if getattr(settings, ENVIRONMENT[var]) < 1:
            raise ConfigError(f"{var} must be at least 1")
    try:  # the Kafka principal is read from the same environment: refuse a bad one at start
        KafkaSecurity.from_environment(environ)
    except KafkaSecurityError as exc:
        raise ConfigError(str(exc)) from None
    wrong = [i for i in unreachable_iccids(settings) if not iccid_is_valid(i)]
    if wrong:
        raise ConfigError(f"FLEETSTATE_NETWORK_SIM_UNREACHABLE: not an ICCID: {', '.join(wrong)}")
    try:
        BillingPeriod.parse(settings.billing_period)
    except ValueError as exc:
        raise ConfigError(f"invalid FLEETSTATE_BILLING_PERIOD: {exc}") from None
    try:
        ip_pools_of(settings)
    except PoolError as exc:
        raise ConfigError(f"invalid FLEETSTATE_IP_POOLS: {exc}") from None
    _check_webhooks(settings)
    keys = token_keys_of(settings)
    if keys:
        try:
            TokenSeal.from_keys(keys)
        except SealError as exc:
            raise ConfigError(f"invalid FLEETSTATE_TOKEN_KEYS: {exc}") from None
    return settings


def _check_webhooks(settings: Settings) -> None:
    try:
        Policy.parse(settings.webhook_allow)
    except ValueError as exc:
        raise ConfigError(f"invalid FLEETSTATE_WEBHOOK_ALLOW: {exc}") from None
    if settings.webhook_timeout_seconds <= 0:
        raise ConfigError("FLEETSTATE_WEBHOOK_TIMEOUT_SECONDS must be more than 0")
    if settings.webhook_concurrency < 1:
        raise ConfigError("FLEETSTATE_WEBHOOK_CONCURRENCY must be at least 1")
    if settings.webhook_per_host < 1:
        raise ConfigError("FLEETSTATE_WEBHOOK_PER_HOST must be at least 1")
    if settings.webhook_retry_base_seconds <= 0:
        raise ConfigError("FLEETSTATE_WEBHOOK_RETRY_BASE_SECONDS must be more than 0")
    if settings.webhook_retry_cap_seconds < settings.webhook_retry_base_seconds:
        raise ConfigError(
            "FLEETSTATE_WEBHOOK_RETRY_CAP_SECONDS must be at least "
            "FLEETSTATE_WEBHOOK_RETRY_BASE_SECONDS"
        )
    if settings.webhook_retry_horizon_hours <= 0:
        raise ConfigError("FLEETSTATE_WEBHOOK_RETRY_HORIZON_HOURS must be more than 0")


def ip_pools_of(settings: Settings) -> IpPools:
    return IpPools.parse(settings.ip_pools)


def token_keys_of(settings: Settings) -> list[str]:
    """The token keys, newest first, from FLEETSTATE_TOKEN_KEYS or the file
    FLEETSTATE_TOKEN_KEYS_FILE names (a mounted secret: commas or one key a line)."""
    if settings.token_keys and settings.token_keys_file:
        raise ConfigError("set FLEETSTATE_TOKEN_KEYS or FLEETSTATE_TOKEN_KEYS_FILE, not both")
    if not settings.token_keys_file:
        return parse_keys(settings.token_keys)
    try:
        return parse_keys(Path(settings.token_keys_file).read_text())
    except OSError as exc:
        raise ConfigError(f"FLEETSTATE_TOKEN_KEYS_FILE: {exc}") from None


def unreachable_iccids(settings: Settings) -> frozenset[str]:
    """The ICCIDs FLEETSTATE_NETWORK_SIM_UNREACHABLE names."""
    return frozenset(i.strip() for i in settings.network_sim_unreachable.split(",") if i.strip())


def environment_of(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that makes a child process load exactly `settings` (the inverse of
    `load_settings`), on top of `base` (default: this process's environment)."""
    env = dict(os.environ if base is None else base)
    for var, field in ENVIRONMENT.items():
        env[var] = str(getattr(settings, field))
    return env
