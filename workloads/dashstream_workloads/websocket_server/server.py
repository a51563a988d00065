"""Wire the websocket-server together and run it until SIGTERM.

Threads: the broadcast reader (every partition: decode, frame for the clients),
the duty consumer (the pipeline group's share of the partitions: count, validate,
DLQ, commit) and the lag monitor's fetches run off the event loop; the loop serves
HTTP/WebSocket and fans out. Shutdown order: stop reading, flush the DLQ, commit,
close the consumers, say goodbye to clients, drain the Redis writer, stop HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from dashstream_workloads.common import (
    ConsumerLoop,
    KafkaHealth,
    LagMonitor,
    LagSnapshot,
    LagTracker,
    ServerInfo,
    add_common_routes,
    classify_kafka_error,
    client_config,
    consumer_config,
    producer_config,
    serve_until,
)
from dashstream_workloads.common.aio import wait_stopped
from dashstream_workloads.contract import WEBSOCKET_SERVER
from dashstream_workloads.websocket_server.app import WebSocketApp
from dashstream_workloads.websocket_server.dlq import DlqSender
from dashstream_workloads.websocket_server.metrics import WsMetrics
from dashstream_workloads.websocket_server.pipeline import Handoff, RecordProcessor
from dashstream_workloads.websocket_server.redis_replay import RedisReplay
from dashstream_workloads.websocket_server.replay import MemoryReplay
from dashstream_workloads.websocket_server.sequence import SequenceValidator
from dashstream_workloads.wire import SchemaCompatibility

__all__ = ["run"]

log = logging.getLogger(__name__)


class _LagReporter:
    """Apply lag-monitor rounds to the metrics (and log stale partitions)."""

    def __init__(self, metrics: WsMetrics, health: KafkaHealth, stale_after: float) -> None:
        self._m = metrics
        self._health = health
        self._stale_after = stale_after

    def __call__(self, snap: LagSnapshot, error: str | None, seconds: float) -> None:
        m = self._m
        m.lag_poll_duration("success" if error is None else "error").observe(seconds)
        if error is None:
            self._health.mark_ok()
        else:
            m.lag_poll_failures.inc()
            self._health.mark_down(error)
        for partition in snap.removed:
            # Revoked: remove the series so no alert keeps watching it.
            for gauge in (m.lag, m.lag_offset_age):
                with contextlib.suppress(KeyError):
                    gauge.remove(str(partition))
        for partition, state in snap.partitions.items():
            if state.lag is not None:
                m.lag.labels(str(partition)).set(state.lag)
            m.lag_offset_age.labels(str(partition)).set(state.offset_age_seconds)
            if state.lag and state.offset_age_seconds > self._stale_after:
                log.warning("stale partition", extra={
                    "partition": partition, "lag": state.lag,
                    "offset_age_seconds": round(state.offset_age_seconds, 1)})


async def run(settings: Mapping[str, Any]) -> None:
    """Serve until SIGTERM/SIGINT; ``settings`` is ``settings.load("websocket-server", ...)``."""
    started = time.time()
    start_ms = started * 1000
    metrics = WsMetrics()
    health = KafkaHealth()
    topic = settings["KAFKA_TOPIC"]
    memory = MemoryReplay(settings["WEBSOCKET_REPLAY_BUFFER_SIZE"],
                          settings["WEBSOCKET_REPLAY_MAX_AGE_SECS"])
    redis = None
    if settings["REDIS_URL"]:
        redis = RedisReplay(settings["REDIS_URL"], topic, metrics,
                            settings["WEBSOCKET_REPLAY_REDIS_MAX_MESSAGES"],
                            settings["WEBSOCKET_REPLAY_REDIS_TTL_SECS"])
    wsapp = WebSocketApp(metrics, memory, redis,
                         client_queue_size=settings["WEBSOCKET_CLIENT_QUEUE_SIZE"],
                         client_max_delay_ms=settings["WEBSOCKET_CLIENT_MAX_DELAY_MS"],
                         auth_token=settings["WEBSOCKET_AUTH_TOKEN"], start_ms=start_ms,
                         redis_replay_limit=settings["WEBSOCKET_REPLAY_REDIS_MAX_MESSAGES"])
    loop = asyncio.get_running_loop()
    handoff = Handoff(loop, settings["WEBSOCKET_BUFFER_SIZE"], wsapp.deliver)
    tracker = LagTracker(from_earliest=settings["KAFKA_AUTO_OFFSET_RESET"] == "earliest")
    read_tracker = LagTracker(from_earliest=settings["KAFKA_AUTO_OFFSET_RESET"] == "earliest")

    def kafka_error(error: Any) -> None:
        metrics.kafka_error(classify_kafka_error(error)).inc()
        metrics.infrastructure_errors.inc()

    dlq_conf = None
    if settings["WEBSOCKET_DLQ_ENABLED"]:
        dlq_conf = {**producer_config(settings, f"{WEBSOCKET_SERVER}-dlq"),
                    "error_cb": kafka_error}
    dlq = DlqSender(dlq_conf, settings["KAFKA_DLQ_TOPIC"], settings["KAFKA_GROUP_ID"], metrics)

    consuming = threading.Event()

    def processor(dlq: DlqSender | None, handoff: Handoff | None) -> RecordProcessor:
        validator = SequenceValidator(max_threads=settings["WEBSOCKET_SEQUENCE_MAX_THREADS"])
        return RecordProcessor(
            metrics, validator, dlq, handoff, consuming,
            max_payload_bytes=settings["WEBSOCKET_MAX_PAYLOAD_BYTES"],
            policy=SchemaCompatibility(settings["SCHEMA_COMPATIBILITY"]), start_ms=start_ms)

    fanout, duty = processor(None, handoff), processor(dlq, None)
    # Every replica reads every partition for its viewers; the group shares out the
    # counting and dead-lettering, so N replicas count and DLQ each record once.
    # Client errors are counted from the duty consumer only: both readers see the same
    # brokers, and counting each error twice would double the error rates alerted on.
    reader = ConsumerLoop(consumer_config(settings, f"{WEBSOCKET_SERVER}-broadcast"), topic,
                          read_tracker, health, fanout.handle_batch,
                          on_tick=fanout.tick, stop=consuming, broadcast=True)
    consumer = ConsumerLoop(consumer_config(settings, WEBSOCKET_SERVER), topic, tracker, health,
                            duty.handle_batch, on_kafka_error=kafka_error,
                            on_tick=duty.tick, on_revoke=duty.revoked, before_close=dlq.flush,
                            stop=consuming)

    def broadcast_lag(snap: LagSnapshot) -> None:
        for partition, state in snap.partitions.items():
            if state.lag is not None:
                metrics.broadcast_lag.labels(str(partition)).set(state.lag)

    monitor = LagMonitor(client_config(settings, f"{WEBSOCKET_SERVER}-lag"), topic, tracker,
                         _LagReporter(metrics, health, settings["KAFKA_LAG_STALE_PARTITION_SECS"]),
                         followers=[(read_tracker, broadcast_lag)])

    app = web.Application()
    add_common_routes(app, ServerInfo(
        WEBSOCKET_SERVER, metrics.registry, health,
        details=lambda: {"clients": len(wsapp.hub.clients), "replay_buffer": len(memory),
                         "redis_replay": redis is not None, "dlq_enabled": dlq.enabled,
                         "sequence": duty.sequence_stats,
                         "assigned_partitions": tracker.assigned(),
                         "broadcast_partitions": read_tracker.assigned()},
    ))
    wsapp.add_routes(app)

    async def body(stop: asyncio.Event) -> None:
        reader.start()
        consumer.start()
        tasks = [asyncio.create_task(monitor.run(settings["KAFKA_LAG_CHECK_INTERVAL_SECS"], stop))]
        redis_stop = asyncio.Event()
        if redis is not None:
            tasks.append(asyncio.create_task(redis.run_writer(redis_stop)))
        while not await wait_stopped(stop, 1.0):
            metrics.uptime.set(time.time() - started)
            memory.trim()
            if not (consumer.thread.is_alive() and reader.thread.is_alive()):
                log.error("consumer thread died; exiting")
                break
        consuming.set()
        await loop.run_in_executor(None, reader.thread.join)
        await loop.run_in_executor(None, consumer.thread.join)
        stop.set()
        await wsapp.close_clients()
        redis_stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if consumer.failed or reader.failed:
            raise SystemExit("the Kafka consumer failed; see the log above")
        log.info("websocket-server stopped")

    await serve_until(app, settings["WEBSOCKET_HOST"], settings["WEBSOCKET_PORT"], body)
