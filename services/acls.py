"""Who may do what on the locked-down bus: one Kafka principal per service, least privilege.

`GRANTS` is the whole policy (the README's "The locked-down bus" explains it). Topic names
come from `Settings`, so a prefix or FLEETSTATE_*_TOPIC renames them and the ACLs follow;
groups and transactional ids are granted by prefix, because the services add the topic and
partition to them. Read and Write imply Describe on the same resource (Kafka's rule), so
Describe is only granted where nothing else is.

`python -m services.acls apply` (devstack/secure.sh runs it as the super user) creates the
topics and makes the broker's ACLs for these principals equal to the table;
`python -m services.acls principals` lists the principals to create users for.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from events.kafka_security import kafka_options
from services.config import ConfigError, Settings, load_settings, with_topic_prefix
from services.topics import ensure_topics, topic_specs

# Kafka's wire codes (org.apache.kafka.common.acl / resource).
TOPIC, GROUP, TRANSACTIONAL_ID = 2, 3, 5
ANY, LITERAL, PREFIXED = 1, 3, 4
OPERATIONS = {"Read": 3, "Write": 4, "Describe": 8, "DescribeConfigs": 10}
ALLOW = 3

ALL_TOPICS = "*every fleetstate topic*"  # a stand-in: the topics of `topic_specs`


@dataclass(frozen=True)
class Grant:
    principal: str
    operations: tuple[str, ...]
    resource: int
    names: tuple[str, ...]  # topics: Settings fields (or ALL_TOPICS); others: name prefixes
    why: str


START_CHECK = (
    "the start-up check (services/topics.py) lists, describes and reads every topic's settings"
)

GRANTS: tuple[Grant, ...] = (
    # api: the REST API and tenants' services send commands and wait for their outcomes.
    Grant("api", ("Write",), TOPIC, ("commands_topic",), "sends tenants' commands"),
    Grant(
        "api",
        ("Read",),
        TOPIC,
        ("outcomes_topic",),
        "waits for outcomes (CommandClient assigns partitions: no group)",
    ),
    # operator: operator commands (cards, networks, accounts), on a topic nobody else writes.
    Grant("operator", ("Write",), TOPIC, ("operator_topic",), "sends operator commands"),
    Grant("operator", ("Read",), TOPIC, ("outcomes_topic",), "waits for their outcomes"),
    # processor: decides the three command topics, one transaction per batch.
    Grant(
        "processor",
        ("Read",),
        TOPIC,
        ("commands_topic", "operator_topic", "internal_topic"),
        "its input, as a consumer group",
    ),
    Grant(
        "processor",
        ("Write",),
        TOPIC,
        (
            "events_topic",
            "outcomes_topic",
            "dlq_topic",
            "processor_changelog_topic",
            "catalogue_topic",
            "internal_topic",
        ),
        "a batch's events, outcomes, dead letters, state, catalogue facts and next steps",
    ),
    Grant(
        "processor",
        ("Read",),
        TOPIC,
        ("processor_changelog_topic", "catalogue_topic", "events_topic", "outcomes_topic"),
        "restores its state and the catalogue; reads a repeated command's first outcome back",
    ),
    Grant(
        "processor",
        ("Read",),
        GROUP,
        ("fleetstate-processor",),
        "its consumer group; input offsets are committed in its transactions",
    ),
    Grant(
        "processor",
        ("Write", "Describe"),
        TRANSACTIONAL_ID,
        ("fleetstate-processor",),
        "one transactional producer per input partition",
    ),
    Grant("processor", ("Describe", "DescribeConfigs"), TOPIC, (ALL_TOPICS,), START_CHECK),
    # The processor's side of the mobile network: the relay writes messages for devices from
    # the event log in its transactions (the transactional ids above), the ingress reads what
    # the network answers and dead-letters what it cannot read.
    Grant(
        "processor",
        ("Write",),
        TOPIC,
        ("network_out_topic", "network_dlq_topic"),
        "the relay's messages for devices; the ingress's dead letters",
    ),
    Grant(
        "processor",
        ("Read",),
        TOPIC,
        ("network_in_topic",),
        "the ingress: receipts and messages from devices, as a consumer group",
    ),
    Grant(
        "processor",
        ("Read",),
        GROUP,
        ("fleetstate-gateway",),
        "the network gateway's relay and ingress groups (`fleetstate network-gateway`)",
    ),
    Grant(
        "processor",
        ("Write", "Describe"),
        TRANSACTIONAL_ID,
        ("fleetstate-gateway",),
        "the gateway's transactional producers, one per input partition",
    ),
    # usage: usage reports -> usage log and data-limit commands.
    Grant("usage", ("Read",), TOPIC, ("usage_topic",), "its input, as a consumer group"),
    Grant(
        "usage",
        ("Write",),
        TOPIC,
        ("usage_log_topic", "usage_dlq_topic", "usage_changelog_topic", "internal_topic"),
        "a batch's usage facts, dead letters, state and data-limit commands",
    ),
    Grant(
        "usage",
        ("Read",),
        TOPIC,
        ("events_topic", "usage_log_topic", "usage_changelog_topic"),
        "follows the events (Sims, Fleets, limits); restores its state",
    ),
    Grant("usage", ("Read",), GROUP, ("fleetstate-usage",), "its consumer group"),
    Grant(
        "usage",
        ("Write", "Describe"),
        TRANSACTIONAL_ID,
        ("fleetstate-usage",),
        "one transactional producer per usage partition",
    ),
    Grant("usage", ("Describe", "DescribeConfigs"), TOPIC, (ALL_TOPICS,), START_CHECK),
    # projector: both projectors (read models, usage read models) share their log's
    # partitions as a consumer group; the offsets live in PostgreSQL, with the rows.
    Grant(
        "projector",
        ("Read",),
        TOPIC,
        ("events_topic", "usage_log_topic"),
        "projects the events and the usage log",
    ),
    Grant(
        "projector",
        ("Read",),
        GROUP,
        ("fleetstate-projection",),
        "its consumer group: the instances share the partitions (no offset is committed)",
    ),
    Grant("projector", ("Describe", "DescribeConfigs"), TOPIC, (ALL_TOPICS,), START_CHECK),
    # delivery: the webhooks; it reads the log and writes nothing to the bus (its state is in
    # PostgreSQL).
    Grant("delivery", ("Read",), TOPIC, ("events_topic",), "the events that call webhooks"),
    Grant(
        "delivery",
        ("Read",),
        GROUP,
        ("fleetstate-delivery",),
        "its intake's consumer group (offsets committed after the rows are written)",
    ),
    # network: the mobile network (or `fleetstate network-sim`), outside fleetstate; it sees
    # its two topics and nothing else.
    Grant(
        "network",
        ("Read",),
        TOPIC,
        ("network_out_topic",),
        "messages for devices, as a consumer group",
    ),
    Grant("network", ("Write",), TOPIC, ("network_in_topic",), "receipts and device messages"),
    Grant(
        "network",
        ("Read",),
        GROUP,
        ("fleetstate-network",),
        "its consumer group (the simulator's is fleetstate-network-sim.*)",
    ),
    Grant(
        "network",
        ("DescribeConfigs",),
        TOPIC,
        ("network_out_topic", "network_in_topic"),
        "the start-up check of its two topics",
    ),
)

PRINCIPALS = tuple(dict.fromkeys(grant.principal for grant in GRANTS))


# (resource type, name, pattern type, principal, host, operation, permission): a wire ACL.
Binding = tuple[int, str, int, str, str, int, int]


def bindings(settings: Settings, grants: tuple[Grant, ...] = GRANTS) -> set[Binding]:
    every_topic = [spec.name for spec in topic_specs(settings)]
    out: set[Binding] = set()
    for grant in grants:
        if grant.resource == TOPIC:
            names = [
                n
                for field in grant.names
                for n in (every_topic if field == ALL_TOPICS else [getattr(settings, field)])
            ]
            pattern = LITERAL
        else:
            names, pattern = list(grant.names), PREFIXED
        for name in names:
            for operation in grant.operations:
                out.add(
                    (
                        grant.resource,
                        name,
                        pattern,
                        f"User:{grant.principal}",
                        "*",
                        OPERATIONS[operation],
                        ALLOW,
                    )
                )
    return out


async def _existing(admin: AIOKafkaAdminClient, principal: str) -> set[Binding]:
    response = await admin._send_request(
        DescribeAclsRequest(ANY, None, ANY, f"User:{principal}", None, ANY, ANY)
    )
    if response.error_code:
        raise RuntimeError(f"describing ACLs failed: {response.error_message}")
    return {
        (kind, name, pattern, acl_principal, host, operation, permission)
        for kind, name, pattern, acls in response.resources
        for acl_principal, host, operation, permission in acls
    }


async def apply_acls(settings: Settings) -> tuple[int, int]:
    """Makes the broker's ACLs of the table's principals equal to the table: creates what is
    missing, deletes what the table no longer grants on these topics, groups and transactional
    ids (ACLs on another prefix's topics are left alone). Returns (created, deleted).

    aiokafka 0.14 has no public ACL API; its protocol classes for CreateAcls, DeleteAcls and
    DescribeAcls are sent through the admin client's request method."""
    wanted = bindings(settings)
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka_bootstrap))
    await admin.start()
    try:
        existing: set[Binding] = set()
        for principal in PRINCIPALS:
            existing |= await _existing(admin, principal)
        ours = {spec.name for spec in topic_specs(settings)}
        missing = wanted - existing
        extra = {acl for acl in existing - wanted if acl[0] != TOPIC or acl[1] in ours}
        responses = await asyncio.gather(
            *(admin._send_request(CreateAclsRequest(*acl)) for acl in sorted(missing)),
            *(admin._send_request(DeleteAclsRequest(*acl)) for acl in sorted(extra)),
        )
        for response in responses:
            results = getattr(response, "creation_responses", None) or response.filter_responses
            for result in results:
                if result[0]:
                    raise RuntimeError(f"ACL change refused: error {result[0]}: {result[1]}")
        return len(missing), len(extra)
    finally:
        await admin.close()


def describe(settings: Settings) -> str:
    """The table as text, names resolved: what `python -m services.acls show` prints."""
    lines = []
    for grant in GRANTS:
        kind = {TOPIC: "topic", GROUP: "group", TRANSACTIONAL_ID: "transactional id"}
        if grant.resource == TOPIC:
            names = ", ".join(
                "every fleetstate topic" if f == ALL_TOPICS else getattr(settings, f)
                for f in grant.names
            )
        else:
            names = ", ".join(f"{n}*" for n in grant.names)
        lines.append(
            f"{grant.principal:10} {'+'.join(grant.operations):25} "
            f"{kind[grant.resource]} {names}  ({grant.why})"
        )
    return "\n".join(lines)


async def _apply(settings: Settings) -> str:
    await ensure_topics(settings, topic_specs(settings))
    created, deleted = await apply_acls(settings)
    in_force = len(bindings(settings))
    return f"topics ready; ACLs: {created} created, {deleted} deleted, {in_force} in force"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.acls", description=__doc__)
    parser.add_argument("action", choices=["apply", "show", "principals"])
    parser.add_argument("--topic-prefix", help="topic names under this prefix (with_topic_prefix)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"services.acls: {exc}", file=sys.stderr)
        return 2
    if args.topic_prefix:
        settings = with_topic_prefix(settings, args.topic_prefix)
    if args.action == "principals":
        print("\n".join(PRINCIPALS))
    elif args.action == "show":
        print(describe(settings))
    else:
        print(asyncio.run(_apply(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
