"""The `fleetstate` command: one entry point, one subcommand per deployable or tool."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import uvloop

from services.config import ConfigError, Settings, load_settings
from services.topics import TopicMismatch, TopicSettingsError


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


def _traced(service: str) -> Settings:
    """The settings of a service whose work is traced, its tracing set up (events.tracing)."""
    from events import tracing

    settings = load_settings()
    tracing.setup(service, on=settings.tracing == "on")
    return settings


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from services.api.app import create_app

    settings = _traced("api")
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        access_log=False,
    )
    # Several instances (FLEETSTATE_INSTANCES) share the port: each binds it with
    # SO_REUSEPORT and the kernel spreads the connections. uvicorn has no such option, so the
    # socket is made here; one instance binds as uvicorn would, and a taken port stops it.
    sockets = None
    if settings.instances > 1:
        sockets = [_shared_socket(settings.api_host, settings.api_port)]
    server = uvicorn.Server(config)
    server.run(sockets=sockets)
    return 0 if server.started else 3  # uvicorn's exit status when the start failed


def _shared_socket(host: str, port: int):
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _processor(args: argparse.Namespace) -> int:
    from services.processor.app import run_processor

    asyncio.run(run_processor(_traced("processor"), metrics_port=args.metrics_port))
    return 0


def _projector(args: argparse.Namespace) -> int:
    from services.projection.projector import run_projector

    asyncio.run(run_projector(_traced("projector")))
    return 0


def _usage_processor(args: argparse.Namespace) -> int:
    from services.usage.processor import run_usage_processor

    asyncio.run(run_usage_processor(_traced("usage-processor"), metrics_port=args.metrics_port))
    return 0


def _network_gateway(args: argparse.Namespace) -> int:
    from services.network.gateway import run_gateway

    asyncio.run(run_gateway(load_settings(), metrics_port=args.metrics_port))
    return 0


def _delivery(args: argparse.Namespace) -> int:
    from services.delivery.service import run_delivery

    asyncio.run(run_delivery(load_settings(), metrics_port=args.metrics_port))
    return 0


def _delivery_reseal(args: argparse.Namespace) -> int:
    from services.delivery.service import reseal

    changed = asyncio.run(reseal(load_settings()))
    print(f"resealed {changed} auth token(s) with the newest key of FLEETSTATE_TOKEN_KEYS")
    return 0


def _usage_projector(args: argparse.Namespace) -> int:
    from services.usage.projector import run_usage_projector

    asyncio.run(run_usage_projector(load_settings()))
    return 0


def _run(args: argparse.Namespace) -> int:
    from services.run import run_all

    return asyncio.run(run_all(load_settings()))


def _accounts_create(args: argparse.Namespace) -> int:
    import msgspec

    from services.operator import NotDone, create_account

    try:
        account = asyncio.run(create_account(load_settings(), args.name, parent=args.parent))
    except NotDone as exc:
        print(f"fleetstate: account not created: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(msgspec.json.encode(account).decode())
    else:
        print(f"Account SID  {account.account_sid}\nAuth Token   {account.auth_token}")
    return 0


def _accounts_rotate_token(args: argparse.Namespace) -> int:
    from services.operator import NotDone, rotate_auth_token

    try:
        token = asyncio.run(rotate_auth_token(load_settings(), args.account_sid))
    except NotDone as exc:
        print(f"fleetstate: token not rotated: {exc}", file=sys.stderr)
        return 1
    # Printed this once: only its hash was sent, nothing can show it again.
    print(f"Account SID  {args.account_sid}\nAuth Token   {token}")
    return 0


def _accounts_close(args: argparse.Namespace) -> int:
    from services.operator import NotDone, close_account

    try:
        asyncio.run(close_account(load_settings(), args.account_sid))
    except NotDone as exc:
        print(f"fleetstate: account not closed: {exc}", file=sys.stderr)
        return 1
    print(f"Account {args.account_sid} closed")
    return 0


def _report(outcome) -> int:
    from services.operator import describe

    print(describe(outcome), file=sys.stderr if outcome.rejection else sys.stdout)
    return 1 if outcome.rejection else 0


def _inventory_add(args: argparse.Namespace) -> int:
    from services.operator import NotDone, add_sim_card

    try:
        return _report(asyncio.run(add_sim_card(load_settings(), args.iccid, args.code)))
    except NotDone as exc:
        print(f"fleetstate: {exc}", file=sys.stderr)
        return 1


def _networks_add(args: argparse.Namespace) -> int:
    from services.operator import NotDone, add_network

    try:
        outcome = asyncio.run(
            add_network(load_settings(), args.name, args.country, args.mcc, args.mnc)
        )
    except NotDone as exc:
        print(f"fleetstate: {exc}", file=sys.stderr)
        return 1
    return _report(outcome)


def _demo(args: argparse.Namespace) -> int:
    from services.demo import run_demo

    settings = load_settings()
    base = settings.public_base_url or f"http://{settings.api_host}:{settings.api_port}"
    print(asyncio.run(run_demo(settings, base)))
    return 0


def _schemas(args: argparse.Namespace) -> int:
    from events.schemas import network_schemas, write_schemas

    paths = write_schemas(Path(args.directory), network_schemas() if args.network else None)
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
    usage = sub.add_parser(
        "usage-processor", help="meter data usage and enforce data limits (Kafka -> Kafka)"
    )
    usage.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve Prometheus metrics on 127.0.0.1:PORT (0: off)",
    )
    usage.set_defaults(func=_usage_processor)
    sub.add_parser(
        "usage-projector", help="keep the usage read models up to date (Kafka -> Postgres)"
    ).set_defaults(func=_usage_projector)
    gateway = sub.add_parser(
        "network-gateway",
        help="relay device commands to the mobile network and its reports back (Kafka -> Kafka)",
    )
    gateway.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve Prometheus metrics on 127.0.0.1:PORT (0: off)",
    )
    gateway.set_defaults(func=_network_gateway)
    delivery = sub.add_parser(
        "delivery", help="call the webhooks the log asks for: signed, retried, recorded"
    )
    delivery.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve Prometheus metrics on 127.0.0.1:PORT (0: off)",
    )
    delivery.set_defaults(func=_delivery)
    sub.add_parser(
        "delivery-reseal",
        help="re-encrypt the webhook signing tokens with the newest token key (key rotation)",
    ).set_defaults(func=_delivery_reseal)
    sub.add_parser("run", help="migrate, create topics, run every service").set_defaults(func=_run)
    accounts = sub.add_parser("accounts", help="tenant accounts").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = accounts.add_parser("create", help="a new account with a random SID and auth token")
    create.add_argument("--name", help="the account's friendly name")
    create.add_argument("--parent", help="an existing account (AC...): make a subaccount of it")
    create.add_argument("--json", action="store_true", help="print {account_sid, auth_token}")
    create.set_defaults(func=_accounts_create)
    rotate = accounts.add_parser(
        "rotate-token", help="a new random auth token (printed once); the old one stops working"
    )
    rotate.add_argument("account_sid", metavar="AC...")
    rotate.set_defaults(func=_accounts_rotate_token)
    close = accounts.add_parser("close", help="close the account for good")
    close.add_argument("account_sid", metavar="AC...")
    close.set_defaults(func=_accounts_close)
    inventory = sub.add_parser("inventory", help="the operator's SIM-card inventory")
    add_card = inventory.add_subparsers(dest="action", required=True, metavar="ACTION").add_parser(
        "add", help="provision a SIM card that accounts can then register"
    )
    add_card.add_argument("--iccid", required=True)
    add_card.add_argument("--code", required=True, help="its 10-character registration code")
    add_card.set_defaults(func=_inventory_add)
    networks = sub.add_parser("networks", help="the operator's carrier Network catalogue")
    add_net = networks.add_subparsers(dest="action", required=True, metavar="ACTION").add_parser(
        "add", help="provision a carrier network"
    )
    add_net.add_argument("--name", required=True, help="e.g. 'T-Mobile USA'")
    add_net.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. US")
    add_net.add_argument("--mcc", required=True, help="mobile country code, e.g. 310")
    add_net.add_argument(
        "--mnc", required=True, action="append", help="mobile network code (repeatable)"
    )
    add_net.set_defaults(func=_networks_add)
    sub.add_parser(
        "demo", help="seed a demo account, catalogue and SIM cards; print how to use them"
    ).set_defaults(func=_demo)
    schemas = sub.add_parser(
        "schemas",
        help="write one JSON Schema per command and event type, and the network's in network/",
    )
    schemas.add_argument("directory")
    schemas.add_argument(
        "--network",
        action="store_true",
        help="only the mobile network's messages, into DIRECTORY (the repo's: schemas/network)",
    )
    schemas.set_defaults(func=_schemas)
    from services.audit.cli import add_audit_commands

    add_audit_commands(sub)  # replay, history, as-of, rejections, verify-log
    from services.network_sim.cli import add_network_sim_commands

    add_network_sim_commands(sub)  # network-sim, network-sim send sms|ip
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # uvloop's event loop (a dependency; uvicorn picks it too): the services are I/O loops
    # whose latency is mostly the loop's own overhead per message.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"fleetstate: {exc}", file=sys.stderr)
        return 2
    except (TopicMismatch, TopicSettingsError) as exc:  # refused to start: say why, no trace
        print(f"fleetstate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
