"""What the usage processor and the usage projector count; served as Prometheus text."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.runtime.metrics import RuntimeMetrics

RUNTIME = RuntimeMetrics("usage")  # partitions owned, restore and transaction times

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
PROJECTED_RECORDS = Counter(
    "fleetstate_usage_projected_records_total", "Usage-log records applied to PostgreSQL"
)
