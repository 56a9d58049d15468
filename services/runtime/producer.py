"""The transactional producer of a worker, tuned in one place for every processor."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from aiokafka.producer import sender as aiokafka_sender

from events.kafka_security import kafka_options

# After a commit the broker writes the transaction markers; a new transaction that starts
# meanwhile is answered CONCURRENT_TRANSACTIONS and aiokafka retries its first
# AddPartitionsToTxn after a fixed 20 ms (KAFKA-5477), a wait nearly every batch paid at a
# steady load. aiokafka (pinned to 0.14.x) has no setting for it, so we set its constant to
# the producer's retry backoff below. Importing this module is what every worker does first.
aiokafka_sender.BACKOFF_OVERRIDE = 0.003

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
        # A transaction begun while the broker still writes the previous one's markers is
        # answered CONCURRENT_TRANSACTIONS and retried after this backoff: the default
        # 100 ms would be paid by nearly every batch at a steady load.
        retry_backoff_ms=3,
        max_batch_size=1024 * 1024,
        max_request_size=MAX_REQUEST_BYTES,
    )
