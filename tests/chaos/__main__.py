"""`python -m tests.chaos [--cluster] [--commands N] [--report PATH]`: the chaos run and its
report (`--cluster`: on a three-node Kafka cluster, every service twice; `make chaos-cluster`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import msgspec

from tests.chaos.run import CLUSTER, ChaosConfig, run_chaos


def main() -> int:
    defaults = ChaosConfig()
    parser = argparse.ArgumentParser(prog="python -m tests.chaos")
    parser.add_argument("--commands", type=int, default=defaults.commands)
    parser.add_argument("--rate", type=float, default=defaults.rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--cluster", action="store_true", help="three brokers, services twice")
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args()
    name = "chaos-cluster" if args.cluster else "chaos"
    report_path = args.report or Path(f"bench/results/{name}-report.json")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    config = ChaosConfig(
        commands=args.commands,
        rate=args.rate,
        seed=args.seed,
        **(CLUSTER if args.cluster else {}),
    )
    report = asyncio.run(run_chaos(config))
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    print(msgspec.json.format(msgspec.json.encode(report)).decode())
    print(f"{name} run {'PASSED' if report.passed else 'FAILED'}; report in {report_path}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
