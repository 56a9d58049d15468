"""Read models: the pure projection of events into rows (changes, tables) and its adapters
(the live projector, the writer, the read-your-writes waiter)."""

# What other packages (the API, the operator tools) use: read-your-writes.
from services.projection.waiter import ProjectionWaiter  # noqa: E402

__all__ = ["ProjectionWaiter"]
