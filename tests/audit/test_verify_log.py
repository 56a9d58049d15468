"""verify-log on Kafka: the processor's log is intact, and a copy of it with one byte changed,
one event dropped or two swapped is named at its first broken link."""

from __future__ import annotations

import msgspec
import pytest

from services.audit.verify_log import verify_log, write_checkpoint
from services.log_reader import read_all
from tests.audit.support import copied_topic, fleetstate


async def test_the_log_the_processor_wrote_is_intact(audited):
    settings = audited.settings
    verdict = await verify_log(settings.kafka_bootstrap, settings.events_topic)
    assert verdict.intact
    assert sum(p.events for p in verdict.partitions) == len(audited.log)
    assert {p.partition for p in verdict.partitions if p.events} == {0, 1}


@pytest.fixture
async def records(audited):
    """(key, value) of the busiest events partition, in order."""
    settings = audited.settings
    by_partition = await read_all(settings.kafka_bootstrap, settings.events_topic)
    busiest = max(by_partition.values(), key=len)
    assert len(busiest) >= 10
    return [(r.key, r.value) for r in busiest]


def flip(value: bytes, position: int) -> bytes:
    altered = bytearray(value)
    altered[position] ^= 0x01
    return bytes(altered)


async def first_broken(settings, records, checkpoint=None):
    topic = await copied_topic(settings, records)
    verdict = await verify_log(settings.kafka_bootstrap, topic, checkpoint)
    return verdict.first_broken


async def test_a_changed_byte_a_dropped_event_and_a_swap_are_each_named(audited, records):
    settings = audited.settings
    assert await first_broken(settings, records) is None
    middle = len(records) // 2
    key, value = records[middle]
    # A byte of the event's actor: the record still reads, its hash no longer matches the next
    # event's prev_hash (a byte of its own prev_hash would break the link before it instead).
    actor = value.index(b'"actor":"') + len(b'"actor":"')
    altered = [*records[:middle], (key, flip(value, actor)), *records[middle + 1 :]]
    broken = await first_broken(settings, altered)
    assert (broken.partition, broken.offset) == (0, middle + 1)
    assert broken.event_id == msgspec.json.decode(records[middle + 1][1])["event_id"]

    dropped = records[:middle] + records[middle + 1 :]
    assert (await first_broken(settings, dropped)).offset == middle

    swapped = [*records[:middle], records[middle + 1], records[middle], *records[middle + 2 :]]
    assert (await first_broken(settings, swapped)).offset == middle


async def test_the_newest_event_changed_is_named_against_a_checkpoint_by_the_command(
    audited, records, tmp_path
):
    settings = audited.settings
    intact = await copied_topic(settings, records)
    saved = tmp_path / "heads.json"
    topic_settings = msgspec.structs.replace(settings, events_topic=intact)
    code, output = await fleetstate(topic_settings, "verify-log", "--save-checkpoint", str(saved))
    assert code == 0 and "intact" in output, output
    key, value = records[-1]
    tampered = await copied_topic(settings, [*records[:-1], (key, flip(value, 40))])
    tampered_settings = msgspec.structs.replace(settings, events_topic=tampered)
    code, output = await fleetstate(tampered_settings, "verify-log", "--checkpoint", str(saved))
    assert code == 1, output
    assert f"first broken link: partition 0, offset {len(records) - 1}" in output
    write_checkpoint(saved, [])  # no checkpoint: the newest event has nothing after it yet
    code, output = await fleetstate(tampered_settings, "verify-log", "--checkpoint", str(saved))
    assert code == 0, output
