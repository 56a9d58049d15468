"""Audit tools: replay the log into a fresh schema (and compare it with the live one), every
resource's history, a resource as of any moment, rejected commands, and the tamper chain.

Pure modules (no Kafka, no Postgres): chain, fold, resources, field_changes, differences,
rejections, copy_binary. Adapters: log_scan, replay (and its replay_worker processes),
compare, history, as_of, rejection_log, verify_log.
The command line glue is cli, its rich output render.
"""
