"""`python -m tests.chaos [--commands N] [--report PATH]`: the chaos run and its report."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import msgspec

from tests.chaos.run import ChaosConfig, run_chaos


def main() -> int:
    defaults = ChaosConfig()
    parser = argparse.ArgumentParser(prog="python -m tests.chaos")
    parser.add_argument("--commands", type=int, default=defaults.commands)
    parser.add_argument("--rate", type=float, default=defaults.rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--report", type=Path, default=Path("bench/results/chaos-report.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    config = ChaosConfig(commands=args.commands, rate=args.rate, seed=args.seed)
    report = asyncio.run(run_chaos(config))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    print(msgspec.json.format(msgspec.json.encode(report)).decode())
    print(f"chaos run {'PASSED' if report.passed else 'FAILED'}; report in {args.report}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
