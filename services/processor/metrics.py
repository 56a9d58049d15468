"""What the command processor counts; served as Prometheus text (services/lifecycle.py)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter(
    "fleetstate_commands_total", "Commands decided, by outcome", ["outcome"]
)  # accepted | rejected | duplicate | dead_letter
EVENTS_APPENDED = Counter("fleetstate_events_appended_total", "Events appended to the log")
DECIDE_SECONDS = Histogram(
    "fleetstate_decide_seconds",
    "Time to decide one command and fold its events",
    buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2),
)
TRANSACTION_SECONDS = Histogram(
    "fleetstate_transaction_seconds",
    "Time to append one batch of events and outcomes in a Kafka transaction",
    buckets=(1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 5),
)
PARTITIONS_OWNED = Gauge("fleetstate_processor_partitions_owned", "Command partitions owned")
RECOVERY_SECONDS = Histogram(
    "fleetstate_processor_recovery_seconds",
    "Time to restore a partition's state (changelog and tail) before it answers",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
RECOVERED_EVENTS = Counter(
    "fleetstate_processor_recovered_events_total", "Events folded while recovering partitions"
)
