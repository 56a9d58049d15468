"""The chaos run: the full system under steady load while faults are injected, then the checks.

`make chaos` runs the default (20,000 commands, 10+ process kills, pauses past the session
timeout, 3 broker kills, a database restart); tests/chaos/test_chaos.py runs a short version
inside `make test`. Both fail on any lost or duplicated command.

`make chaos-cluster` (`CLUSTER`) runs it on a three-node Kafka cluster (replication factor 3,
min.insync.replicas 2) with every service as two instances, killing partition leaders and the
active controller and pausing a broker, and says how long the API answered 503 per fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import msgspec

from bench.workload import Workload
from events.client import CommandClient
from events.sids import NETWORK
from events.usage_client import UsageReporter
from services.audit.replay import replay
from services.audit.verify_log import verify_log
from services.config import load_settings, with_topic_prefix
from services.domain.periods import BillingPeriod
from services.migrate import migrate
from services.operator import create_account
from services.run import instance_name
from services.topics import ensure_topics
from tests.api.conftest import free_port
from tests.chaos.checks import (
    card_owner_errors,
    check_log,
    ip_address_errors,
    unavailable_seconds,
    usage_diagnosis,
    usage_mismatches,
)
from tests.chaos.faults import FaultInjector
from tests.chaos.ledger import Ledger
from tests.chaos.load import ApiLoad, ClientLoad, UsageLoad
from tests.chaos.stack import ROOT, ChaosStack
from tests.projection.support import log_end, wait_until_projected
from tests.services import ServiceProcess, wait_healthy

log = logging.getLogger(__name__)
NETWORK_SID = NETWORK + "c" * 32  # reports name a Network; usage is counted whatever it is


class ChaosConfig(msgspec.Struct, kw_only=True):
    commands: int = 20_000
    rate: float = 250.0  # commands/s offered by the client load
    accounts: int = 50
    kills: int = 10
    pauses: int = 2
    broker_kills: int = 3  # every broker at once (a one-node stack's only broker)
    database_restarts: int = 1
    # A cluster of this many nodes (1: one broker), and its faults: SIGKILL of the leader of
    # the busiest commands partition, of the active controller, and a broker paused past its
    # session with the controller.
    brokers: int = 1
    leader_kills: int = 0
    controller_kills: int = 0
    broker_pauses: int = 0
    minority_kills: int = 0  # all nodes but one killed at once: below min.insync.replicas
    # Copies of each service the faults pick from (two command processors whatever this says)
    instances: int = 1
    reports_per_command: float = 2.0  # data session reports sent beside the commands
    api_share: float = 0.05  # Fleets created over the REST API, per command of the client
    # Spare SIM cards registered by two accounts at once (and moved to a subaccount by the
    # winner, half the time), per command of the client
    contest_share: float = 0.01
    seed: int = 1
    settle_seconds: float = 180.0
    logs: Path = Path("bench/results/chaos")


# The cluster run of `make chaos-cluster`: one node down at a time, never two.
CLUSTER = dict(
    brokers=3,
    instances=2,
    broker_kills=0,
    leader_kills=3,
    controller_kills=1,
    broker_pauses=1,
    minority_kills=1,
    logs=Path("bench/results/chaos-cluster"),
)
# Its stack: ports apart from the one-broker chaos stack's, so both may exist.
CLUSTER_PORTS = (19292, 19293, 15633)


class Report(msgspec.Struct, kw_only=True):
    brokers: int
    commands_sent: int
    acknowledged: int
    rejected: int
    resent_on_purpose: int
    faults: dict[str, int]
    faults_by_target: dict[str, int]
    events_in_log: int
    lost: int
    duplicated: int
    version_gaps: int
    contested_cards: int
    card_owner_errors: int  # cards not owned by exactly the account holding their Sim
    ip_address_errors: int  # addresses held by two active Sims at once, or lost track of
    mismatched_rows: dict[str, int]  # rows of the live read models unlike a replay
    replayed_events: int
    chain_broken: str | None  # verify-log's first broken link
    # The fewest replicas of any partition: the run's topics, and Kafka's offsets and
    # transaction state logs (3 on a cluster, whatever failed on the way)
    replicas: dict[str, int]
    reports_sent: int
    usage_mismatches: int
    api_statuses: dict[str, int]  # every answer of the REST API during the run, by status
    # Fault kind -> seconds the API answered 503 during each fault of it (checks.py)
    unavailable_seconds: dict[str, list[float]]
    api_fleets_created: int
    seconds: float
    examples: dict[str, list[str]]

    def problems(self) -> list[str]:
        """Every promise the run found broken, with examples; none when it passed."""
        found = [
            f"{count} {what}: {self.examples.get(key, [])[:5]}"
            for count, what, key in (
                (self.lost, "acknowledged commands lost", "lost"),
                (self.duplicated, "events appended twice", "duplicated"),
                (self.version_gaps, "aggregates with version gaps", "version_gaps"),
                (self.card_owner_errors, "cards without exactly one owner", "card_owners"),
                (self.ip_address_errors, "addresses held twice", "ip_addresses"),
                (self.usage_mismatches, "usage totals unlike the reports", "usage"),
                (len(self.mismatched_rows), "tables unlike a replay", "rows"),
            )
            if count
        ]
        if self.replayed_events != self.events_in_log:
            found.append(f"replay read {self.replayed_events} of {self.events_in_log} events")
        if self.chain_broken:
            found.append(f"the hash chain breaks at {self.chain_broken}")
        if self.acknowledged + self.rejected != self.commands_sent:
            found.append(f"{self.commands_sent - self.acknowledged - self.rejected} unanswered")
        if "500" in self.api_statuses:
            found.append(f"the API answered 500 {self.api_statuses['500']} times")
        return found

    @property
    def passed(self) -> bool:
        return not self.problems()


async def _fresh_database(stack: ChaosStack, name: str) -> str:
    admin = await asyncpg.connect(stack.database_url)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    return stack.database_url.rsplit("/", 1)[0] + "/" + name


async def run_chaos(config: ChaosConfig, stack: ChaosStack | None = None) -> Report:
    started = time.monotonic()
    rng = random.Random(config.seed)
    if stack is None and config.brokers > 1:
        stack = ChaosStack(ROOT / ".devstack" / "chaos-cluster", CLUSTER_PORTS, config.brokers)
    stack = stack or ChaosStack()
    await asyncio.to_thread(stack.start)
    tag = uuid.uuid4().hex[:8]
    replication = min(3, config.brokers)
    settings = msgspec.structs.replace(
        with_topic_prefix(load_settings(), f"chaos-{tag}"),
        api_port=free_port(),
        api_metrics_port=free_port(),
        kafka_bootstrap=stack.bootstrap,
        database_url=await _fresh_database(stack, f"chaos_{tag}"),
        partitions=4,
        replication_factor=replication,
        min_insync_replicas=max(1, replication - 1),
    )
    await migrate(settings.database_url)
    await ensure_topics(settings)
    config.logs.mkdir(parents=True, exist_ok=True)
    kinds = ["projector", "usage-processor", "usage-projector", "network-gateway"]
    # Two command processors always; of the others, `instances` each. The network simulator
    # stands in for the mobile network: one, as there is one network.
    named = [(f"processor-{n}", "processor") for n in (1, 2)]
    named += [(name, kind) for kind in kinds for name in _names(kind, config)]
    named += [("network-sim", "network-sim")]
    services = {
        name: ServiceProcess(kind, settings, log_path=config.logs / f"{name}.log")
        for name, kind in named
    }
    # The APIs are not killed: they must answer 503 while a part is down, and recover by
    # themselves. Each serves on a port of its own, and the REST load is shared between them.
    apis = [
        ServiceProcess(
            "api",
            msgspec.structs.replace(settings, api_port=free_port(), api_metrics_port=0),
            log_path=config.logs / f"{name}.log",
        )
        for name in _names("api", config)
    ]
    for service in [*services.values(), *apis]:
        service.start()
    ledger = Ledger()
    injector = FaultInjector(
        stack,
        services,
        rng,
        kills=config.kills,
        pauses=config.pauses,
        broker_kills=config.broker_kills,
        database_restarts=config.database_restarts,
        leader_kills=config.leader_kills,
        controller_kills=config.controller_kills,
        broker_pauses=config.broker_pauses,
        minority_kills=config.minority_kills,
        busiest_partition=lambda: _busiest(settings, settings.commands_topic),
    )
    try:
        async with (
            CommandClient(
                settings.kafka_bootstrap,
                commands_topic=settings.commands_topic,
                operator_topic=settings.operator_topic,
                internal_topic=settings.internal_topic,
                outcomes_topic=settings.outcomes_topic,
                actor="chaos",
            ) as client,
            UsageReporter(settings.kafka_bootstrap, usage_topic=settings.usage_topic) as reporter,
        ):
            workload = Workload(
                seed=config.seed,
                accounts=config.accounts,
                families=True,
                spare_cards=max(1, int(config.commands * config.contest_share)),
                every_resource=True,
            )
            load = ClientLoad(client, workload, ledger, rng)
            await load.setup()
            usage = UsageLoad(reporter, workload, NETWORK_SID, random.Random(config.seed + 1))
            for api in apis:
                await wait_healthy(f"http://127.0.0.1:{api.settings.api_port}")
            account = await create_account(settings, "chaos")
            async with contextlib.AsyncExitStack() as https:
                rests = [
                    ApiLoad(
                        await https.enter_async_context(
                            httpx.AsyncClient(
                                base_url=f"http://127.0.0.1:{api.settings.api_port}",
                                auth=(account.account_sid, account.auth_token),
                                timeout=30,
                            )
                        ),
                        ledger,
                        account.account_sid,
                        prefix=f"chaos-fleet-{n}-",
                    )
                    for n, api in enumerate(apis)
                ]
                await rests[0].setup()
                api_fleets = max(1, int(config.commands * config.api_share / len(rests)))
                await asyncio.gather(
                    load.steady(config.commands, config.rate),
                    load.contend(config.rate * config.contest_share),
                    usage.run(
                        int(config.commands * config.reports_per_command),
                        config.rate * config.reports_per_command,
                    ),
                    *(
                        rest.run(api_fleets, config.rate * config.api_share / len(rests))
                        for rest in rests
                    ),
                    injector.run(spread_seconds=config.commands / config.rate),
                )
        await wait_until_projected(settings, settings.database_url, timeout=config.settle_seconds)
        findings = await check_log(settings, ledger)
        card_errors = await card_owner_errors(settings)
        ip_errors = await ip_address_errors(settings)
        period = BillingPeriod.parse(settings.billing_period)
        usage_wrong = await usage_mismatches(
            settings.database_url, usage.sent, period, timeout=config.settle_seconds
        )
        usage_notes = await usage_diagnosis(settings, usage_wrong) if usage_wrong else []
        replayed = await replay(settings, "replay", verify_against="public")
        chain = await verify_log(settings.kafka_bootstrap, settings.events_topic)
        replicas = await stack.replicas()
    finally:
        for service in [*services.values(), *apis]:
            service.stop()
        # The run's log is thrown away with the next start: no controlled shutdown to wait for.
        await asyncio.to_thread(stack.kill_kafka)
        await asyncio.to_thread(stack.stop)
    return Report(
        brokers=config.brokers,
        commands_sent=len(ledger.sent),
        acknowledged=len(ledger.accepted),
        rejected=len(ledger.rejected),
        resent_on_purpose=ledger.resent,
        faults=dict(injector.done),
        faults_by_target=dict(injector.targets),
        events_in_log=findings.events,
        lost=len(findings.lost),
        duplicated=len(findings.duplicated_events),
        version_gaps=len(findings.version_gaps),
        contested_cards=workload.spare_cards,
        card_owner_errors=len(card_errors),
        ip_address_errors=len(ip_errors),
        mismatched_rows=_by_table(replayed.differences or []),
        replayed_events=replayed.events,
        chain_broken=str(chain.first_broken) if chain.first_broken else None,
        replicas=replicas,  # the stack started empty: its topics are this run's and Kafka's
        reports_sent=len(usage.sent),
        usage_mismatches=len(usage_wrong),
        api_statuses={str(k): v for k, v in ledger.api_statuses.items()},
        unavailable_seconds=unavailable_seconds(injector.windows, ledger.unavailable_at),
        api_fleets_created=len(ledger.api_created),
        seconds=round(time.monotonic() - started, 1),
        examples={
            "lost": findings.lost[:5],
            "duplicated": findings.duplicated_events[:5],
            "version_gaps": findings.version_gaps[:5],
            "card_owners": card_errors[:5],
            "ip_addresses": ip_errors[:5],
            "rows": [d.describe() for d in (replayed.differences or [])[:5]],
            "usage": usage_notes,
        },
    )


def _names(kind: str, config: ChaosConfig) -> list[str]:
    """The run's names of a service's instances, as `fleetstate run` names them."""
    return [instance_name(kind, n, config.instances) for n in range(1, config.instances + 1)]


async def _busiest(settings, topic: str) -> tuple[str, int]:
    """The partition of `topic` holding the most records: under the load, the busiest."""
    ends = await log_end(settings, topic)
    return topic, max(ends, key=ends.__getitem__)


def _by_table(differences) -> dict[str, int]:
    counts: dict[str, int] = {}
    for difference in differences:
        counts[difference.table] = counts.get(difference.table, 0) + 1
    return counts
