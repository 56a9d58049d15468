"""Dead letters: an input record that could not be answered, kept raw with the reason."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from services.runtime.transaction import Headers


def dead_letter(
    record: ConsumerRecord, reason: str, max_value_bytes: int
) -> tuple[bytes | None, bytes | None, Headers]:
    """(key, value, headers) of `record`'s dead letter. The value is the record's own, cut to
    `max_value_bytes` if it would not fit the dead-letter topic (a header says so)."""
    headers = [
        ("source.topic", record.topic.encode()),
        ("source.partition", str(record.partition).encode()),
        ("source.offset", str(record.offset).encode()),
        ("reason", reason.encode()[:4096]),
    ]
    value = record.value
    if value is not None and len(value) > max_value_bytes:
        headers.append(("truncated.from", str(len(value)).encode()))
        value = value[:max_value_bytes]
    key = record.key if record.key is None or len(record.key) <= 1024 else record.key[:1024]
    return key, value, headers
