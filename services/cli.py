"""The `fleetstate` command: one entry point, one subcommand per deployable or tool."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from services.config import ConfigError, load_settings


def _migrate(args: argparse.Namespace) -> int:
    from services.migrate import migrate

    settings = load_settings()
    applied = asyncio.run(migrate(settings.database_url))
    print(f"applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}")
    return 0


def _topics(args: argparse.Namespace) -> int:
    from services.topics import ensure_topics

    settings = load_settings()
    asyncio.run(ensure_topics(settings))
    print(f"topics ready ({settings.partitions} partitions)")
    return 0


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from services.api.app import create_app

    settings = load_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        access_log=False,
    )
    return 0


def _processor(args: argparse.Namespace) -> int:
    from services.processor.app import run_processor

    asyncio.run(run_processor(load_settings(), metrics_port=args.metrics_port))
    return 0


def _projector(args: argparse.Namespace) -> int:
    from services.projection.projector import run_projector

    asyncio.run(run_projector(load_settings()))
    return 0


def _run(args: argparse.Namespace) -> int:
    from services.run import run_all

    return asyncio.run(run_all(load_settings()))


def _schemas(args: argparse.Namespace) -> int:
    from events.schemas import write_schemas

    paths = write_schemas(Path(args.directory))
    print(f"wrote {len(paths)} JSON Schema file(s) to {args.directory}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetstate", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("migrate", help="apply pending SQL migrations").set_defaults(func=_migrate)
    sub.add_parser("topics", help="create the Kafka topics").set_defaults(func=_topics)
    sub.add_parser("api", help="serve the REST API").set_defaults(func=_api)
    processor = sub.add_parser("processor", help="decide commands into events (Kafka -> Kafka)")
    processor.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve Prometheus metrics on 127.0.0.1:PORT (0: off)",
    )
    processor.set_defaults(func=_processor)
    sub.add_parser(
        "projector", help="keep the read models up to date (Kafka -> Postgres)"
    ).set_defaults(func=_projector)
    sub.add_parser("run", help="migrate, create topics, run every service").set_defaults(func=_run)
    schemas = sub.add_parser("schemas", help="write one JSON Schema per command and event type")
    schemas.add_argument("directory")
    schemas.set_defaults(func=_schemas)
    from services.audit.cli import add_audit_commands

    add_audit_commands(sub)  # replay, history, as-of, rejections, verify-log
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"fleetstate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
