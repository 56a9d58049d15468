"""What the command processor counts; served as Prometheus text (services/lifecycle.py)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.runtime.metrics import RuntimeMetrics

RUNTIME = RuntimeMetrics("processor")  # partitions owned, restore and transaction times

COMMANDS = Counter(
    "fleetstate_commands_total", "Commands decided, by outcome", ["outcome"]
)  # accepted | rejected | duplicate | dead_letter
EVENTS_APPENDED = Counter("fleetstate_events_appended_total", "Events appended to the log")
DECIDE_SECONDS = Histogram(
    "fleetstate_decide_seconds",
    "Time to decide one command and fold its events",
    buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2),
)
RECOVERED_EVENTS = Counter(
    "fleetstate_processor_recovered_events_total", "Events folded while recovering partitions"
)
CATALOGUE_BEHIND = Counter(
    "fleetstate_processor_catalogue_behind_total",
    "Batches asked again because a command named a Network and the catalogue could not be "
    "read up to now (refusing it then could refuse a Network provisioned a moment ago)",
)
