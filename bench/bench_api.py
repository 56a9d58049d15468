"""REST API benchmark (not a test): `make bench-api` or
`.venv/bin/python bench/bench_api.py [--seconds S] [--runs R]` with the dev stack running.

Each run, on fresh topics and a fresh bench database, with `fleetstate processor`, `projector` and
`api` (uvicorn) as child processes, the load offered open-loop at a fixed rate from this process:
1. POST /v1/Fleets until its 201 (read-your-writes included) at 200 requests/s; ceiling: the same
   CreateFleet through CommandClient.execute plus the projection wait, no HTTP (the processor
   round trip the API cannot beat).
2. GET /v1/Sims/{Sid} at 1,000 requests/s; ceilings: a raw asyncpg fetch of the same row, and a
   `select 1` round trip, at the same rate.
3. GET /v1/Sims?PageSize=50 with 1,000,000 Sims in the table (COPYed straight into the bench
   database: fine for a read benchmark): page 1 against a page 10,000 pages in (a keyset token
   forged at row 500,000); ceiling: the raw keyset query of that page.
Figures are medians over the runs of each run's p50/p99, in milliseconds, and the CPU each
process spent per POST (bench/cpu.py).

First (phase `hops`, alone: `--phases hops [--hops-rate N]`), where a POST's time goes: the same
POST at 200/s on a stack exporting its spans to an OTLP receiver in this process, each request's
trace cut into its hops (bench/hops.py), each beside the raw Kafka or PostgreSQL ceiling of that
hop measured right after on the same broker and database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from base64 import b64encode
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import cpu, hops  # noqa: E402
from events.commands import CreateFleet, ProvisionSimCard  # noqa: E402
from events.sids import OPERATOR_ACCOUNT_SID  # noqa: E402
from services.api.pages import encode_token  # noqa: E402
from services.config import Settings, load_settings, with_topic_prefix  # noqa: E402
from services.migrate import migrate  # noqa: E402
from services.operator import command_client, create_account  # noqa: E402
from services.postgres import drop_database
from services.projection.waiter import ProjectionWaiter  # noqa: E402
from services.topics import delete_topics_of, ensure_topics  # noqa: E402
from tests.services import serving  # noqa: E402
from tests.tracing.receiver import OtlpReceiver  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SIMS_IN_TABLE = 1_000_000
PAGE_SIZE = 50
DEEP_PAGE = 10_000
# The columns load_sims fills, in its rows' order (the others keep their defaults).
SIM_COLUMNS = (
    "sid",
    "account_sid",
    "unique_name",
    "iccid",
    "status",
    "fleet_sid",
    "callback_url",
    "callback_method",
    "version",
    "date_created",
    "date_updated",
)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


async def at_rate(rate: int, seconds: float, call) -> list[float]:
    """Starts `call()` rate times a second for `seconds` (open loop: a slow answer does not
    delay the next start); returns each call's latency."""
    latencies: list[float] = []
    total = int(rate * seconds)
    start = time.perf_counter()

    async def one() -> None:
        began = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - began)

    tasks = []
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies


async def sequential(count: int, call) -> list[float]:
    latencies = []
    for _ in range(count):
        began = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - began)
    return latencies


async def load_sims(dsn: str, account_sid: str, count: int) -> list[tuple[datetime, str]]:
    """COPYs `count` Sims of one account; returns the (date_created, sid) of every 1000th."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        (
            f"HS{uuid.uuid4().hex}",
            account_sid,
            None,
            f"89{i:017d}",
            "new",
            None,
            None,
            None,
            1,
            base + timedelta(milliseconds=i),
            base + timedelta(milliseconds=i),
        )
        for i in range(count)
    ]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("sims", records=rows, columns=SIM_COLUMNS)
        await conn.execute("analyze sims")
    finally:
        await conn.close()
    return [(r[9], r[0]) for r in rows[::1000]]


@contextlib.asynccontextmanager
async def bench_stack(base: Settings, tmp: Path, env: dict[str, str] | None = None):
    """Fresh topics and a fresh bench database, with `fleetstate processor`, `projector` and
    `api` as child processes (with `env` added); yields the settings, the API's base URL once
    it answers and the services' pids, and removes the database afterwards."""
    tag = uuid.uuid4().hex[:8]
    admin = await asyncpg.connect(base.database_url)
    await admin.execute(f'create database "bench_{tag}"')
    await admin.close()
    settings = msgspec.structs.replace(
        with_topic_prefix(base, f"bench-{tag}"),
        database_url=base.database_url.rsplit("/", 1)[0] + f"/bench_{tag}",
        api_port=18000 + int(tag[:3], 16) % 1000,
        api_metrics_port=0,  # not scraped here
        # One account from one address at 1,000 requests/s measures the API, not its limits.
        api_rate_per_address=100_000.0,
        api_burst_per_address=100_000,
        api_rate_per_account=100_000.0,
        api_burst_per_account=100_000,
    )
    await migrate(settings.database_url)
    await ensure_topics(settings)
    base_url = f"http://127.0.0.1:{settings.api_port}"
    logs = tmp / tag  # each service's <name>.log
    logs.mkdir(parents=True, exist_ok=True)
    try:
        async with serving(settings, logs, env=env) as services:
            yield settings, base_url, {s.name: s.process.pid for s in services}
    finally:
        admin = await asyncpg.connect(base.database_url)
        await drop_database(admin, f"bench_{tag}")
        await admin.close()
        await delete_topics_of(base.kafka_bootstrap, f"bench-{tag}.")


def http_session(base_url: str, account) -> aiohttp.ClientSession:
    # aiohttp, not httpx: at 1,000 requests/s httpx's own pool costs more than the API.
    auth = f"{account.account_sid}:{account.auth_token}".encode()
    return aiohttp.ClientSession(
        base_url=base_url,
        headers={"Authorization": "Basic " + b64encode(auth).decode()},
        connector=aiohttp.TCPConnector(limit=200),
    )


async def one_run(base: Settings, seconds: float, tmp: Path) -> dict[str, tuple[float, float]]:
    results: dict[str, tuple[float, float]] = {}
    async with bench_stack(base, tmp) as (settings, base_url, pids):
        account = await create_account(settings, "bench")
        async with http_session(base_url, account) as http, command_client(settings) as client:
            async with http.post("/v1/NetworkAccessProfiles", data={"UniqueName": "nap"}) as r:
                assert r.status == 201, await r.text()

            async def post_fleet() -> None:
                async with http.post("/v1/Fleets", data={"NetworkAccessProfile": "nap"}) as r:
                    assert r.status == 201, await r.text()

            waiter = ProjectionWaiter(settings.database_url, settings.events_topic)
            await waiter.start()

            async def bus_fleet() -> None:
                outcome = await client.execute(
                    CreateFleet(network_access_profile="nap"), account_sid=account.account_sid
                )
                [ref] = outcome.events
                assert await waiter.wait_for({ref.partition: ref.offset}, 10)

            await at_rate(50, 1, post_fleet)  # warm-up
            cpu_before = cpu.by_part(pids)
            posted = await at_rate(200, seconds, post_fleet)
            cpu_spent = cpu.spent(cpu_before, cpu.by_part(pids))
            results["POST /v1/Fleets @200/s"] = percentiles(posted)
            # CPU per request by process (in ms; "p50" and "p99" alike), shown apart below.
            for part, used in cpu_spent.items():
                results[f"cpu {part}"] = (used / len(posted) * 1000,) * 2
            results["  ceiling: bus + projection @200/s"] = percentiles(
                await at_rate(200, seconds, bus_fleet)
            )
            await waiter.stop()

            await client.execute(
                ProvisionSimCard(iccid="8999999999999999999", registration_code="BENCH00001"),
                account_sid=OPERATOR_ACCOUNT_SID,
            )
            card = {"Iccid": "8999999999999999999", "RegistrationCode": "BENCH00001"}
            async with http.post("/v1/Sims", data=card) as r:
                assert r.status == 201, await r.text()
                sid = (await r.json())["sid"]

            async def get_sim() -> None:
                async with http.get(f"/v1/Sims/{sid}") as r:
                    assert r.status == 200
                    await r.read()

            pool = await asyncpg.create_pool(settings.database_url, min_size=4, max_size=10)

            async def raw_row() -> None:
                await pool.fetchrow(
                    "select sid, account_sid, unique_name, iccid, status, fleet_sid, "
                    "date_created, date_updated from sims where account_sid = $1 and sid = $2",
                    account.account_sid,
                    sid,
                )

            async def select_one() -> None:
                await pool.fetchval("select 1")

            await at_rate(500, 1, get_sim)  # warm-up
            results["GET /v1/Sims/{Sid} @1000/s"] = percentiles(
                await at_rate(1000, seconds, get_sim)
            )
            results["  ceiling: asyncpg fetch of the row @1000/s"] = percentiles(
                await at_rate(1000, seconds, raw_row)
            )
            results["  ceiling: asyncpg select 1 @1000/s"] = percentiles(
                await at_rate(1000, seconds, select_one)
            )

            marks = await load_sims(settings.database_url, account.account_sid, SIMS_IN_TABLE)
            deep = marks[DEEP_PAGE * PAGE_SIZE // 1000]
            token = encode_token("a", *deep)

            async def first_page() -> None:
                async with http.get("/v1/Sims", params={"PageSize": PAGE_SIZE}) as r:
                    assert len((await r.json())["sims"]) == PAGE_SIZE

            async def deep_page() -> None:
                params = {"PageSize": PAGE_SIZE, "Page": DEEP_PAGE, "PageToken": token}
                async with http.get("/v1/Sims", params=params) as r:
                    assert len((await r.json())["sims"]) == PAGE_SIZE

            async def raw_deep_page() -> None:
                await pool.fetch(
                    "select sid, account_sid, unique_name, iccid, status, fleet_sid, "
                    "date_created, date_updated from sims where account_sid = $1 and "
                    "(date_created, sid) > ($2, $3) order by date_created, sid limit $4",
                    account.account_sid,
                    deep[0],
                    deep[1],
                    PAGE_SIZE + 1,
                )

            await sequential(50, first_page)
            results["GET /v1/Sims page 1 (1M in table)"] = percentiles(
                await sequential(300, first_page)
            )
            results[f"GET /v1/Sims page {DEEP_PAGE:,}"] = percentiles(
                await sequential(300, deep_page)
            )
            results[f"  ceiling: raw keyset query of page {DEEP_PAGE:,}"] = percentiles(
                await sequential(300, raw_deep_page)
            )
            await pool.close()
    return results


async def hops_run(base: Settings, seconds: float, tmp: Path, rate: int) -> dict[str, list[float]]:
    """POST /v1/Fleets at `rate`/s on a stack exporting its spans to a receiver here: each hop's
    seconds (bench/hops.py), and the raw ceilings of the Kafka and PostgreSQL hops measured
    right after on the same broker and database."""
    receiver = OtlpReceiver().start()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    try:
        async with bench_stack(base, tmp, env) as (settings, base_url, pids):
            account = await create_account(settings, "bench")
            async with http_session(base_url, account) as http:
                async with http.post("/v1/NetworkAccessProfiles", data={"UniqueName": "nap"}) as r:
                    assert r.status == 201, await r.text()

                async def post_fleet() -> None:
                    async with http.post("/v1/Fleets", data={"NetworkAccessProfile": "nap"}) as r:
                        assert r.status == 201, await r.text()

                await at_rate(50, 1, post_fleet)  # warm-up
                before = len(receiver.spans)
                cpu_before = cpu.by_part(pids)
                traced = await at_rate(rate, seconds, post_fleet)
                cpu_spent = cpu.spent(cpu_before, cpu.by_part(pids))
            # Every request's server span has come (exporters send within their delay).
            wanted = len(traced)
            await receiver.wait_until(
                lambda spans: sum(s.name == "POST /v1/Fleets" for s in spans[before:]) >= wanted,
                timeout=60,
            )
            times = hops.hop_times(
                receiver.spans[before:], settings.commands_topic, settings.events_topic
            )
            if "request" not in times:
                seen = Counter((s.service, s.name) for s in receiver.spans[before:])
                raise RuntimeError(f"no complete trace of a POST among the spans: {seen}")
            times["traced POST"] = traced
            # CPU milliseconds per request, by process, as one-sample lists like the times.
            for part, used in cpu_spent.items():
                times[f"cpu {part}"] = [used / len(traced)]
            times["kafka"] = await hops.kafka_hop(settings, rate, seconds)
            transactions = await hops.kafka_transaction(settings, int(200 * seconds / 4))
            times["txn"], times["committed"] = transactions
            times["pg"] = await hops.postgres_commit(settings.database_url, int(200 * seconds / 4))
            return times
    finally:
        receiver.stop()


CEILINGS = {
    "kafka": "raw produce -> read_committed consume",
    "txn": "raw transaction: event, outcome, state + input position",
    "committed": "raw commit -> read_committed consume",
    "pg": "raw insert + NOTIFY, committed",
}


def print_hops(runs: list[dict[str, list[float]]], rate: int) -> None:
    def figures(name: str) -> tuple[float, float, float]:
        p50 = statistics.median(percentiles(r[name])[0] for r in runs)
        p99 = statistics.median(percentiles(r[name])[1] for r in runs)
        mean = statistics.median(statistics.fmean(r[name]) * 1000 for r in runs)
        return p50, p99, mean

    total = figures("request")[2]
    print(f"\nPOST /v1/Fleets @{rate}/s, traced (spans exported), its hops: medians of {len(runs)}")
    print(f"{'hop':<36} {'p50':>7} {'p99':>7} {'mean':>7} {'share':>6}   ceiling (p50/p99)")
    for hop, _, ceiling in hops.HOPS:
        p50, p99, mean = figures(hop)
        beside = ""
        if ceiling:
            c50, c99, _ = figures(ceiling)
            beside = f"{CEILINGS[ceiling]}: {c50:.1f}/{c99:.1f}"
        print(f"{hop:<36} {p50:7.1f} {p99:7.1f} {mean:7.1f} {mean / total:6.0%}   {beside}")
    if all(hops.PROJECTOR_PART in r for r in runs):
        p50, p99, mean = figures(hops.PROJECTOR_PART)
        print(f"{hops.PROJECTOR_PART:<36} {p50:7.1f} {p99:7.1f} {mean:7.1f}")
    p50, p99, mean = figures("request")
    print(f"{'the request (server span)':<36} {p50:7.1f} {p99:7.1f} {mean:7.1f}")
    # What the Kafka part of any command's round trip costs with nothing of ours in it: the
    # command's hop, a transaction, the outcome's hop.
    floor = sum(figures(name)[0] for name in ("kafka", "txn", "committed"))
    print(f"{'  floor: the raw Kafka parts, p50s':<36} {floor:7.1f}")
    p50, p99, _ = figures("traced POST")
    print(f"{'the request (client, traced)':<36} {p50:7.1f} {p99:7.1f}")
    parts = sorted(name[4:] for name in runs[0] if name.startswith("cpu "))
    used = {part: figures(f"cpu {part}")[2] for part in parts}
    print(
        f"CPU per request, ms: {sum(used.values()):.1f} in all (the machine has "
        f"{os.cpu_count()} cores: {sum(used.values()) * rate / 1000 / os.cpu_count():.0%} busy "
        f"at {rate}/s): " + ", ".join(f"{part} {ms:.2f}" for part, ms in used.items())
    )
    for hop, what, _ in hops.HOPS:
        print(f"  {hop}: {what}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each rate phase")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--phases", default="api,hops", help="api (the figures above), hops (where a POST goes)"
    )
    parser.add_argument("--hops-rate", type=int, default=200, help="POSTs/s of the hops phase")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    RESULTS.mkdir(exist_ok=True)
    if "hops" in phases:
        hop_runs = [
            await hops_run(load_settings(), args.seconds, RESULTS, args.hops_rate)
            for _ in range(args.runs)
        ]
        print_hops(hop_runs, args.hops_rate)
    if "api" not in phases:
        return
    runs = []
    for run in range(args.runs):
        figures = await one_run(load_settings(), args.seconds, RESULTS)
        runs.append(figures)
        print(
            f"run {run + 1}: "
            + "; ".join(f"{k.strip()} {v[0]:.1f}/{v[1]:.1f}" for k, v in figures.items()),
            flush=True,
        )
    print(f"\nmedians over {args.runs} runs (ms)                         p50      p99")
    for name in (name for name in runs[0] if not name.startswith("cpu ")):
        p50 = statistics.median(r[name][0] for r in runs)
        p99 = statistics.median(r[name][1] for r in runs)
        print(f"{name:<52} {p50:7.2f}  {p99:7.2f}")

    used = {
        name[4:]: statistics.median(r[name][0] for r in runs)
        for name in runs[0]
        if name.startswith("cpu ")
    }
    print(
        f"CPU per POST at 200/s, ms: {sum(used.values()):.1f} in all "
        f"({sum(used.values()) * 200 / 1000 / (os.cpu_count() or 1):.0%} of the machine): "
        + ", ".join(f"{part} {ms:.2f}" for part, ms in used.items())
    )


if __name__ == "__main__":
    asyncio.run(main())
