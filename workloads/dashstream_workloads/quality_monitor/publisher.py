"""Publish generated events through an idempotent producer, and count what happened.

``dashstream_messages_sent_total`` counts broker acknowledgements, not
``produce()`` calls, so it means "reached Kafka". An event the local queue
could not take is dropped (``dashstream_telemetry_dropped_total{reason=
"buffer_full"}``) and its sequence number is given back, so consumers see a
gap only for messages that were really handed to Kafka and lost.

Fault injection (``--fault-injection``) makes the next event of one thread
a gap, a duplicate or a reorder, to prove the consumers detect each once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Final, Literal

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from dashstream_workloads.contract import (
    QUALITY_MONITOR,
    build_registry,
    get_counter,
    get_gauge,
    get_histogram,
)
from dashstream_workloads.quality_monitor.generator import EventGenerator
from dashstream_workloads.wire import FLAG_ZSTD, encode

__all__ = ["FAULT_KINDS", "FaultKind", "Injection", "Publisher"]

log = logging.getLogger(__name__)

FaultKind = Literal["gap", "duplicate", "reorder"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = ("gap", "duplicate", "reorder")
_RETRY_POLL_SECONDS: Final = 0.1

_FAILURE_REASONS: Final = {
    KafkaError._MSG_TIMED_OUT: "timeout",
    KafkaError._QUEUE_FULL: "queue_full",
    KafkaError.MSG_SIZE_TOO_LARGE: "message_too_large",
}


@dataclass
class Injection:
    kind: FaultKind
    done: asyncio.Future[dict[str, Any]]


class Publisher:
    """Owns the producer, the generator and the quality-monitor metrics."""

    def __init__(
        self,
        producer_conf: dict[str, Any],
        topic: str,
        generator: EventGenerator,
        compress_threshold: int,
    ) -> None:
        self.registry, m = build_registry(QUALITY_MONITOR)
        self._sent = get_counter(m, "dashstream_messages_sent_total")
        self._failures = get_counter(m, "dashstream_send_failures_total")
        self._dropped = get_counter(m, "dashstream_telemetry_dropped_total")
        self._queue = get_gauge(m, "dashstream_producer_queue_messages")
        self._delivery = get_histogram(m, "dashstream_producer_delivery_duration_seconds")
        sizes = get_histogram(m, "dashstream_producer_message_size_bytes")
        self._size = {"none": sizes.labels("none"), "zstd": sizes.labels("zstd")}
        self.producer = Producer(producer_conf)
        self.topic = topic
        self.gen = generator
        # 0 disables compression (settings.py); wire.encode takes None for "never".
        self._threshold = compress_threshold or None
        self.produced = 0  # handed to librdkafka
        self.delivered = 0
        self._on_ok = lambda: None
        self.pending: list[Injection] = []

    def on_delivery_ok(self, callback: Any) -> None:
        self._on_ok = callback

    def _delivered(self, started: float) -> Any:
        def report(err: KafkaError | None, _: Message) -> None:
            self._delivery.observe(time.perf_counter() - started)
            if err is None:
                self.delivered += 1
                self._sent.inc()
                self._on_ok()
                return
            reason = _FAILURE_REASONS.get(err.code(), "kafka_error")
            self._failures.labels(reason).inc()
            log.error("delivery failed", extra={"reason": reason, "error": err.str()})

        return report

    def _send(self, frame: bytes, key: str) -> bool:
        """Hand one frame to librdkafka; False if it was dropped (queue full)."""
        self._size["zstd" if frame[0] & FLAG_ZSTD else "none"].observe(len(frame))
        for attempt in range(2):
            try:
                self.producer.produce(self.topic, value=frame, key=key,
                                      on_delivery=self._delivered(time.perf_counter()))
                self.produced += 1
                return True
            except BufferError:
                if attempt == 0:
                    self.producer.poll(_RETRY_POLL_SECONDS)
            except KafkaException as exc:
                error = exc.args[0]
                reason = _FAILURE_REASONS.get(error.code(), "kafka_error")
                self._failures.labels(reason).inc()
                log.error("produce refused", extra={"reason": reason, "error": error.str()})
                return True  # the sequence number is spent: a consumer rightly sees a gap
        self._dropped.labels("buffer_full").inc()
        return False

    def publish_one(self) -> None:
        """Generate and send the next event (applying a pending fault injection)."""
        if self.pending:
            injection = self.pending.pop(0)
            if not injection.done.done():
                injection.done.set_result(self._inject(injection.kind))
            return
        slot = self.gen.next_slot()
        self._publish_event(slot)

    def _publish_event(self, slot: int) -> bytes | None:
        msg = self.gen.event(slot)
        try:
            frame = encode(msg, self._threshold)
        except Exception as exc:  # a generator bug must not stop the stream
            self._failures.labels("encode_error").inc()
            log.error("encode failed", extra={"error": str(exc)})
            return None
        if not self._send(frame, msg.header.thread_id):
            self.gen.unsend(slot)
            return None
        return frame

    def _inject(self, kind: FaultKind) -> dict[str, Any]:
        slot = self.gen.next_slot()
        thread_id = self.gen.slots[slot].thread_id
        if self.gen.slots[slot].sequence == 0:
            # A consumer takes a thread's first message as its baseline, so a fault on a
            # thread with no history would go unseen: give it one normal event first.
            self._publish_event(slot)
        if kind == "gap":
            skipped = self.gen.skip_sequence(slot)
            self._publish_event(slot)
            result = {"sequence": skipped}
        elif kind == "duplicate":
            frame = self._publish_event(slot)
            if frame is not None:
                self._send(frame, thread_id)  # the same bytes again
            result = {"sequence": self.gen.slots[slot].sequence}
        else:
            first, second = self.gen.event(slot), self.gen.event(slot)
            for msg in (second, first):  # n+1 after n+2
                self._send(encode(msg, self._threshold), thread_id)
            result = {"sequence": first.header.sequence}
        log.warning("fault injected", extra={"kind": kind, "thread_id": thread_id, **result})
        return {"kind": kind, "thread_id": thread_id, **result}

    def service(self) -> None:
        """Serve delivery reports and refresh the queue gauge (call often)."""
        self.producer.poll(0)
        self._queue.set(len(self.producer))

    def close(self, timeout: float) -> int:
        """Flush on shutdown; returns what never got out, counted as dropped at
        shutdown (librdkafka discards it when the producer is destroyed)."""
        for injection in self.pending:
            injection.done.cancel()
        remaining = int(self.producer.flush(timeout))
        if remaining:
            self._dropped.labels("shutdown").inc(remaining)
        self._queue.set(remaining)
        return remaining
