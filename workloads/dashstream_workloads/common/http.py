"""The endpoints every server has (``/health``, ``/metrics``, ``/version``) and
the serve-until-SIGTERM loop.

``/metrics`` serves exactly the process's one contract registry (the old
servers registered metrics in one registry and served another, so those metrics
never reached Prometheus).
"""

from __future__ import annotations

import asyncio
import logging
import platform
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import confluent_kafka
import google.protobuf
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from dashstream_workloads import __version__
from dashstream_workloads.common.kafka import KafkaHealth

__all__ = ["ServerInfo", "add_common_routes", "serve_until", "version_info"]

log = logging.getLogger(__name__)


@dataclass
class ServerInfo:
    """What the common endpoints report for one server process.

    ``details`` adds component-specific fields to ``/health``;
    ``on_scrape`` receives the seconds spent encoding each ``/metrics``.
    """

    component: str
    registry: CollectorRegistry
    kafka: KafkaHealth
    details: Callable[[], dict[str, Any]] | None = None
    on_scrape: Callable[[float], None] | None = None
    started: float = field(default_factory=time.time)


def version_info(component: str) -> dict[str, Any]:
    """``/version``: what is running, for bug reports."""
    return {
        "component": component,
        "version": __version__,
        "python": platform.python_version(),
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
        "protobuf": google.protobuf.__version__,
        "aiohttp": aiohttp.__version__,
    }


def add_common_routes(app: web.Application, info: ServerInfo) -> None:
    """Register ``/health``, ``/metrics`` and ``/version`` on ``app``."""

    async def health(_: web.Request) -> web.Response:
        kafka = info.kafka.as_dict()
        ok = bool(kafka["connected"])
        body: dict[str, Any] = {
            "status": "ok" if ok else "degraded",
            "component": info.component,
            "version": __version__,
            "uptime_seconds": round(time.time() - info.started, 3),
            "kafka": kafka,
        }
        if info.details is not None:
            body.update(info.details())
        # 503 lets a readiness probe take the pod out of a Service while Kafka is
        # unreachable; use /version for liveness (restarting does not fix Kafka).
        return web.json_response(body, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        start = time.perf_counter()
        payload = generate_latest(info.registry)
        if info.on_scrape is not None:
            info.on_scrape(time.perf_counter() - start)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def version(_: web.Request) -> web.Response:
        return web.json_response(version_info(info.component))

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/version", version)


async def serve_until(
    app: web.Application,
    host: str,
    port: int,
    body: Callable[[asyncio.Event], Awaitable[None]],
) -> None:
    """Serve ``app`` and run ``body(stop)`` until SIGTERM/SIGINT sets ``stop``.

    ``body`` owns the server's work (consumer thread, producer loop) and must
    return once ``stop`` is set, after flushing or committing; the HTTP
    server stays up until then so ``/metrics`` shows the final state.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("listening", extra={"host": host, "port": port})
    try:
        await body(stop)
    finally:
        log.info("shutting down http server")
        await runner.cleanup()
