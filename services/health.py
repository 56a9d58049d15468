"""Is Kafka answering? Is Postgres answering? Used by /healthz and by the dev stack's start.

`python -m services.health wait kafka|postgres` polls until the component really answers
(a metadata request, a query) or the timeout passes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from events.kafka_security import KafkaSecurity, kafka_options, process_security

HUNG_UP = (
    "the broker hung up: does it want TLS or SASL credentials that "
    "FLEETSTATE_KAFKA_SECURITY_PROTOCOL does not give it?"
)


async def kafka_refusal(
    bootstrap: str, security: KafkaSecurity | None = None, timeout: float = 5.0
) -> str | None:
    """Why this process's principal cannot talk to the first bootstrap server, in the words
    of the TLS handshake or the SASL exchange, or None if it can. (A client's bootstrap only
    says "Unable to bootstrap": a wrong password or an untrusted CA looks like a broker that
    is down.)"""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    options = (security or process_security()).options()
    conn = None
    try:
        async with asyncio.timeout(timeout):
            conn = await create_conn(
                host, int(port), request_timeout_ms=int(timeout * 1000), **options
            )
            await conn.send(MetadataRequest([]))
    except KafkaConnectionError as exc:  # closed on us, after or without a TLS handshake
        return f"{exc} ({HUNG_UP})"
    except (OSError, KafkaError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if conn is not None:
            conn.close()
    return None


async def check_kafka(bootstrap: str, timeout: float = 5.0) -> dict:
    """A metadata request to the cluster; returns {"ok": bool, ...}."""
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap), request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
        brokers = len(cluster["brokers"])
        return {"ok": True, "brokers": brokers, "controller": cluster["controller_id"]}
    except KafkaConnectionError as exc:  # say why: refused credentials, an untrusted CA, ...
        reason = await kafka_refusal(bootstrap, timeout=timeout)
        return {"ok": False, "error": reason or f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # any failure means "not healthy"; the reason is reported
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        try:
            await admin.close()
        except Exception:
            pass


async def check_postgres(dsn: str, timeout: float = 5.0) -> dict:
    """A query to the database; returns {"ok": bool, ...}."""
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    try:
        version = await conn.fetchval("select current_setting('server_version')", timeout=timeout)
        return {"ok": True, "server_version": version}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        await conn.close()


async def wait_until_ready(component: str, target: str, timeout: float, brokers: int = 1) -> dict:
    """Polls until the component answers. Kafka with `brokers` above 1: until every address
    of the bootstrap list answers on its own and counts that many brokers, so a node
    restarted after a crash counts only once it serves again (the others list it until the
    controller fences it)."""
    deadline = time.monotonic() + timeout
    while True:
        if component != "kafka":
            result = await check_postgres(target)
        elif brokers == 1:
            result = await check_kafka(target)
        else:
            result = await _check_every_broker(target.split(","), brokers)
        if result["ok"] or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(0.5)


async def _check_every_broker(addresses: list[str], brokers: int) -> dict:
    for address in addresses:
        result = await check_kafka(address.strip())
        if not result["ok"]:
            return {"ok": False, "error": f"{address}: {result['error']}"}
        if result["brokers"] < brokers:
            return {"ok": False, "error": f"{result['brokers']} of {brokers} brokers are up"}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.health")
    sub = parser.add_subparsers(dest="action", required=True)
    wait = sub.add_parser("wait", help="wait until a component answers")
    wait.add_argument("component", choices=["kafka", "postgres"])
    wait.add_argument("--bootstrap", default="127.0.0.1:9092")
    wait.add_argument("--dsn", default="")
    wait.add_argument("--brokers", type=int, default=1, help="Kafka: how many must be up")
    wait.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    # aiokafka logs every refused connection while the broker boots; the wait reports the outcome.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    target = args.bootstrap if args.component == "kafka" else args.dsn
    started = time.monotonic()
    result = asyncio.run(wait_until_ready(args.component, target, args.timeout, args.brokers))
    elapsed = time.monotonic() - started
    if result["ok"]:
        print(f"[devstack] {args.component} ready after {elapsed:.1f}s", file=sys.stderr)
        return 0
    print(f"[devstack] {args.component} not ready: {result['error']}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
