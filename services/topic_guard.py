"""Refuses topics whose settings would lose the log: every service checks them at start.

Topic settings can be changed behind our back (kafka-configs.sh, a topic made by hand before the
first start), and the broker then deletes or compacts records silently. So the settings that
keep the log are read from the broker and compared, never trusted.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from services.config import Settings


class TopicSettingsError(RuntimeError):
    """A topic's settings would lose records; the message names the topic and the setting."""


def _rules(settings: Settings) -> dict[str, dict[str, str]]:
    """Each topic and the values its settings must have."""
    # The log itself: deleted by neither age nor size, never compacted (events share keys).
    forever = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
    # State and catalogue: compaction keeps the last record of every key; "compact,delete"
    # would also drop old keys by age.
    compact = {"cleanup.policy": "compact"}
    return {
        settings.events_topic: forever,
        settings.outcomes_topic: forever,
        settings.usage_log_topic: forever,
        settings.processor_changelog_topic: compact,
        settings.usage_changelog_topic: compact,
        settings.catalogue_topic: compact,
    }


async def _configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for error_code, error_message, _, name, entries in response.resources:
            if error_code and for_code(error_code).retriable:
                # A broker of a cluster that has not yet heard of a topic just created:
                # ensure_topics asks again.
                raise for_code(error_code)(f"topic {name}: {error_message}")
            if error_code:
                raise TopicSettingsError(f"topic {name}: cannot read its settings: {error_message}")
            found[name] = {entry[0]: entry[1] for entry in entries}
    return found


async def check_topics(admin: AIOKafkaAdminClient, settings: Settings, names: list[str]) -> None:
    """Raises TopicSettingsError naming every topic and setting that would lose records."""
    rules = _rules(settings)
    configs = await _configs(admin, names)
    replicas = {
        t["topic"]: min((len(p["replicas"]) for p in t["partitions"]), default=0)
        for t in await admin.describe_topics(names)
    }
    problems = []
    for name in names:
        config = configs.get(name, {})
        for key, wanted in rules.get(name, {}).items():
            if config.get(key) != wanted:
                problems.append(f"topic {name}: {key} is {config.get(key)}, must be {wanted}")
        if replicas.get(name, 0) < settings.replication_factor:
            problems.append(
                f"topic {name}: replication factor {replicas.get(name)} is below "
                f"FLEETSTATE_REPLICATION_FACTOR {settings.replication_factor}"
            )
        min_isr = int(config.get("min.insync.replicas", "1"))
        if min_isr < settings.min_insync_replicas:
            problems.append(
                f"topic {name}: min.insync.replicas {min_isr} is below "
                f"FLEETSTATE_MIN_INSYNC_REPLICAS {settings.min_insync_replicas}"
            )
    if problems:
        raise TopicSettingsError(
            "refusing to start on topics that would lose records:\n  " + "\n  ".join(problems)
        )
