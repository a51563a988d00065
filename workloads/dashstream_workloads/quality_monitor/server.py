"""Run the quality-monitor: publish at ``QUALITY_MONITOR_RATE`` until SIGTERM,
then flush the producer.

The rate is kept against a monotonic schedule (events due = elapsed x rate),
not by sleeping 1/rate per event, so it does not drift under load and high
rates are published in bursts of all events due every few milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web
from confluent_kafka import Consumer

from dashstream_workloads.common import (
    KafkaHealth,
    ServerInfo,
    add_common_routes,
    client_config,
    producer_config,
    serve_until,
)
from dashstream_workloads.common.aio import wait_stopped
from dashstream_workloads.contract import QUALITY_MONITOR
from dashstream_workloads.quality_monitor.generator import EventGenerator
from dashstream_workloads.quality_monitor.publisher import FAULT_KINDS, Injection, Publisher

__all__ = ["run"]

log = logging.getLogger(__name__)

_TICK_SECONDS: Final = 0.005
_MAX_BURST: Final = 5000  # events per tick; beyond that the schedule is reset, not chased
_PROBE_SECONDS: Final = 10.0
_FLUSH_SECONDS: Final = 30.0


def _admin_routes(app: web.Application, publisher: Publisher) -> None:
    """``POST /admin/inject?kind=gap|duplicate|reorder`` (only with --fault-injection)."""

    async def inject(request: web.Request) -> web.Response:
        kind = request.query.get("kind", "")
        if kind not in FAULT_KINDS:
            return web.json_response({"error": f"kind must be one of {list(FAULT_KINDS)}"},
                                     status=400)
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        publisher.pending.append(Injection(kind, done))
        try:
            result = await asyncio.wait_for(done, timeout=30)
        except (TimeoutError, asyncio.CancelledError):
            return web.json_response({"error": "not injected (stopped or paused)"}, status=503)
        return web.json_response(result)

    app.router.add_post("/admin/inject", inject)


async def _publish(publisher: Publisher, rate: float, max_events: int,
                   stop: asyncio.Event) -> None:
    start = time.monotonic()
    done = 0
    while not stop.is_set():
        while publisher.pending:  # injections go out at once, whatever the rate
            publisher.publish_one()
        due = int((time.monotonic() - start) * rate) - done
        if due > _MAX_BURST:
            log.warning("publisher behind schedule; skipping ahead", extra={"due": due})
            start = time.monotonic() - done / rate
            due = _MAX_BURST
        for _ in range(max(0, due)):
            if max_events and publisher.produced >= max_events:
                break
            publisher.publish_one()
        done += max(0, due)
        publisher.service()
        next_due = start + (done + 1) / rate
        await wait_stopped(stop, min(0.25, max(_TICK_SECONDS, next_due - time.monotonic())))


async def _probe(producer_client: Any, topic: str, health: KafkaHealth,
                 stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            metadata = await loop.run_in_executor(
                None, lambda: producer_client.list_topics(topic, timeout=5))
            error = metadata.topics[topic].error
            if error is None:
                health.mark_ok()
            else:
                health.mark_down(f"topic {topic}: {error.str()}")
        except Exception as exc:  # KafkaException: broker unreachable
            health.mark_down(str(exc))
        await wait_stopped(stop, _PROBE_SECONDS)


async def run(settings: Mapping[str, Any], fault_injection: bool = False) -> None:
    """Publish until SIGTERM; ``settings`` is ``settings.load("quality-monitor", ...)``."""
    health = KafkaHealth()
    generator = EventGenerator(
        settings["QUALITY_MONITOR_MODELS"], settings["QUALITY_MONITOR_SESSIONS"],
        settings["QUALITY_MONITOR_TENANT_ID"], seed=settings["QUALITY_MONITOR_SEED"],
    )
    conf = producer_config(settings, QUALITY_MONITOR)
    conf["error_cb"] = health.note_error
    topic = settings["KAFKA_TOPIC"]
    publisher = Publisher(conf, topic, generator,
                          settings["QUALITY_MONITOR_COMPRESSION_THRESHOLD_BYTES"])
    publisher.on_delivery_ok(health.mark_ok)

    app = web.Application()
    add_common_routes(app, ServerInfo(
        QUALITY_MONITOR, publisher.registry, health,
        details=lambda: {"run_id": generator.run_id, "produced": publisher.produced,
                         "delivered": publisher.delivered, "fault_injection": fault_injection},
    ))
    if fault_injection:
        _admin_routes(app, publisher)
        log.warning("fault injection enabled: POST /admin/inject?kind=gap|duplicate|reorder")

    async def body(stop: asyncio.Event) -> None:
        # A metadata-only client for the health probe; librdkafka requires a group.id
        # on a consumer handle, but it never joins the group.
        probe_client = Consumer({**client_config(settings, f"{QUALITY_MONITOR}-probe"),
                                 "group.id": "dashstream-probe", "enable.auto.commit": False})
        probe = asyncio.create_task(_probe(probe_client, topic, health, stop))
        try:
            await _publish(publisher, settings["QUALITY_MONITOR_RATE"],
                           settings["QUALITY_MONITOR_MAX_EVENTS"], stop)
        finally:
            stop.set()
            loop = asyncio.get_running_loop()
            remaining = await loop.run_in_executor(None, publisher.close, _FLUSH_SECONDS)
            await probe
            probe_client.close()
            log.info("quality-monitor stopped", extra={
                "run_id": generator.run_id, "produced": publisher.produced,
                "delivered": publisher.delivered, "undelivered_at_shutdown": remaining})

    await serve_until(app, settings["METRICS_HOST"], settings["METRICS_PORT"], body)
