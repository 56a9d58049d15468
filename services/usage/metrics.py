"""What the usage processor and the usage projector count; served as Prometheus text."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REPORTS = Counter(
    "fleetstate_usage_reports_total", "Usage reports read, by verdict", ["verdict"]
)  # counted | counted_data_disabled | duplicate | unknown_sim | too_late | from_future | invalid
BYTES_COUNTED = Counter("fleetstate_usage_bytes_total", "Bytes counted (up and down)")
DATA_STATE_CHANGES = Counter(
    "fleetstate_usage_data_state_changes_total",
    "Threshold commands sent, by kind",
    ["kind"],  # suspend | resume | activate
)
BATCH_REPORTS = Histogram(
    "fleetstate_usage_batch_reports",
    "Reports per transaction",
    buckets=(1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000),
)
TRANSACTION_SECONDS = Histogram(
    "fleetstate_usage_transaction_seconds",
    "Time to write one batch's usage log, commands and offsets in a Kafka transaction",
    buckets=(1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 5),
)
PARTITIONS_OWNED = Gauge("fleetstate_usage_partitions_owned", "Usage partitions owned")
RECOVERY_SECONDS = Histogram(
    "fleetstate_usage_recovery_seconds",
    "Time to restore a usage partition's state (changelog and tail) before it answers",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
PROJECTED_RECORDS = Counter(
    "fleetstate_usage_projected_records_total", "Usage-log records applied to PostgreSQL"
)
