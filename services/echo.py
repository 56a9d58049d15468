"""Input quoted back in error messages, cut short: an error names what it refuses, it does not
return a 20 KB reference (or a long list of them) to its sender."""

from __future__ import annotations

from collections.abc import Iterable

ECHO_LIMIT = 64  # characters of one value; longer ones end in "..."
ECHO_ITEMS = 5  # values of a list; more are counted, not shown


def capped(value: str, limit: int = ECHO_LIMIT) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def shown(value: str) -> str:
    """The value quoted, as repr() would, after capping (so the quote still closes)."""
    return repr(capped(value))


def shown_list(values: Iterable[str]) -> str:
    """Comma-separated, each value capped, at most ECHO_ITEMS of them."""
    values = list(values)
    head = ", ".join(capped(v) for v in values[:ECHO_ITEMS])
    rest = len(values) - ECHO_ITEMS
    return f"{head} and {rest} more" if rest > 0 else head
