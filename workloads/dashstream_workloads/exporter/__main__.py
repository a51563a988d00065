"""``dashstream-exporter``: consume quality events into Prometheus metrics until SIGTERM."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from dashstream_workloads.common.cli import run_component
from dashstream_workloads.contract import PROMETHEUS_EXPORTER

__all__ = ["main"]


async def _run(settings: dict[str, Any], _: argparse.Namespace) -> None:
    from dashstream_workloads.exporter.server import run

    await run(settings)


def main(argv: Sequence[str] | None = None) -> int:
    return run_component(
        PROMETHEUS_EXPORTER,
        "dashstream-exporter",
        "Consume DashStream quality events from Kafka and serve them as Prometheus metrics.",
        _run,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
