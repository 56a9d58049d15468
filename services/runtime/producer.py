"""The transactional producer of a worker, tuned in one place for every processor."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from aiokafka.producer import sender as aiokafka_sender

from events.kafka_security import kafka_options

# After a commit the broker writes the transaction markers; a transaction begun meanwhile is
# answered CONCURRENT_TRANSACTIONS and retried after a backoff that nearly every batch pays at
# a steady load: the producer's retry backoff (default 100 ms), and for the first
# AddPartitionsToTxn aiokafka's fixed 20 ms (KAFKA-5477). Both are this, for every processor:
# services/runtime/worker.py, which both stand on, imports this module.
RETRY_BACKOFF_MS = 3
# aiokafka (pinned to 0.14.x) has no setting for the second, only a module constant.
aiokafka_sender.BACKOFF_OVERRIDE = RETRY_BACKOFF_MS / 1000

# The largest request a worker sends: a batch's records are each below the topics' limit.
MAX_REQUEST_BYTES = 8 * 1024 * 1024


def transactional_producer(
    bootstrap: str, transactional_id: str, transaction_timeout_ms: int = 60_000
) -> AIOKafkaProducer:
    """A producer whose `start()` fences every earlier producer of `transactional_id`: the
    id is fixed per input partition, so a new owner stops a stalled old one for good."""
    return AIOKafkaProducer(
        **kafka_options(bootstrap),
        transactional_id=transactional_id,
        transaction_timeout_ms=transaction_timeout_ms,
        acks="all",
        enable_idempotence=True,
        linger_ms=0,
        retry_backoff_ms=RETRY_BACKOFF_MS,
        max_batch_size=1024 * 1024,
        max_request_size=MAX_REQUEST_BYTES,
    )
