"""The audit subcommands of `fleetstate`: replay, history, as-of, rejections, deliveries,
verify-log.

Exit codes: 0 done (and, for replay --verify and verify-log, all is as it should be); 1 the
audit found something (differences, a broken link, an unknown resource); 2 the audit could
not run (bad arguments, refused schema).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from rich.console import Console

from services.config import load_settings

FOUND, FAILED = 1, 2
SEARCHED_BY_NAME = ("fleet", "sim", "profile")  # kinds with unique names


def moment(text: str) -> datetime:
    """An ISO 8601 moment; a date alone is its midnight, and a time without a zone is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def add_audit_commands(sub: argparse._SubParsersAction) -> None:
    from services.audit.resources import BY_NAME

    replay = sub.add_parser(
        "replay", help="rebuild every read model from the event log into a fresh schema"
    )
    replay.add_argument("--into", required=True, metavar="SCHEMA", help="a new schema")
    replay.add_argument(
        "--verify", action="store_true", help="compare with the live schema, row by row"
    )
    replay.add_argument("--live-schema", default="public", help="the live read models' schema")
    replay.add_argument(
        "--until", type=moment, metavar="TIME", help="the state at TIME (occurred_at <= TIME)"
    )
    replay.add_argument("--replace", action="store_true", help="drop SCHEMA first if it exists")
    replay.set_defaults(func=_replay)

    kinds = sorted(BY_NAME)
    for name, func, help_text in (
        ("history", _history, "every event of one resource, with the fields it changed"),
        ("as-of", _as_of, "one resource as it was at a moment"),
    ):
        command = sub.add_parser(name, help=help_text)
        if name == "as-of":
            command.add_argument("at", type=moment, metavar="TIME")
        command.add_argument("ref", metavar="SID_OR_NAME")
        command.add_argument("--account", required=True, metavar="AC...")
        command.add_argument(
            "--type", choices=kinds, help="the resource's kind (needed when a name is ambiguous)"
        )
        command.add_argument("--schema", default="public", help="where the read models are")
        command.add_argument("--json", action="store_true", help="print JSON")
        command.set_defaults(func=func)

    rejections = sub.add_parser("rejections", help="who tried what, and why it was refused")
    rejections.add_argument("--account", required=True, metavar="AC...")
    rejections.add_argument("--since", type=moment, metavar="TIME")
    rejections.add_argument("--json", action="store_true", help="print JSON")
    rejections.set_defaults(func=_rejections)

    deliveries = sub.add_parser(
        "deliveries", help="the webhooks called for an account, with every attempt"
    )
    deliveries.add_argument("--account", required=True, metavar="AC...")
    deliveries.add_argument(
        "--resource", metavar="SID", help="only those about this SmsCommand, IpCommand or Sim"
    )
    deliveries.add_argument(
        "--status", choices=("pending", "delivered", "failed", "expired"), help="only these"
    )
    deliveries.add_argument("--limit", type=int, default=100, help="the latest N (100)")
    deliveries.add_argument("--json", action="store_true", help="print JSON")
    deliveries.set_defaults(func=_deliveries)

    verify = sub.add_parser("verify-log", help="check the tamper chain of the whole event log")
    verify.add_argument(
        "--checkpoint", type=Path, metavar="FILE", help="heads recorded by an earlier run"
    )
    verify.add_argument(
        "--save-checkpoint", type=Path, metavar="FILE", help="record the heads when intact"
    )
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(func=_verify_log)


# --- replay ------------------------------------------------------------------------------------


def _replay(args: argparse.Namespace) -> int:
    from services.audit.render import differences_lines, progress_bar, replay_summary
    from services.audit.replay import ReplayError, replay

    console = Console()
    if args.verify and args.until:
        console.print("--until rebuilds a past state: there is no live state to --verify it with")
        return FAILED
    progress, on_progress = progress_bar(console, f"replay into {args.into}", "events")
    try:
        with progress:
            report = asyncio.run(
                replay(
                    load_settings(),
                    args.into,
                    until=args.until,
                    verify_against=args.live_schema if args.verify else None,
                    replace=args.replace,
                    live_schema=args.live_schema,
                    on_progress=on_progress,
                )
            )
    except ReplayError as exc:
        console.print(f"[red]replay refused:[/] {exc}")
        return FAILED
    console.print(replay_summary(report))
    if report.differences is None:
        return 0
    if not report.differences:
        rows = sum(report.rows.values())
        console.print(f"[green]the replay equals {args.live_schema}[/]: {rows:,} rows compared")
        return 0
    for line in differences_lines(report.differences):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"[red]{len(report.differences)} rows differ from {args.live_schema}[/]")
    return FOUND


# --- history and as-of -------------------------------------------------------------------------


async def _connect(schema: str) -> asyncpg.Connection:
    settings = load_settings()
    return await asyncpg.connect(settings.database_url, server_settings={"search_path": schema})


async def _find_kind(conn, account: str, ref: str, kind_name: str | None, at=None):
    """The kind `ref` names: --type, else its SID shape, else the one kind whose resources
    carry that name. Returns (kind, aggregate id) or a message saying why not."""
    from services.audit.history import resolve
    from services.audit.resources import BY_NAME, kind_of_sid

    if kind_name:
        candidates = [BY_NAME[kind_name]]
    elif (kind := kind_of_sid(ref)) is not None:
        candidates = [kind]
    else:
        candidates = [BY_NAME[name] for name in SEARCHED_BY_NAME]
    found = []
    for kind in candidates:
        aggregate_id = await resolve(conn, account, kind, ref, at=at)
        if aggregate_id is not None:
            found.append((kind, aggregate_id))
    if len(found) > 1:
        kinds = " and ".join(kind.name for kind, _ in found)
        return f"{ref!r} names a {kinds} in {account}: say which with --type"
    if not found:
        return f"no resource {ref!r} in account {account}"
    return found[0]


def _history(args: argparse.Namespace) -> int:
    from services.audit.field_changes import history_entries, with_webhooks
    from services.audit.history import aggregate_events
    from services.audit.render import as_json, history_table
    from services.delivery.log import deliveries

    async def run():
        conn = await _connect(args.schema)
        try:
            found = await _find_kind(conn, args.account, args.ref, args.type)
            if isinstance(found, str):
                return found
            kind, aggregate_id = found
            events = await aggregate_events(conn, args.account, aggregate_id)
        finally:
            await conn.close()
        # The webhooks its events called, attempts and all (the delivery log is live state,
        # in the public schema whatever --schema says).
        called = await deliveries(load_settings(), args.account, aggregate_id, limit=None)
        return kind, aggregate_id, with_webhooks(history_entries(events), called)

    console = Console()
    result = asyncio.run(run())
    if isinstance(result, str):
        console.print(result)
        return FOUND
    kind, aggregate_id, entries = result
    if args.json:
        print(as_json(entries))
    else:
        console.print(history_table(f"{kind.aggregate_type} {aggregate_id}", entries))
    return 0


def _as_of(args: argparse.Namespace) -> int:
    from services.audit.as_of import view_as_of
    from services.audit.history import aggregate_events
    from services.audit.render import as_json, resource_table, show

    async def run():
        conn = await _connect(args.schema)
        try:
            found = await _find_kind(conn, args.account, args.ref, args.type, at=args.at)
            if isinstance(found, str):
                return found
            kind, aggregate_id = found
            events = await aggregate_events(conn, args.account, aggregate_id)
            view = view_as_of(events, kind, aggregate_id, args.at)
            if view is None:
                return f"{kind.aggregate_type} {aggregate_id} did not exist yet at {show(args.at)}"
            return kind, aggregate_id, view
        finally:
            await conn.close()

    console = Console()
    result = asyncio.run(run())
    if isinstance(result, str):
        console.print(result)
        return FOUND
    kind, aggregate_id, view = result
    if args.json:
        print(as_json(view))
    else:
        title = f"{kind.aggregate_type} {aggregate_id} as of {show(args.at)}"
        console.print(resource_table(title, view))
    return 0


# --- rejections and the tamper chain -----------------------------------------------------------


def _rejections(args: argparse.Namespace) -> int:
    from services.audit.rejection_log import rejections
    from services.audit.render import as_json, rejections_table

    found = asyncio.run(rejections(load_settings(), args.account, args.since))
    if args.json:
        print(as_json(found))
    else:
        Console().print(rejections_table(f"rejected commands of {args.account}", found))
    return 0


def _deliveries(args: argparse.Namespace) -> int:
    from services.audit.render import as_json, deliveries_table
    from services.delivery.log import deliveries

    found = asyncio.run(
        deliveries(load_settings(), args.account, args.resource, args.status, args.limit)
    )
    if args.json:
        print(as_json(found))
    else:
        Console().print(deliveries_table(f"webhooks of {args.account}", found))
    return 0


def _verify_log(args: argparse.Namespace) -> int:
    from services.audit.render import as_json, progress_bar, verdict_table
    from services.audit.verify_log import read_checkpoint, verify_log, write_checkpoint

    settings = load_settings()
    console = Console(stderr=args.json)
    checkpoint = read_checkpoint(args.checkpoint) if args.checkpoint else None
    progress, on_progress = progress_bar(console, "verify-log", "events")
    with progress:
        verdict = asyncio.run(
            verify_log(settings.kafka_bootstrap, settings.events_topic, checkpoint, on_progress)
        )
    if args.json:
        print(as_json({"intact": verdict.intact, "partitions": verdict.partitions}))
    else:
        console.print(verdict_table(verdict))
    first = verdict.first_broken
    if first is not None:
        console.print(
            f"[red]first broken link[/]: partition {first.partition}, offset {first.offset}, "
            f"event {first.event_id or '?'}: {first.problem}",
            highlight=False,
            soft_wrap=True,
        )
        return FOUND
    if args.save_checkpoint:
        write_checkpoint(args.save_checkpoint, verdict.checkpoint())
    console.print("[green]the chain is intact[/]")
    return 0
