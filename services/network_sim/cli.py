"""`fleetstate network-sim`: run the simulated network, or send a message from a device."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.config import load_settings, unreachable_iccids


def add_network_sim_commands(sub: argparse._SubParsersAction) -> None:
    sim = sub.add_parser(
        "network-sim",
        help="a simulated mobile network: answers messages for devices (development only)",
        description="Without an action: answer every message for a device with receipts, "
        "like a mobile network, until Ctrl-C. Never run it in production.",
    )
    sim.add_argument(
        "--unreachable",
        action="append",
        default=[],
        metavar="ICCID",
        help="answer this SIM's messages as failed, not attached (repeatable; also "
        "FLEETSTATE_NETWORK_SIM_UNREACHABLE)",
    )
    sim.set_defaults(func=_run)
    actions = sim.add_subparsers(dest="action", metavar="ACTION")
    kinds = actions.add_parser(
        "send", help="send a message from a device to fleetstate, as the network would"
    ).add_subparsers(dest="kind", required=True, metavar="KIND")
    sms = kinds.add_parser("sms", help="a text message from the device")
    sms.add_argument("--iccid", required=True)
    sms.add_argument("--payload", required=True, metavar="TEXT")
    sms.set_defaults(func=_send_sms)
    ip = kinds.add_parser("ip", help="a UDP datagram from the device")
    ip.add_argument("--iccid", required=True)
    ip.add_argument("--payload", required=True, metavar="TEXT_OR_BASE64")
    ip.add_argument("--binary", action="store_true", help="the payload is base64 (else text)")
    ip.add_argument("--device-port", required=True, type=int, metavar="N")
    ip.add_argument(
        "--device-ip", metavar="IP", help="default: the address the simulator gives the ICCID"
    )
    ip.set_defaults(func=_send_ip)
    for status in ("downloaded", "installed", "failed"):
        esim = kinds.add_parser(
            f"esim-{status}", help=f"the SM-DP+ reports an eSIM Profile {status}"
        )
        esim.add_argument("--account", required=True, metavar="AC...")
        esim.add_argument("--profile", required=True, metavar="HP...")
        if status == "failed":
            esim.add_argument("--error-code", required=True, metavar="CODE")
            esim.add_argument("--error-message", required=True, metavar="TEXT")
        esim.set_defaults(func=_send_esim, status=status)


def _run(args: argparse.Namespace) -> int:
    from events.iccid import iccid_is_valid
    from services.lifecycle import stop_on_signals
    from services.network_sim.sim import run_network_sim

    wrong = [iccid for iccid in args.unreachable if not iccid_is_valid(iccid)]
    if wrong:
        print(f"fleetstate: --unreachable: not an ICCID: {', '.join(wrong)}", file=sys.stderr)
        return 2
    settings = load_settings()
    unreachable = unreachable_iccids(settings) | set(args.unreachable)

    async def main() -> None:
        await run_network_sim(settings, unreachable, stop_on_signals())

    asyncio.run(main())
    return 0


def _send_sms(args: argparse.Namespace) -> int:
    from services.network_sim.send import sms_from_device

    return _send(lambda: sms_from_device(args.iccid, args.payload))


def _send_ip(args: argparse.Namespace) -> int:
    from services.network_sim.send import ip_from_device

    return _send(
        lambda: ip_from_device(
            args.iccid,
            args.payload,
            device_port=args.device_port,
            binary=args.binary,
            ip=args.device_ip,
        )
    )


def _send_esim(args: argparse.Namespace) -> int:
    from services.network_sim.send import esim_profile_report

    return _send(
        lambda: esim_profile_report(
            args.account,
            args.profile,
            args.status,
            getattr(args, "error_code", None),
            getattr(args, "error_message", None),
        )
    )


def _send(build) -> int:
    from aiokafka.errors import KafkaError

    from events.network import NetworkMessageError
    from services.network_sim.send import send

    settings = load_settings()
    try:
        message = build()
        asyncio.run(send(settings, message))
    except NetworkMessageError as exc:
        print(f"fleetstate: not sent: {exc.reason}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        print(f"fleetstate: not sent to {settings.network_in_topic}: {exc!r}", file=sys.stderr)
        return 1
    # The network's id of it, for finding it again (a report's own id: the profile is known).
    print(getattr(message, "report_id", message.message_id))
    return 0
