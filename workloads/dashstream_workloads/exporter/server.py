"""Run the prometheus-exporter: consume the events topic into metrics until SIGTERM.

At-least-once: the consume loop stores a record's offset only after its
metrics were updated, and commits before closing, so a restart continues
where the previous run stopped and a crash counts a few events twice rather
than losing any.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aiohttp import web
from confluent_kafka import KafkaError, Message

from dashstream_workloads.common import (
    ConsumerLoop,
    KafkaHealth,
    LagMonitor,
    LagSnapshot,
    LagTracker,
    ServerInfo,
    add_common_routes,
    client_config,
    consumer_config,
    serve_until,
)
from dashstream_workloads.common.aio import wait_stopped
from dashstream_workloads.contract import PROMETHEUS_EXPORTER, get_counter, get_gauge, get_histogram
from dashstream_workloads.exporter.quality import QualityMetrics
from dashstream_workloads.proto.dashstream_pb2 import DashStreamMessage
from dashstream_workloads.wire import DecodeError, SchemaCompatibility, decoder

__all__ = ["Processor", "run"]

log = logging.getLogger(__name__)

_SESSION_SWEEP_SECONDS: Final = 1.0


class Processor:
    """The consuming thread's work: count, decode, apply; sweep sessions on ticks."""

    def __init__(self, quality: QualityMetrics, policy: SchemaCompatibility) -> None:
        self.quality = quality
        m = quality.m
        self._received = get_counter(m, "dashstream_exporter_messages_received_total")
        failed = get_counter(m, "dashstream_exporter_messages_failed_total")
        self._failed = {t: failed.labels(t) for t in ("decode", "process", "unknown")}
        self.consumer_errors = get_counter(m, "dashstream_exporter_kafka_consumer_errors_total")
        self.offset_store_errors = get_counter(m, "dashstream_exporter_offset_store_errors_total")
        self._decode = decoder(policy)
        self._next_sweep = 0.0

    def handle_batch(self, records: Sequence[Message]) -> None:
        self._received.inc(len(records))
        decoded: list[DashStreamMessage] = []
        decode, keep = self._decode, decoded.append
        for record in records:
            try:
                keep(decode(record.value() or b""))
            except DecodeError as exc:
                self._failed["decode"].inc()
                log.warning("undecodable record", extra={
                    "error_type": exc.error_type, "partition": record.partition(),
                    "offset": record.offset()})
        try:
            self.quality.apply_batch(decoded)
        except Exception:
            # A bug must not stop the stream, nor re-deliver the batch forever: count
            # the batch as failed and go on (the log has the traceback).
            self._failed["process"].inc(len(decoded))
            log.exception("processing failed", extra={"messages": len(decoded)})

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + _SESSION_SWEEP_SECONDS
            self.quality.close_sessions()

    def kafka_error(self, error: KafkaError) -> None:
        self.consumer_errors.inc()


async def run(settings: Mapping[str, Any]) -> None:
    """Serve /metrics until SIGTERM (``settings``: ``load("prometheus-exporter", ...)``)."""
    quality = QualityMetrics(settings["PROMETHEUS_SESSION_TIMEOUT_SECS"])
    m = quality.m
    get_gauge(m, "dashstream_exporter_process_start_time_seconds").set(time.time())
    scrape = get_histogram(m, "dashstream_exporter_metrics_endpoint_duration_seconds")
    lag_gauge = get_gauge(m, "dashstream_exporter_kafka_consumer_lag")
    health = KafkaHealth()
    topic = settings["KAFKA_TOPIC"]
    processor = Processor(quality, SchemaCompatibility(settings["SCHEMA_COMPATIBILITY"]))
    tracker = LagTracker(from_earliest=settings["KAFKA_AUTO_OFFSET_RESET"] == "earliest")
    consumer = ConsumerLoop(
        consumer_config(settings, PROMETHEUS_EXPORTER), topic, tracker, health,
        processor.handle_batch, on_kafka_error=processor.kafka_error,
        on_store_error=lambda _: processor.offset_store_errors.inc(), on_tick=processor.tick,
        stop=threading.Event(),
    )

    def lag_round(snap: LagSnapshot, error: str | None, _: float) -> None:
        if error is None:
            health.mark_ok()
            lag_gauge.set(snap.total)
        else:
            health.mark_down(error)

    monitor = LagMonitor(client_config(settings, f"{PROMETHEUS_EXPORTER}-lag"), topic, tracker,
                         lag_round)
    app = web.Application()
    add_common_routes(app, ServerInfo(
        PROMETHEUS_EXPORTER, quality.registry, health, on_scrape=scrape.observe,
        details=lambda: {"open_sessions": len(quality.sessions),
                         "assigned_partitions": tracker.assigned()},
    ))

    async def body(stop: asyncio.Event) -> None:
        consumer.start()
        lag_task = asyncio.create_task(
            monitor.run(settings["KAFKA_LAG_CHECK_INTERVAL_SECS"], stop))
        while not await wait_stopped(stop, 1.0):
            if not consumer.thread.is_alive():
                log.error("consumer thread died; exiting")
                break
        consumer.stop.set()
        await asyncio.get_running_loop().run_in_executor(None, consumer.thread.join)
        stop.set()
        await lag_task
        quality.close_sessions(all_sessions=True)
        # The totals of this run: a restarted exporter's counters start again at 0.
        log.info("exporter stopped", extra={"totals": dict(quality.tally)})
        if consumer.failed:
            raise SystemExit("the Kafka consumer failed; see the log above")

    await serve_until(app, settings["METRICS_HOST"], settings["METRICS_PORT"], body)
