"""``dashstream-quality-monitor``: publish quality events until SIGTERM."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from dashstream_workloads.common.cli import run_component
from dashstream_workloads.contract import QUALITY_MONITOR

__all__ = ["main"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fault-injection", action="store_true",
        help="enable POST /admin/inject?kind=gap|duplicate|reorder (tests only: it makes "
             "the stream deliberately wrong)",
    )


async def _run(settings: dict[str, Any], args: argparse.Namespace) -> None:
    from dashstream_workloads.quality_monitor.server import run

    await run(settings, fault_injection=bool(
        args.fault_injection or settings["QUALITY_MONITOR_FAULT_INJECTION"]))


def main(argv: Sequence[str] | None = None) -> int:
    return run_component(
        QUALITY_MONITOR,
        "dashstream-quality-monitor",
        "Publish synthetic DashStream quality events to Kafka at QUALITY_MONITOR_RATE per second.",
        _run,
        argv,
        _arguments,
    )


if __name__ == "__main__":
    sys.exit(main())
