"""Which IPv4 addresses no Sim holds, as sorted disjoint ranges: the registry's index for "the
lowest free address of a pool".

Scanning a pool's addresses from its lowest until one is free costs one step per address held,
so the n-th activation in a pool cost n steps (a million active Sims made activation the
slowest command by far). The free addresses as ranges answer in O(log r) for r ranges; addresses
are handed out lowest first, so r stays about the number of holes that releases left.

Derived from the leases (evolve and the changelog restore keep it), never stored: an address is
free here exactly when it has no lease or its lease has no holder.
"""

from __future__ import annotations

from bisect import bisect_right

LAST_ADDRESS = 2**32 - 1


class FreeAddresses:
    __slots__ = ("starts", "ends")

    def __init__(self) -> None:
        # Free ranges [starts[i], ends[i]], inclusive, sorted and never adjacent.
        self.starts: list[int] = [0]
        self.ends: list[int] = [LAST_ADDRESS]

    def copy(self) -> FreeAddresses:
        other = FreeAddresses()
        other.starts, other.ends = list(self.starts), list(self.ends)
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FreeAddresses):
            return NotImplemented
        return self.starts == other.starts and self.ends == other.ends

    def __repr__(self) -> str:
        ranges = ", ".join(f"{s}-{e}" for s, e in zip(self.starts, self.ends, strict=True))
        return f"FreeAddresses({ranges})"

    def lowest(self, first: int, last: int) -> int | None:
        """The lowest free address in [first, last], or None."""
        i = bisect_right(self.starts, first) - 1
        if i >= 0 and self.ends[i] >= first:
            return first
        i += 1
        if i < len(self.starts) and self.starts[i] <= last:
            return self.starts[i]
        return None

    def take(self, address: int) -> None:
        """Marks the address held (nothing changes if it was held already)."""
        i = bisect_right(self.starts, address) - 1
        if i < 0 or self.ends[i] < address:
            return
        start, end = self.starts[i], self.ends[i]
        if start == end:
            del self.starts[i], self.ends[i]
        elif address == start:
            self.starts[i] = address + 1
        elif address == end:
            self.ends[i] = address - 1
        else:
            self.ends[i] = address - 1
            self.starts.insert(i + 1, address + 1)
            self.ends.insert(i + 1, end)

    def give(self, address: int) -> None:
        """Marks the address free (nothing changes if it was free already)."""
        i = bisect_right(self.starts, address) - 1
        if i >= 0 and self.ends[i] >= address:
            return
        joins_before = i >= 0 and self.ends[i] == address - 1
        joins_after = i + 1 < len(self.starts) and self.starts[i + 1] == address + 1
        if joins_before and joins_after:
            self.ends[i] = self.ends[i + 1]
            del self.starts[i + 1], self.ends[i + 1]
        elif joins_before:
            self.ends[i] = address
        elif joins_after:
            self.starts[i + 1] = address
        else:
            self.starts.insert(i + 1, address)
            self.ends.insert(i + 1, address)
