"""A consumer-group member that owns input partitions and answers each with its own worker.

Every exactly-once processor is one of these: the group shares the input partitions among
its members; for each partition a member owns it runs a worker (state, transactional
producer, task) built by `new_worker`. A processor may read several input topics of one
partition count (co-partitioned: the commands of tenants, of the operator, of the processors
themselves): partition p of every one of them belongs to the same member and worker, because
the range assignor gives each member the same partition numbers of every topic they all
subscribe to. The guarantees rest on what happens around ownership:

- A newly assigned partition is paused and its worker restored in a task of its own, never in
  the rebalance callback: the callback returns at once, heartbeats go on, and a group whose
  members restore big states still settles in one rebalance.
- A restored worker (its producer has fenced every earlier owner, its state is what they
  committed) is positioned at the input its state answered: a worker with a changelog keeps
  that position there, written in the same transaction as the state (the later of it and the
  group's committed offset, which never runs ahead of it); a worker without one commits the
  group's offset in its transaction. The partition then resumes.
- The group's offsets of workers with a changelog are committed after their transactions,
  every GROUP_COMMIT_SECONDS, so the group's lag shows what is left to answer, and again
  when partitions are revoked and when the member stops, so after a clean stop they equal
  the changelogs' (all a restore has when a changelog is lost). Such a commit may fail (a
  rebalance under way) or trail: it only ever names input already answered.
- Before a rebalance, batches in flight commit and queued input is dropped; a partition that
  comes back keeps its worker and is positioned again at its next unanswered offset (had
  another member owned it meanwhile, that member's producer fenced ours: our next commit
  fails, and the next point applies).
- A worker whose batch failed may hold uncommitted decisions: it is dropped, its partition
  paused and restored by a new worker before anything more is answered.
- A partition whose queue grows past `backlog_limit` stops being fetched until it drains.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from services.runtime.worker import Worker

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # before restoring again a partition whose restore failed
GROUP_COMMIT_SECONDS = 1.0  # how often the group's offsets follow the answered input


class PartitionOwner:
    name = "processor"  # in log lines
    fetch_max_records = 2000
    backlog_limit = 10_000

    def __init__(
        self,
        topics: Sequence[str],
        consumer: AIOKafkaConsumer,
        new_worker: Callable[[int], Worker],
    ) -> None:
        self.topics = list(topics)  # co-partitioned: one partition count (services/topics.py)
        self.consumer = consumer
        self.new_worker = new_worker  # the worker of a partition now owned (not started yet)
        self.partitions: dict[int, Worker] = {}  # restored and answering
        self.restoring: dict[int, tuple[Worker, asyncio.Task]] = {}
        self.backlogged: set[int] = set()  # partitions paused until their queue drains
        self.lock = asyncio.Lock()  # rebalances, restores and feeding never interleave
        self.ready = asyncio.Event()  # set whenever every assigned partition answers
        self._failures: dict[int, int] = {}  # partition -> restores failed in a row
        self._abandoned: set[asyncio.Task] = set()  # cancelled restores winding down
        self._group_offsets: dict[TopicPartition, int] = {}  # as last committed from here
        self._group_committed_at = 0.0
        self._group_commit: asyncio.Task | None = None

    # --- what a processor may add (the defaults do nothing) ------------------------------------

    async def start_dependencies(self) -> None:
        """Before consuming: topics, tables every partition reads, ..."""

    async def stop_dependencies(self) -> None:
        """After the last partition is given up."""

    async def after_ready(self, worker: Worker) -> None:
        """Once a worker is restored and positioned, before it answers."""
        metrics = getattr(worker, "metrics", None)
        if metrics is not None:
            metrics.partitions_owned.set(len(self.partitions))
            metrics.recovery_seconds.observe(getattr(worker, "restore_seconds", 0.0))

    async def after_release(self, partition: int, worker: Worker) -> None:
        """Once the worker of a given-up partition has stopped."""
        metrics = getattr(worker, "metrics", None)
        if metrics is not None:
            metrics.partitions_owned.set(len(self.partitions))

    # --- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self.start_dependencies()
        await self.consumer.start()
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        try:
            while not stop.is_set():
                batches = await self.consumer.getmany(
                    timeout_ms=100, max_records=self.fetch_max_records
                )
                async with self.lock:
                    await self._start_restored()
                    for tp, records in batches.items():
                        worker = self.partitions.get(tp.partition)
                        if records and worker is not None:
                            worker.feed(records)
                    self._apply_backpressure()
                    self._commit_group_offsets()
        finally:
            async with self.lock:
                for partition in list(self.restoring):
                    self._abandon_restore(partition)
                await asyncio.gather(*self._abandoned, return_exceptions=True)
                workers = list(self.partitions.values())
                for partition in list(self.partitions):
                    await self._release(partition)
            if self._group_commit is not None:
                self._group_commit.cancel()
                await asyncio.gather(self._group_commit, return_exceptions=True)
            # Still a member: the group's offsets leave with everything answered.
            await self._commit_group(self._answered_since_committed(workers))
            await self.consumer.stop()
            await self.stop_dependencies()

    def _commit_group_offsets(self) -> None:
        """The group's offsets, brought up to the input the workers have answered (those
        whose transactions do not commit them), at most every GROUP_COMMIT_SECONDS. In a task
        of its own, never awaited under the lock: a commit may wait for a rebalance to end,
        and the rebalance's callbacks take the lock."""
        now = asyncio.get_running_loop().time()
        if now - self._group_committed_at < GROUP_COMMIT_SECONDS:
            return
        if self._group_commit is not None and not self._group_commit.done():
            return
        self._group_committed_at = now
        offsets = self._answered_since_committed(self.partitions.values())
        if offsets:
            self._group_commit = asyncio.create_task(self._commit_group(offsets))

    def _answered_since_committed(self, workers) -> dict[TopicPartition, int]:
        return {
            tp: offset
            for worker in workers
            if getattr(worker, "changelog_tp", None) is not None
            for tp, offset in worker.positions.items()
            if self._group_offsets.get(tp) != offset
        }

    async def _commit_group(self, offsets: dict[TopicPartition, int]) -> None:
        """Best effort: the offsets are a copy of what the changelogs hold, for lag, and the
        start of a restore whose changelog was lost (then what they trail is answered again
        from memory: never decided twice, but a second outcome)."""
        if not offsets:
            return
        try:
            async with asyncio.timeout(GROUP_COMMIT_SECONDS * 5):
                await self.consumer.commit(offsets)
        except (KafkaError, TimeoutError) as exc:  # a rebalance, the broker away: next time
            log.debug("%s: group offsets not committed (%s)", self.name, exc)
            return
        self._group_offsets.update(offsets)

    def _tps(self, partition: int) -> list[TopicPartition]:
        """Partition `partition` of every input topic: what one worker answers."""
        return [TopicPartition(topic, partition) for topic in self.topics]

    def _restore(self, partition: int, failed: Worker | None = None) -> None:
        """Pauses the partition and restores a new worker for it in a task."""
        self.consumer.pause(*self._tps(partition))
        self.ready.clear()
        worker = self.new_worker(partition)
        delay = RETRY_SECONDS if self._failures.get(partition) else 0.0
        task = asyncio.create_task(self._start_worker(worker, failed, delay))
        self.restoring[partition] = (worker, task)

    async def _start_worker(self, worker: Worker, failed: Worker | None, delay: float) -> None:
        if failed is not None:
            await failed.stop()
        if delay:
            await asyncio.sleep(delay)
        await worker.start()

    async def _start_restored(self) -> None:
        """Positions and starts every worker whose restore is done (under the lock)."""
        for partition, (worker, task) in list(self.restoring.items()):
            if not task.done():
                continue
            del self.restoring[partition]
            error = None if task.cancelled() else task.exception()
            if task.cancelled() or error is not None:
                self._failures[partition] = self._failures.get(partition, 0) + 1
                log.warning(
                    "%s partition %d: restore failed, will retry",
                    self.name,
                    partition,
                    exc_info=error,
                )
                await worker.stop()
                self._restore(partition)
                continue
            self._failures.pop(partition, None)
            tps = self._tps(partition)
            if not set(tps) <= self.consumer.assignment():  # given up while it was restoring
                await worker.stop()
                continue
            # Where the restored state stands in its input (see the module's docstring).
            restored = getattr(worker, "restored_positions", {})
            for tp in tps:
                committed = await self.consumer.committed(tp) or 0
                worker.positions[tp] = max(committed, restored.get(tp, 0))
                self.consumer.seek(tp, worker.positions[tp])
            self.consumer.resume(*tps)
            self.backlogged.discard(partition)
            self.partitions[partition] = worker
            await self.after_ready(worker)
            worker.run(self._failed)
            log.info(
                "%s partition %d ready at offsets %s, restored in %.2fs",
                self.name,
                partition,
                ", ".join(f"{tp.topic}:{offset}" for tp, offset in worker.positions.items()),
                getattr(worker, "restore_seconds", 0.0),
            )
        if not self.restoring and not self.ready.is_set():
            self.ready.set()
            log.info("%s answers partitions %s", self.name, sorted(self.partitions))

    def _failed(self, partition: int) -> None:
        """A worker's batch failed: its state may hold what was never committed."""
        worker = self.partitions.pop(partition, None)
        if worker is not None:
            self._restore(partition, failed=worker)

    def _apply_backpressure(self) -> None:
        for partition, worker in self.partitions.items():
            if worker.backlog > self.backlog_limit and partition not in self.backlogged:
                self.backlogged.add(partition)
                self.consumer.pause(*self._tps(partition))
            elif worker.backlog <= self.backlog_limit // 2 and partition in self.backlogged:
                self.backlogged.discard(partition)
                self.consumer.resume(*self._tps(partition))

    def _abandon_restore(self, partition: int) -> None:
        """Cancels a restore and lets it wind down in the background: a restore busy folding
        a long tail may take seconds to notice, and the rebalance callback must not wait
        (the member would miss its heartbeats). A later owner's producer fences its own."""
        worker, task = self.restoring.pop(partition)
        task.cancel()

        async def wind_down() -> None:
            await asyncio.gather(task, return_exceptions=True)
            await worker.stop()

        winding = asyncio.create_task(wind_down())
        self._abandoned.add(winding)
        winding.add_done_callback(self._abandoned.discard)

    async def _release(self, partition: int) -> None:
        worker = self.partitions.pop(partition, None)
        if worker is not None:
            await worker.stop()
            await self.after_release(partition, worker)


class _Rebalance(ConsumerRebalanceListener):
    """Quick on purpose: it only stops, keeps or schedules; restores run in their tasks."""

    def __init__(self, owner: PartitionOwner) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Nothing is answered until the assignment that follows.
        async with self.owner.lock:
            for worker in list(self.owner.partitions.values()):
                await worker.quiesce()
            # Answered up to here, before another member may take them (still this
            # generation's: the commit is accepted).
            owner = self.owner
            await owner._commit_group(owner._answered_since_committed(owner.partitions.values()))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        owner = self.owner
        async with owner.lock:
            kept = _whole_partitions(owner, set(assigned))
            for partition in [p for p in owner.restoring if p not in kept]:
                owner._abandon_restore(partition)
            for partition in [p for p in owner.partitions if p not in kept]:
                await owner._release(partition)
            for partition in sorted(kept):
                worker = owner.partitions.get(partition)
                if worker is not None:
                    await worker.quiesce()
                    for tp, offset in worker.positions.items():
                        owner.consumer.seek(tp, offset)
                    owner.backlogged.discard(partition)
                elif partition in owner.restoring:
                    owner.consumer.pause(*owner._tps(partition))  # assignments start unpaused
                else:
                    owner._restore(partition)
            if not owner.restoring:
                owner.ready.set()
                log.info("%s answers partitions %s", owner.name, sorted(owner.partitions))
        log.info(
            "%s assigned partitions %s (restoring %s)",
            owner.name,
            sorted(kept),
            sorted(owner.restoring),
        )


def _whole_partitions(owner: PartitionOwner, assigned: set[TopicPartition]) -> set[int]:
    """The partition numbers assigned in every input topic. Members that subscribe to other
    topics (old and new versions of a processor whose inputs changed, side by side) can be
    given part of a partition: that part is left unanswered, loudly, rather than answered by
    two workers at once; stopping the old members ends it."""
    numbers = {tp.partition for tp in assigned}
    whole = {p for p in numbers if set(owner._tps(p)) <= assigned}
    for partition in sorted(numbers - whole):
        owner.consumer.pause(*[tp for tp in owner._tps(partition) if tp in assigned])
        log.error(
            "%s partition %d is assigned in only some of %s: do all members subscribe to the "
            "same topics? it is not answered until they do",
            owner.name,
            partition,
            owner.topics,
        )
    return whole
