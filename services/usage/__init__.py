"""Data usage metering and per-SIM data limits, enforced as a stream.

Pure: periods (billing periods), directory (Sims and Fleets folded from the events), state (usage
per Sim and period), domain (what a report counts and which thresholds it crosses).
Adapters: partition and processor (Kafka -> Kafka, exactly once), projector (usage log ->
PostgreSQL), records and sim_usage (read-model queries for the API).
"""
