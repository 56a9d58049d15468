"""An outcome names the offsets its events landed at. The processor names them before the
broker answers (its own partition, one marker per commit: so the outcome travels with the
events), and checks the broker's answer before committing: a wrong guess is never committed."""

from __future__ import annotations

from bench.event_log import partition_of
from events.codec import decode_event
from events.commands import CreateAccount, CreateFleet, CreateNetworkAccessProfile
from events.sids import derive_sid
from services.log_reader import read_all
from services.processor.partition import CommandPartition
from tests.processor.inprocess import running

A = derive_sid("AC", "event-offsets-a")


async def event_positions(settings) -> dict[str, tuple[int, int]]:
    """event id -> (partition, offset), every committed event once."""
    records = await read_all(settings.kafka_bootstrap, settings.events_topic)
    positions: dict[str, tuple[int, int]] = {}
    for partition, rs in records.items():
        for r in rs:
            event = decode_event(r.value)
            assert event.event_id not in positions, f"{event.event_id} in the log twice"
            positions[event.event_id] = (partition, r.offset)
    return positions


def named_positions(outcomes) -> dict[str, tuple[int, int]]:
    return {e.event_id: (e.partition, e.offset) for o in outcomes for e in o.events}


class GuessesOneTooFar(CommandPartition):
    """After its first restore, A's partition expects its next event one offset past where it
    will land: as if something else had written to its events partition."""

    skewed = False

    async def restore(self, changelog) -> None:
        await super().restore(changelog)
        mine = self.partition == partition_of(A, self.settings.partitions)
        if mine and not GuessesOneTooFar.skewed:
            GuessesOneTooFar.skewed = True
            self.next_event_offset += 1


async def test_outcomes_name_the_offsets_their_events_landed_at(topics, client):
    commands = [CreateAccount(friendly_name="A", auth_token_hash="a" * 64)]
    commands += [CreateNetworkAccessProfile(unique_name=f"nap-{i}") for i in range(5)]
    commands += [
        CreateFleet(network_access_profile="nap-0", unique_name=f"f-{i}") for i in range(20)
    ]
    async with running(topics) as processor:
        outcomes = [await client.execute(c, account_sid=A, timeout=60) for c in commands]
        assert processor.event_offsets_predictable
    assert all(o.status == "accepted" for o in outcomes), [o.rejection for o in outcomes]
    named = named_positions(outcomes)
    assert len(named) == len(commands)
    assert named == await event_positions(topics)


async def test_a_wrong_guess_of_the_offsets_is_aborted_and_answered_again_right(topics, client):
    GuessesOneTooFar.skewed = False
    commands = [
        CreateAccount(friendly_name="A", auth_token_hash="a" * 64),
        CreateNetworkAccessProfile(unique_name="nap"),
        CreateFleet(network_access_profile="nap", unique_name="fleet"),
    ]
    async with running(topics, GuessesOneTooFar) as processor:
        outcomes = [await client.execute(c, account_sid=A, timeout=60) for c in commands]
    assert GuessesOneTooFar.skewed
    assert all(o.status == "accepted" for o in outcomes), [o.rejection for o in outcomes]
    assert named_positions(outcomes) == await event_positions(topics)
    assert not processor.event_offsets_predictable  # it asks the broker from then on
