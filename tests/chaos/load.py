"""The chaos run's traffic: commands through the client, retried with the same command_id
until answered, and data session reports, resent until stored, whatever is down."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka.errors import KafkaError

from bench.workload import Workload
from events.client import CommandClient
from events.commands import CommandEnvelope
from events.usage import DataSessionReport
from events.usage_client import UsageReporter
from services.api.idempotency import Idempotency, command_id_for, fingerprint
from tests.chaos.ledger import Ledger

log = logging.getLogger(__name__)
CHUNK = 50
ANSWER_TIMEOUT = 20.0


class ClientLoad:
    def __init__(
        self, client: CommandClient, workload: Workload, ledger: Ledger, rng: random.Random
    ) -> None:
        self.client = client
        self.workload = workload
        self.ledger = ledger
        self.rng = rng

    async def setup(self) -> None:
        await self.execute(self.workload.operator_commands())
        await self.execute(self.workload.setup_commands())

    async def steady(self, count: int, rate: float, senders: int = 4) -> None:
        """`count` commands at about `rate` per second, from `senders` concurrent callers;
        about one chunk in twenty is sent a second time after it was answered."""
        commands = self.workload.steady_commands(count)
        chunks = [commands[i : i + CHUNK] for i in range(0, len(commands), CHUNK)]
        queue: asyncio.Queue = asyncio.Queue()
        for chunk in chunks:
            queue.put_nowait(chunk)
        interval = CHUNK * senders / rate

        async def sender() -> None:
            loop = asyncio.get_running_loop()
            while not queue.empty():
                chunk = queue.get_nowait()
                started = loop.time()
                await self.execute(chunk)
                if self.rng.random() < 0.05:
                    self.ledger.resent += len(chunk)
                    await self.execute(chunk)
                await asyncio.sleep(max(0.0, interval - (loop.time() - started)))

        await asyncio.gather(*(sender() for _ in range(senders)))

    async def contend(self, rate: float) -> None:
        """The spare cards, each registered by two accounts at once; a winner's Sim moved on
        to the winner's subaccount, when it has one. About `rate` contests a second."""
        for first, second in self.workload.contests():
            began = asyncio.get_running_loop().time()
            outcomes = await asyncio.gather(self.execute([first]), self.execute([second]))
            for envelope, [outcome] in zip((first, second), outcomes, strict=True):
                if outcome.status == "accepted" and outcome.events:
                    move = self.workload.move(envelope.account_sid, outcome.events[0].aggregate_id)
                    if move is not None:
                        await self.execute([move])
            await asyncio.sleep(max(0.0, 1 / rate - (asyncio.get_running_loop().time() - began)))

    async def execute(self, envelopes: list[CommandEnvelope]) -> list:
        """Sends until every command is answered, each retry with the same command ids."""
        self.ledger.sent.update(e.command_id for e in envelopes)
        while True:
            try:
                outcomes = await self.client.execute_many(envelopes, timeout=ANSWER_TIMEOUT)
            except (TimeoutError, KafkaError) as exc:
                log.info(
                    "chaos load: %d commands unanswered (%r), sending again", len(envelopes), exc
                )
                await asyncio.sleep(1.0)
                continue
            for outcome in outcomes:
                self.ledger.answered(
                    outcome.command_id, outcome.status, [ref.event_id for ref in outcome.events]
                )
            return outcomes


class UsageLoad:
    """Data session reports for the workload's Sims, some sent twice (a retry after a
    timeout), resent until the broker has them; every report sent is kept for the check."""

    def __init__(
        self, reporter: UsageReporter, workload: Workload, network_sid: str, rng: random.Random
    ) -> None:
        self.reporter = reporter
        self.workload = workload
        self.network_sid = network_sid
        self.rng = rng
        self.sent: list[DataSessionReport] = []

    async def run(self, count: int, rate: float, chunk: int = 100) -> None:
        sims = self.workload.sims()
        loop = asyncio.get_running_loop()
        for start in range(0, count, chunk):
            began = loop.time()
            reports = [self._report(sims, start + i) for i in range(min(chunk, count - start))]
            if self.sent and self.rng.random() < 0.1:
                reports += self.rng.sample(self.sent, min(10, len(self.sent)))  # duplicates
            await self._send(reports)
            self.sent += reports
            await asyncio.sleep(max(0.0, chunk / rate - (loop.time() - began)))

    def _report(self, sims: list[tuple[str, str]], n: int) -> DataSessionReport:
        account_sid, sim_sid = self.rng.choice(sims)
        end = datetime.now(UTC)
        return DataSessionReport(
            session_id=f"chaos-session-{n}",
            account_sid=account_sid,
            sim=sim_sid,
            network_sid=self.network_sid,
            bytes_up=self.rng.randrange(0, 200_000),
            bytes_down=self.rng.randrange(0, 2_000_000),
            start_time=end - timedelta(minutes=2),
            end_time=end,
        )

    async def _send(self, reports: list[DataSessionReport]) -> None:
        while True:
            try:
                async with asyncio.timeout(ANSWER_TIMEOUT):
                    await self.reporter.report_many(reports)
                return
            except (TimeoutError, KafkaError) as exc:
                log.info("chaos usage: %d reports not stored (%r), again", len(reports), exc)
                await asyncio.sleep(1.0)


class ApiLoad:
    """Fleets created over the REST API with an Idempotency-Key each, retried with the same
    key after a 503, a 202 or a lost connection until the API answers 200/201; every status
    is counted (a 500 fails the run)."""

    def __init__(
        self, http: httpx.AsyncClient, ledger: Ledger, account_sid: str, prefix: str = ""
    ) -> None:
        self.http = http
        self.ledger = ledger
        self.account_sid = account_sid
        self.prefix = prefix or "chaos-fleet-"  # of its Fleets' keys, one per API it loads

    async def setup(self) -> None:
        await self._until_done("/v1/NetworkAccessProfiles", {"UniqueName": "chaos-nap"}, "nap")

    async def run(self, count: int, rate: float) -> None:
        loop = asyncio.get_running_loop()
        for n in range(count):
            began = loop.time()
            key = f"{self.prefix}{n}"
            form = {"NetworkAccessProfile": "chaos-nap", "UniqueName": key, "DataLimit": "50"}
            status = await self._until_done("/v1/Fleets", form, key)
            if status in (200, 201):
                self.ledger.api_created[self._command_id("/v1/Fleets", form, key)] = key
            await asyncio.sleep(max(0.0, 1 / rate - (loop.time() - began)))

    def _command_id(self, path: str, form: dict, key: str) -> str:
        """The id the API derives for this request: its key and what the key is bound to."""
        params = {name: [value] for name, value in form.items()}
        bound = Idempotency(key, fingerprint("POST", path, params), request="")
        return command_id_for(self.account_sid, bound)

    async def _until_done(self, path: str, form: dict, key: str) -> int:
        while True:
            try:
                response = await self.http.post(path, data=form, headers={"Idempotency-Key": key})
            except httpx.HTTPError as exc:
                self.ledger.api_statuses[type(exc).__name__] += 1
                await asyncio.sleep(1.0)
                continue
            self.ledger.api_statuses[response.status_code] += 1
            if response.status_code == 503:
                self.ledger.unavailable_at.append(time.monotonic())
            if response.status_code in (202, 503):  # still on its way, or a part is down
                await asyncio.sleep(1.0)
                continue
            return response.status_code
