"""``dashstream-websocket-server``: run the websocket-server until SIGTERM."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from dashstream_workloads.common.cli import run_component
from dashstream_workloads.contract import WEBSOCKET_SERVER

__all__ = ["main"]


async def _run(settings: dict[str, Any], _: argparse.Namespace) -> None:
    from dashstream_workloads.websocket_server.server import run

    await run(settings)


def main(argv: Sequence[str] | None = None) -> int:
    return run_component(
        WEBSOCKET_SERVER,
        "dashstream-websocket-server",
        "Stream DashStream events from Kafka to WebSocket clients (/ws) and a live viewer (/).",
        _run,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
