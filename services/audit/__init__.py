"""Audit tools: replay the log into a fresh schema (and compare it with the live one), every
resource's history, a resource as of any moment, rejected commands, and the tamper chain.

Pure modules (no Kafka, no Postgres): chain, fold, resources, field_changes, differences,
rejections, copy_binary. Adapters: log_scan, replay (and its replay_worker processes),
compare, history, as_of, rejection_log, verify_log.
The command line glue is cli, its rich output render.
"""

# What other packages (the API's audit endpoints) use: the public interface of the audit.
from services.audit.as_of import resource_as_of  # noqa: E402
from services.audit.field_changes import HistoryEntry  # noqa: E402
from services.audit.history import history_page  # noqa: E402
from services.audit.resources import FLEET, PROFILE, SIM, Kind  # noqa: E402

__all__ = ["FLEET", "PROFILE", "SIM", "HistoryEntry", "Kind", "history_page", "resource_as_of"]
