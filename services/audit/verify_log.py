"""`fleetstate verify-log`: walks every partition of the events topic from its first record
and names the first broken link of each (services.audit.chain says what a link is)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec

from services.audit.chain import BrokenLink, Head, PartitionChain
from services.audit.log_scan import partition_bounds, scan, scan_consumer


class PartitionVerdict(msgspec.Struct, frozen=True, kw_only=True):
    partition: int
    events: int  # events checked (up to the first broken link)
    head: Head | None  # the newest event verified
    broken: BrokenLink | None


class LogVerdict(msgspec.Struct, frozen=True, kw_only=True):
    topic: str
    partitions: list[PartitionVerdict]

    @property
    def intact(self) -> bool:
        return all(p.broken is None for p in self.partitions)

    @property
    def first_broken(self) -> BrokenLink | None:
        broken = [p.broken for p in self.partitions if p.broken is not None]
        return min(broken, key=lambda b: (b.partition, b.offset)) if broken else None

    def checkpoint(self) -> list[Head]:
        return [p.head for p in self.partitions if p.head is not None]


async def verify_log(
    bootstrap: str,
    topic: str,
    checkpoint: list[Head] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> LogVerdict:
    """Checks every committed event of `topic`. `checkpoint`: heads a previous run recorded,
    which the log must still hold unchanged. on_progress(records read, records in all)."""
    heads = {head.partition: head for head in checkpoint or []}
    consumer = scan_consumer(bootstrap)
    await consumer.start()
    try:
        bounds = await partition_bounds(consumer, bootstrap, topic)
        chains = {p: PartitionChain(p, heads.get(p)) for p in bounds}
        broken: dict[int, BrokenLink] = {}
        stopped: set[int] = set()  # partitions scan() reads no further
        total = sum(end - start for start, end in bounds.values())
        read = 0
        async for p, records in scan(consumer, topic, bounds, stopped):
            chain = chains[p]
            for record in records:
                problem = chain.check(record.offset, record.key, record.value)
                if problem is not None:
                    broken[p] = problem
                    stopped.add(p)
                    break
            read += len(records)
            if on_progress is not None:
                on_progress(read, total)
        if on_progress is not None:
            on_progress(total, total)
        for p, chain in chains.items():
            if p not in broken:
                problem = chain.finish()
                if problem is not None:
                    broken[p] = problem
    finally:
        await consumer.stop()
    return LogVerdict(
        topic=topic,
        partitions=[
            PartitionVerdict(
                partition=p, events=chains[p].events, head=chains[p].head, broken=broken.get(p)
            )
            for p in sorted(bounds)
        ],
    )


def read_checkpoint(path: Path) -> list[Head]:
    return msgspec.json.decode(path.read_bytes(), type=list[Head])


def write_checkpoint(path: Path, heads: list[Head]) -> None:
    path.write_bytes(msgspec.json.format(msgspec.json.encode(heads)) + b"\n")
