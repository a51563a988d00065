"""The consuming thread's half of the websocket-server: decode, validate, frame.

Runs in the Kafka thread (:class:`~dashstream_workloads.common.consumer.ConsumerLoop`):
each batch is decoded, undecodable records go to the DLQ, sequence numbers
are validated, and the resulting frames cross to the event loop through a
:class:`Handoff` bounded by ``WEBSOCKET_BUFFER_SIZE`` messages. When the loop
falls that far behind, the consumer waits instead of queueing without bound;
the per-client queues (not this hand-off) absorb slow clients.

Every replica runs two of them (server.py): a *fan-out* processor on the broadcast
reader (all partitions: frames for this replica's clients, anomaly frames included,
nothing counted, nothing sent to the DLQ) and a *duty* processor on the pipeline's
consumer group (its share of the partitions, at least once: the message, decode and
sequence counters, the DLQ; no frames). So whatever the number of replicas, each
record reaches every viewer, is counted once and is dead-lettered once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from confluent_kafka import Message

from dashstream_workloads.websocket_server.dlq import DlqSender
from dashstream_workloads.websocket_server.frames import anomaly_frame, event_frame
from dashstream_workloads.websocket_server.metrics import WsMetrics
from dashstream_workloads.websocket_server.replay import Outgoing
from dashstream_workloads.websocket_server.sequence import Anomaly, SequenceValidator
from dashstream_workloads.wire import DecodeError, SchemaCompatibility, decoder

__all__ = ["Batch", "Event", "Handoff", "RecordProcessor"]

log = logging.getLogger(__name__)

_EXPIRE_EVERY_SECONDS: Final = 0.5


@dataclass(frozen=True, slots=True)
class Event:
    out: Outgoing
    header_timestamp_us: int
    kafka_timestamp_ms: int | None


@dataclass
class Batch:
    """What one consumer batch sends to the loop."""

    events: list[Event] = field(default_factory=list)
    controls: list[Outgoing] = field(default_factory=list)  # anomaly frames
    skipped: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset) not framed

    def __len__(self) -> int:
        return len(self.events) + len(self.controls)


class Handoff:
    """Thread -> event loop hand-off holding at most ``capacity`` messages."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, capacity: int, deliver: Callable[[Batch], None]
    ) -> None:
        self._loop = loop
        self._capacity = capacity
        self._deliver = deliver
        self._cond = threading.Condition()
        self._pending = 0

    def post(self, batch: Batch, stop: threading.Event) -> None:
        size = max(1, len(batch))
        with self._cond:
            # A batch larger than the capacity still goes through, alone.
            while self._pending and self._pending + size > self._capacity and not stop.is_set():
                self._cond.wait(0.1)
            self._pending += size
        self._loop.call_soon_threadsafe(self._run, batch, size)

    def _run(self, batch: Batch, size: int) -> None:
        try:
            self._deliver(batch)
        finally:
            with self._cond:
                self._pending -= size
                self._cond.notify_all()


class RecordProcessor:
    """Turns consumed records into a :class:`Batch`; owns the sequence validator.

    With a ``handoff`` it frames records for the clients (fan-out); with a ``dlq`` it
    counts, logs and dead-letters them (duty); a single replica's old behaviour is
    both at once.
    """

    def __init__(
        self,
        metrics: WsMetrics,
        validator: SequenceValidator,
        dlq: DlqSender | None,
        handoff: Handoff | None,
        stop: threading.Event,
        *,
        max_payload_bytes: int,
        policy: SchemaCompatibility,
        start_ms: float,
    ) -> None:
        self._metrics = metrics
        self._validator = validator
        self._dlq = dlq
        self._handoff = handoff
        self._stop = stop
        self._decode = decoder(policy, max_payload_bytes=max_payload_bytes)
        self._start_ms = start_ms
        self._next_expire = 0.0
        # Read by /health from the loop thread: replaced whole, never mutated.
        self.sequence_stats: dict[str, int] = {"threads": 0, "pending": 0}

    def handle_batch(self, records: Sequence[Message]) -> None:
        batch = Batch()
        anomalies: list[Anomaly] = []
        m = self._metrics
        duty, fanout = self._dlq is not None, self._handoff is not None
        decode, decoded = self._decode, 0
        for record in records:
            partition, offset = record.partition() or 0, record.offset() or 0
            ts_type, ts = record.timestamp()
            kafka_ts = ts if ts_type else None
            try:
                msg = decode(record.value() or b"")
            except DecodeError as exc:
                if duty:
                    self._undecodable(record, exc, kafka_ts)
                batch.skipped.append((partition, offset))
                continue
            decoded += 1
            header = msg.header
            if header.thread_id:
                anomalies.extend(self._validator.check(header.thread_id, header.sequence,
                                                       partition))
            if fanout:
                frame = event_frame(msg, partition, offset, kafka_ts)
                batch.events.append(Event(Outgoing(partition, offset, frame),
                                          header.timestamp_us, kafka_ts))
        if duty and decoded:
            m.messages_success.inc(decoded)  # once per batch: a lock per inc otherwise
        batch.controls.extend(self._count(anomalies))
        if self._handoff is not None:
            self._handoff.post(batch, self._stop)

    def _undecodable(self, record: Message, exc: DecodeError, kafka_ts: int | None) -> None:
        m = self._metrics
        m.decode_error(exc.error_type).inc()
        # Old data: produced before this consumer started (a backlog of an earlier
        # producer version, say). Counted apart so it does not page.
        if kafka_ts is not None and kafka_ts < self._start_ms:
            m.messages_old_data_error.inc()
            m.old_data_decode_errors.inc()
        else:
            m.messages_error.inc()
        log.warning(
            "undecodable record",
            extra={"error_type": exc.error_type, "detail": exc.detail[:200],
                   "partition": record.partition(), "offset": record.offset()},
        )
        if self._dlq is not None:
            self._dlq.send(record, exc)

    def _count(self, anomalies: list[Anomaly]) -> list[Outgoing]:
        """Count and log anomalies (duty); their frames for the clients (fan-out)."""
        m = self._metrics
        for a in anomalies if self._dlq is not None else ():
            if a.kind == "gap":
                m.gaps.inc()
                log.warning("sequence gap", extra={"thread_id": a.thread_id,
                                                   "first_missing": a.sequence,
                                                   "missing": a.missing})
            elif a.kind == "duplicate":
                m.duplicates.inc()
                log.info("sequence duplicate",
                         extra={"thread_id": a.thread_id, "sequence": a.sequence})
            else:
                m.reorders.inc()
                log.info("sequence reorder",
                         extra={"thread_id": a.thread_id, "sequence": a.sequence})
        if self._handoff is None:
            return []
        return [Outgoing(-1, -1, anomaly_frame(a)) for a in anomalies]

    def revoked(self, partitions: list[int]) -> None:
        """The group took these partitions away (a rebalance): forget their threads."""
        self._validator.forget_partitions(partitions)

    def tick(self) -> None:
        """Every poll: serve DLQ delivery reports; twice a second, settle late gaps."""
        if self._dlq is not None:
            self._dlq.poll()
        now = time.monotonic()
        if now < self._next_expire:
            return
        self._next_expire = now + _EXPIRE_EVERY_SECONDS
        controls = self._count(self._validator.expire())
        self.sequence_stats = {"threads": len(self._validator),
                               "pending": self._validator.pending()}
        if controls and self._handoff is not None:
            self._handoff.post(Batch(controls=controls), self._stop)
