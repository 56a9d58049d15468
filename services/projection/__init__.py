"""Read models: the pure projection of events into rows (changes, tables) and its adapters
(the live projector, the writer, the read-your-writes waiter)."""

# What other packages (the API, the operator tools) use: read-your-writes, and the columns of
# the rows they read.
from services.projection.tables import FLEETS  # noqa: E402
from services.projection.waiter import ProjectionWaiter  # noqa: E402

__all__ = ["FLEETS", "ProjectionWaiter"]
