"""A `fleetstate processor` in the test's own event loop, to reach its partitions' state and
to give it workers that fail on purpose."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaProducer

from bench.event_log import partition_of
from events.codec import InvalidMessage, decode_command
from events.ip_pools import registry_key
from events.kafka_security import kafka_options
from services.config import Settings
from services.domain.state import Account
from services.processor.app import Processor
from services.processor.partition import CommandPartition
from services.processor.store import PartitionState
from tests.processor.support import committed_log


@contextlib.asynccontextmanager
async def running(settings: Settings, worker: type[CommandPartition] = CommandPartition):
    processor = Processor(settings, worker=worker)
    stop = asyncio.Event()
    task = asyncio.create_task(processor.run(stop))
    try:
        yield processor
    finally:
        stop.set()
        await task


async def fence(settings: Settings, partition: int) -> None:
    """What a new owner of `partition` does first: init_transactions with its transactional id,
    which aborts the open transaction and makes the old producer's next call fail."""
    producer = AIOKafkaProducer(
        **kafka_options(settings.kafka_bootstrap),
        transactional_id=f"fleetstate-processor.{settings.commands_topic}.{partition}",
    )
    await producer.start()
    await producer.stop()


class FailingCommits(CommandPartition):
    """Fails the commit of the first batch that holds a command of a type in `plan`, once per
    type: "abort" raises before the commit, "fence" fences the producer as a new owner would."""

    plan: dict[str, str] = {}
    failed: list[str] = []

    async def process(self, records) -> None:
        self._types = set()
        for record in records:
            with contextlib.suppress(InvalidMessage, TypeError):
                self._types.add(type(decode_command(record.value).command).__name__)
        await super().process(records)

    async def before_commit(self) -> None:
        for name in sorted(self._types):
            if name in self.plan and name not in self.failed:
                self.failed.append(name)
                if self.plan[name] == "fence":
                    await fence(self.settings, self.partition)
                else:
                    raise RuntimeError(f"injected: the commit of a batch with {name} fails")

    async def restore(self, changelog) -> None:
        self._types = set()
        await super().restore(changelog)


def own_state(store: PartitionState):
    """What a partition decided itself: its accounts, own Networks, the cards and the
    addresses it writes."""
    s = store.state
    accounts = {sid: a for sid, a in s.accounts.items() if a != type(a)(sid=sid)}
    return accounts, store.own_networks, s.sim_cards, s.ip_addresses


async def fold_of_the_log(settings: Settings) -> dict[int, tuple]:
    """Each partition's state folded from its committed events alone."""
    events, _ = await committed_log(settings)
    stores: dict[int, PartitionState] = {}
    for event in events:
        # A card's events are in its ICCID's partition, an address's in its registry's, all
        # others in their account's.
        key = event.account_sid
        if event.aggregate_type == "SimCard":
            key = event.aggregate_id
        elif event.aggregate_type == "IpAddress":
            key = registry_key(event.aggregate_id)
        stores.setdefault(partition_of(key, settings.partitions), PartitionState())
        stores[partition_of(key, settings.partitions)].apply(event)
    return {p: own_state(store) for p, store in stores.items()}


async def until_ready(processor: Processor, partitions: int, timeout: float = 120) -> None:
    """Until the processor answers every one of `partitions` (it is the group's only member)."""
    async with asyncio.timeout(timeout):
        while len(processor.partitions) < partitions or processor.restoring:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def _account_difference(where: str, mine: Account, theirs: Account):
    """The first field of two accounts that differs, down to the record."""
    for field in mine.__struct_fields__:
        a, b = getattr(mine, field), getattr(theirs, field)
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict):
                for key in sorted(set(a) | set(b)):
                    if a.get(key) != b.get(key):
                        return f"{where}.{field}[{key}]", a.get(key), b.get(key)
            return f"{where}.{field}", a, b
    return where, mine, theirs


def first_difference(actual: tuple, expected: tuple) -> str | None:
    """Where two own_state() values first differ, in a line (pytest's own diff of states this
    big takes minutes)."""
    names = ("accounts", "networks", "cards", "addresses")
    for name, mine, theirs in zip(names, actual, expected, strict=True):
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                restored, logged = mine.get(key), theirs.get(key)
                where = f"{name}[{key}]"
                if isinstance(restored, Account) and isinstance(logged, Account):
                    where, restored, logged = _account_difference(where, restored, logged)
                return f"{where}: restored {repr(restored)[:600]} != logged {repr(logged)[:600]}"
    return None
