"""A command partition's state and memory as the changelog keeps them, checked in memory:
whatever snapshot the changelog holds, it plus the log after any earlier point folds to the
state of the whole log; the memory of answered commands survives its packs."""

from __future__ import annotations

import random
from collections import deque

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.workload import Workload
from events.commands import AddNetworkToProfile, RemoveNetworkFromProfile
from events.envelope import Rejection
from events.sids import NETWORK, derive_sid
from events.sids import OPERATOR_ACCOUNT_SID as OPERATOR
from services.domain import State, decide, evolve
from services.domain.follow_ups import follow_ups
from services.processor.memory import FUTURE_TOLERANCE_MS, HOUR_MS, CommandMemory, command_key
from services.processor.store import PartitionState

_LOGS: dict[int, list] = {}


def workload_log(seed: int) -> list:
    """A few hundred events of the workload's mix and of profiles gaining and losing Networks
    (events that add to a record, not only set it), decided by the pure decider."""
    if seed not in _LOGS:
        workload = Workload(seed=seed, accounts=3, sims_per_account=3)
        state, log = State(), []
        commands = workload.operator_commands() + workload.setup_commands()
        rng = random.Random(seed)
        for command in workload.steady_commands(300):
            commands.append(command)
            if rng.random() < 0.2:
                network = derive_sid(NETWORK, commands[rng.randrange(3)].command_id, OPERATOR)
                change = rng.choice((AddNetworkToProfile, RemoveNetworkFromProfile))
                commands.append(
                    msgspec.structs.replace(
                        command,
                        command_id=f"{command.command_id}-n",
                        command=change(network_access_profile="nap", network=network),
                    )
                )
        # Each command's steps decided right after it (a registration, a Sim's address).
        queue = deque(commands)
        while queue:
            command = queue.popleft()
            result = decide(state, command)
            if not isinstance(result, Rejection):
                for event in result:
                    evolve(state, event)
                    log.append(event)
            queue.extendleft(reversed(follow_ups(state, command, result)))
        _LOGS[seed] = log
    return _LOGS[seed]


def comparable(store: PartitionState):
    s = store.state
    # evolve makes an empty record for the operator pseudo-account, which has no state of its
    # own to restore: empty and absent decide alike.
    accounts = {sid: a for sid, a in s.accounts.items() if a != type(a)(sid=sid)}
    free = (s.ip_free.starts, s.ip_free.ends)  # the index of free addresses, rebuilt too
    return (accounts, dict(s.networks), dict(s.sim_cards), s.ip_addresses, s.ip_holders, free)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 3),
    st.lists(st.floats(0, 1), min_size=1, max_size=6),
    st.floats(0, 1),
)
def test_the_changelog_at_any_point_and_the_log_after_any_earlier_point_fold_to_the_whole(
    seed, writes, tail_from
):
    log = workload_log(seed)
    whole = PartitionState()
    for event in log:
        whole.apply(event)

    # The changelog as compaction leaves it: the latest value of each key, written by
    # transactions that ended at these points of the log.
    points = sorted(int(w * len(log)) for w in writes)
    live, changelog, done = PartitionState(), {}, 0
    for point in points:
        for event in log[done:point]:
            live.apply(event)
        done = point
        changelog.update(live.changes())
    restored = PartitionState()
    for key, value in changelog.items():
        if value is not None:
            restored.load(key, value)
    # The tail is read from any point at or before the last write: events the changelog
    # already holds are skipped by their versions, the others applied once.
    for event in log[int(tail_from * points[-1]) :]:
        restored.fold(event)
    assert comparable(restored) == comparable(whole)


def test_a_remembered_command_is_found_until_its_hour_leaves_the_horizon():
    memory = CommandMemory(horizon_ms=24 * HOUR_MS)
    key = command_key("AC1", "c-1")
    at = 1_000 * HOUR_MS + 5
    memory.remember(key, 42, at)
    assert memory.offsets(key) == [42]
    last_kept = 1_001 * HOUR_MS + 24 * HOUR_MS + FUTURE_TOLERANCE_MS - 1
    assert memory.expire(last_kept) == [] and memory.offsets(key) == [42]
    memory.expire(last_kept + 1)
    assert memory.offsets(key) == []


def test_memory_packs_restore_every_entry_and_collisions_keep_both():
    memory = CommandMemory(horizon_ms=24 * HOUR_MS)
    at = 500 * HOUR_MS
    entries = [(command_key("AC1", f"c-{i}"), i, at + i) for i in range(1000)]
    entries.append((entries[0][0], 5000, at))  # the same hash for another command
    for key, offset, when in entries:
        memory.remember(key, offset, when)
    records = memory.pack(entries)
    restored = CommandMemory(horizon_ms=24 * HOUR_MS)
    for name, packed in records.items():
        restored.load(name, packed)
    assert len(restored) == len(memory) == 1000
    assert sorted(restored.offsets(entries[0][0])) == [0, 5000]
    assert restored.offsets(entries[500][0]) == [500]
    # Expired hours name their packs, to be deleted from the changelog.
    assert set(restored.expire(at + 30 * HOUR_MS)) == set(records)
