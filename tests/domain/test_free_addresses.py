"""The registry's index of free addresses answers exactly what scanning the addresses would:
the lowest address of a range that no Sim holds, whatever was taken and given back before."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.free_addresses import LAST_ADDRESS, FreeAddresses

ADDRESSES = st.integers(0, 40)  # a small space, so that takes and gives meet often
EDGES = st.sampled_from([0, 1, LAST_ADDRESS - 1, LAST_ADDRESS])


def lowest_by_scan(held: set[int], first: int, last: int) -> int | None:
    return next((a for a in range(first, last + 1) if a not in held), None)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), ADDRESSES | EDGES), max_size=60),
    st.lists(st.tuples(ADDRESSES, st.integers(0, 12)), min_size=1, max_size=8),
)
def test_the_lowest_free_address_is_the_one_a_scan_finds(changes, ranges):
    free, held = FreeAddresses(), set()
    for taking, address in changes:
        if taking:
            free.take(address)
            held.add(address)
        else:
            free.give(address)
            held.discard(address)
        # Sorted, disjoint ranges that never touch: one free address has one place.
        assert all(s <= e for s, e in zip(free.starts, free.ends, strict=True))
        assert all(e + 1 < s for e, s in zip(free.ends, free.starts[1:], strict=False))
        for first, length in ranges:
            last = first + length
            assert free.lowest(first, last) == lowest_by_scan(held, first, last)
    for edge in (0, LAST_ADDRESS):
        assert (free.lowest(edge, edge) is None) == (edge in held)


def test_a_copy_changes_on_its_own():
    free = FreeAddresses()
    free.take(5)
    other = free.copy()
    other.give(5)
    other.take(6)
    assert free.lowest(5, 6) == 6
    assert other.lowest(5, 6) == 5
