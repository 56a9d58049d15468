"""What the partition runtime measures for each service that runs on it, named after the service:
partitions owned, the time a partition's restore took, the time of each transaction."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram


class RuntimeMetrics:
    def __init__(self, service: str) -> None:
        self.partitions_owned = Gauge(
            f"fleetstate_{service}_partitions_owned", f"Partitions the {service} owns"
        )
        self.recovery_seconds = Histogram(
            f"fleetstate_{service}_recovery_seconds",
            "Time to restore a partition's state (changelog and tail) before it answers",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
        )
        self.transaction_seconds = Histogram(
            f"fleetstate_{service}_transaction_seconds",
            "Time to write and commit one Kafka transaction (output, changelog, input offsets)",
            buckets=(1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 5),
        )
