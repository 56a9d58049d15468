"""A service started, or restarted by its supervisor, while Kafka is down waits for the broker
and goes on once it answers (the chaos run found a usage projector restarted during a broker
outage that exited at start, and its read model stayed behind for good)."""

from __future__ import annotations

import asyncio

import msgspec

from services.migrate import migrate
from tests.api.conftest import free_port
from tests.api.proxy import TcpProxy
from tests.services import ServiceProcess


async def _logged(path, text: str, seconds: float = 60) -> None:
    async with asyncio.timeout(seconds):
        while not path.exists() or text not in path.read_text():  # noqa: ASYNC110,ASYNC230 - polls another process's log
            await asyncio.sleep(0.1)


async def test_a_service_started_while_kafka_is_down_waits_for_it(settings, database_url, tmp_path):
    await migrate(database_url)
    host, port = settings.kafka_bootstrap.split(":")
    proxy = TcpProxy(host, int(port), free_port())  # down: nothing listens on its port yet
    behind = msgspec.structs.replace(
        settings, kafka_bootstrap=f"127.0.0.1:{proxy.port}", database_url=database_url
    )
    log = tmp_path / "usage-projector.log"
    service = ServiceProcess("usage-projector", behind, log_path=log)
    service.start()
    try:
        await _logged(log, "waiting for Kafka")
        assert service.process.poll() is None, log.read_text()[-2000:]
        await proxy.up()
        await _logged(log, f"created topic {settings.usage_log_topic}")
        assert service.process.poll() is None, log.read_text()[-2000:]
    finally:
        service.stop()
        await proxy.down()
