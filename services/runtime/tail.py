"""Folding the tail of a source log into a worker's state while it restores.

Normally the tail after the changelog's position is empty. When the changelog was lost (or
never written: the first start on an old log) it is the whole log from offset 0: then this
says how far it is, every few seconds, so an operator sees a rebuild move and how long it
will take.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.log_reader import log_consumer, read_to_end

log = logging.getLogger(__name__)

PROGRESS_EVERY = 5.0  # seconds between progress lines


async def fold_tail(
    bootstrap: str,
    tp: TopicPartition,
    start: int,
    fold: Callable[[list[ConsumerRecord]], None],
    what: str,
) -> int:
    """Reads `tp` from `start` to its end as of now (read_committed), handing each batch to
    `fold`; returns that end: every committed record below it has been folded."""
    consumer = log_consumer(bootstrap)
    await consumer.start()
    position = start
    try:
        end = (await consumer.end_offsets([tp]))[tp]
        if end <= start:
            return start
        started = last_line = time.monotonic()
        done = 0
        async for _, records in read_to_end(consumer, {tp: start}):
            fold(records)
            done += len(records)
            position = records[-1].offset + 1
            now = time.monotonic()
            if now - last_line >= PROGRESS_EVERY:
                last_line = now
                log.info(
                    "%s %s[%d]: %d of about %d records folded (%.0f%%), %.0f/s",
                    what,
                    tp.topic,
                    tp.partition,
                    done,
                    end - start,
                    100 * (position - start) / (end - start),
                    done / (now - started),
                )
            await asyncio.sleep(0)  # a long fold must not starve the heartbeats of the loop
        if done:
            log.info(
                "%s %s[%d]: folded %d records from offset %d in %.1fs",
                what,
                tp.topic,
                tp.partition,
                done,
                start,
                time.monotonic() - started,
            )
    finally:
        await consumer.stop()
    # Reading may have gone past `end` (records committed meanwhile): below the larger of
    # the two, every committed record was folded.
    return max(end, position)
