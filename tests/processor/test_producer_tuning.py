"""Both processors' transactional producers are tuned in one place (services/runtime/producer.py):
the usage processor gets the same retry backoffs as the command processor without importing
the command processor's modules, each checked in an interpreter that imports only its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.runtime.producer import RETRY_BACKOFF_MS

ROOT = Path(__file__).resolve().parents[2]

# Builds a partition worker (nothing connects before start()) and reports its producer's tuning.
PROBE = """
import asyncio, json, sys
from aiokafka.producer import sender
from services.config import load_settings
from {module} import {owner} as Owner

async def main():
    producer = Owner(load_settings())._new_worker(0).producer
    print(json.dumps({{
        "add_partitions_backoff": sender.BACKOFF_OVERRIDE,
        "sender_backoff": producer._sender._retry_backoff,
        "client_backoff": producer.client._retry_backoff,
        "command_processor_loaded": "services.processor" in sys.modules,
    }}))

asyncio.run(main())
"""


def tuning(module: str, owner: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module, owner=owner)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "module, owner",
    [("services.processor.app", "Processor"), ("services.usage.processor", "UsageProcessor")],
)
def test_a_processor_producer_retries_after_the_runtime_backoff(module, owner):
    backoff = RETRY_BACKOFF_MS / 1000
    assert {k: v for k, v in tuning(module, owner).items() if k.endswith("backoff")} == {
        "add_partitions_backoff": backoff,
        "sender_backoff": backoff,
        "client_backoff": backoff,
    }


def test_the_usage_processor_does_not_import_the_command_processor():
    assert not tuning("services.usage.processor", "UsageProcessor")["command_processor_loaded"]
