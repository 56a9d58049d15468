"""How the audit commands print: rich tables for people, JSON for programs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from services.audit.differences import RowDifference
from services.audit.field_changes import HistoryEntry
from services.audit.rejections import RejectedCommand
from services.audit.replay import ReplayReport
from services.audit.verify_log import LogVerdict


def as_json(value: Any) -> str:
    return msgspec.json.format(msgspec.json.encode(value)).decode()


def show(value: Any) -> str:
    """A value as an auditor reads it: null for None, ISO 8601 UTC for times."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list | dict):
        return msgspec.json.encode(value).decode()
    return str(value)


class _Rate(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} {self.unit}/s", style="cyan")


def progress_bar(console: Console, what: str, unit: str) -> tuple[Progress, Callable]:
    """A progress bar with rate and ETA, and the on_progress(done, total) that moves it."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task(what, total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, on_progress


def history_table(title: str, entries: list[HistoryEntry]) -> Table:
    table = Table(title=title, show_lines=True)
    for column in ("v", "occurred at", "event", "actor", "command_id", "changes (old -> new)"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        if entry.created:
            changes = "\n".join(f"{c.field}: {show(c.new)}" for c in entry.changes)
        else:
            changes = "\n".join(f"{c.field}: {show(c.old)} -> {show(c.new)}" for c in entry.changes)
        # A fact that changes no field may still say why (an activation without an address).
        reason = entry.payload.get("reason") if isinstance(entry.payload, dict) else None
        changes = changes or (f"reason: {reason}" if reason else "(no visible field changed)")
        if entry.webhook is not None:
            d = entry.webhook
            changes += (
                f"\nwebhook {d.method} {d.url}: {d.status}\n{_attempts(d) or '(no attempt yet)'}"
            )
        table.add_row(
            str(entry.aggregate_version),
            show(entry.occurred_at),
            entry.type,
            entry.actor,
            entry.command_id,
            changes,
        )
    return table


def resource_table(title: str, view: dict[str, Any]) -> Table:
    table = Table(title=title)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for field, value in view.items():
        table.add_row(field, show(value))
    return table


def rejections_table(title: str, rejected: list[RejectedCommand]) -> Table:
    table = Table(title=title, show_lines=True)
    for column in ("decided at", "command", "actor", "command_id", "refused", "attempts"):
        table.add_column(column, overflow="fold")
    for r in rejected:
        if r.command_type is None:
            what = "(no longer on the commands topic)"
        else:
            given = ", ".join(f"{k}={show(v)}" for k, v in (r.parameters or {}).items())
            what = f"{r.command_type}({given})"
        table.add_row(
            show(r.decided_at),
            what,
            r.actor or "?",
            r.command_id,
            f"{r.http_status} {r.code}: {r.message}",
            str(r.attempts),
        )
    return table


def deliveries_table(title: str, found) -> Table:
    table = Table(title=title, show_lines=True)
    for column in ("event at", "about", "to", "status", "attempts"):
        table.add_column(column, overflow="fold")
    for d in found:
        table.add_row(
            show(d.occurred_at),
            f"{d.event_type} {d.resource_sid}",
            f"{d.method} {d.url}",
            d.status,
            _attempts(d) or "(none yet)",
        )
    return table


def _attempts(delivery) -> str:
    """A delivery's attempts, one a line."""
    return "\n".join(
        f"{a.attempt}. {show(a.started_at)} {a.status_code or '-'} {a.outcome} "
        f"{a.latency_ms:.0f} ms" + (f": {a.error}" if a.error else "")
        for a in delivery.attempts
    )


def replay_summary(report: ReplayReport) -> Table:
    t = report.timings
    table = Table(title=f"replay into {report.schema}", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("events folded", f"{report.events:,} ({report.events_per_second:,.0f}/s)")
    if report.left_out:
        table.add_row("events after --until", f"{report.left_out:,}")
    if report.skipped:
        table.add_row("undecodable events skipped", f"{len(report.skipped):,}")
    table.add_row("rows", ", ".join(f"{name} {n:,}" for name, n in report.rows.items()))
    table.add_row("read up to", ", ".join(f"{p}:{o}" for p, o in sorted(report.read_up_to.items())))
    w = t.workers
    table.add_row(
        "seconds",
        f"total {t.total:.2f}: reading and folding the log {t.stream:.2f} in "
        f"{report.workers} worker(s), which spent (summed) {w.read:.2f} waiting for the log, "
        f"{w.decode:.2f} decoding, {w.fold:.2f} folding, {w.encode:.2f} encoding rows; "
        f"other tables {t.copy_final:.2f}, indexes {t.indexes:.2f}, comparing {t.verify:.2f}",
    )
    postgres = "?" if t.postgres_cpu is None else f"{t.postgres_cpu:.2f}"
    table.add_row(
        "CPU seconds",
        f"workers {t.workers_cpu:.2f}, this process {t.parent_cpu:.2f}, PostgreSQL {postgres}",
    )
    return table


def differences_lines(found: list[RowDifference]) -> list[str]:
    return [difference.describe() for difference in found]


def verdict_table(verdict: LogVerdict) -> Table:
    table = Table(title=f"tamper chain of {verdict.topic}")
    for column in ("partition", "events verified", "head offset", "head sha256", "verdict"):
        table.add_column(column, overflow="fold")
    for p in verdict.partitions:
        state = "intact" if p.broken is None else f"BROKEN at offset {p.broken.offset}"
        table.add_row(
            str(p.partition),
            f"{p.events:,}",
            "" if p.head is None else str(p.head.offset),
            "" if p.head is None else p.head.hash,
            state,
        )
    return table
