"""The websocket-server's dead-letter queue: undecodable records, unchanged,
with the reason in headers.

Headers: ``error_type`` (a ``wire.DecodeError`` type, the same value as the
metric label), ``error_detail``, ``source_topic``, ``source_partition``,
``source_offset``, ``source_timestamp_ms``, ``consumer_group`` and
``component``. A send counts in ``websocket_dlq_sends_total`` only when the
broker acknowledged it; failures are counted by reason, and when more than
``max_in_flight`` sends are unacknowledged new ones are refused
(``backpressure``) instead of buffering without bound.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Final

from confluent_kafka import KafkaError, Message, Producer

from dashstream_workloads.contract import WEBSOCKET_SERVER
from dashstream_workloads.websocket_server.metrics import WsMetrics
from dashstream_workloads.wire import DecodeError

__all__ = ["DEFAULT_MAX_IN_FLIGHT", "DlqSender", "dlq_headers"]

log = logging.getLogger(__name__)

DEFAULT_MAX_IN_FLIGHT: Final = 1000
_DETAIL_MAX: Final = 1024
_RETRY_POLL_SECONDS: Final = 0.05


def dlq_headers(
    record: Message, error: DecodeError, group_id: str
) -> list[tuple[str, str | bytes | None]]:
    """The headers of a DLQ record (pure, for tests and forensics tooling)."""
    _, timestamp = record.timestamp()
    values = {
        "error_type": error.error_type,
        "error_detail": error.detail[:_DETAIL_MAX],
        "source_topic": record.topic() or "",
        "source_partition": str(record.partition()),
        "source_offset": str(record.offset()),
        "source_timestamp_ms": str(timestamp),
        "consumer_group": group_id,
        "component": WEBSOCKET_SERVER,
    }
    return [(k, v.encode()) for k, v in values.items()]


class DlqSender:
    """Produce to the DLQ topic from the consuming thread; ``poll()`` there too."""

    def __init__(
        self,
        producer_conf: dict[str, Any] | None,
        topic: str,
        group_id: str,
        metrics: WsMetrics,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self.topic = topic
        self._group_id = group_id
        self._metrics = metrics
        self._max_in_flight = max_in_flight
        self._lock = threading.Lock()
        self._in_flight = 0
        self._producer = Producer(producer_conf) if producer_conf is not None else None

    @property
    def enabled(self) -> bool:
        return self._producer is not None

    def send(self, record: Message, error: DecodeError) -> None:
        if self._producer is None:
            return
        with self._lock:
            if self._in_flight >= self._max_in_flight:
                self._metrics.dlq_failed("backpressure").inc()
                log.error("dlq backpressure: record dropped",
                          extra={"partition": record.partition(), "offset": record.offset()})
                return
            self._in_flight += 1
        error_type = error.error_type

        def delivered(err: KafkaError | None, _: Message) -> None:
            with self._lock:
                self._in_flight -= 1
            if err is None:
                self._metrics.dlq_sent(error_type).inc()
                return
            reason = "timeout" if err.code() == KafkaError._MSG_TIMED_OUT else "kafka_error"
            self._metrics.dlq_failed(reason).inc()
            log.error("dlq send failed", extra={"reason": reason, "error": err.str()})

        headers = dlq_headers(record, error, self._group_id)
        for attempt in range(2):
            try:
                self._producer.produce(
                    self.topic, value=record.value(), key=record.key(), headers=headers,
                    on_delivery=delivered,
                )
            except BufferError:
                # librdkafka's local queue is full: serve delivery reports once, retry.
                self._producer.poll(_RETRY_POLL_SECONDS)
                continue
            except Exception as exc:  # e.g. message larger than message.max.bytes
                self._fail("kafka_error", exc)
                self._metrics.retry_count("dlq_send").observe(attempt)
                return
            self._metrics.retry_count("dlq_send").observe(attempt)
            return
        self._fail("backpressure", BufferError("producer queue full"))
        self._metrics.retry_count("dlq_send").observe(1)

    def _fail(self, reason: str, exc: Exception) -> None:
        with self._lock:
            self._in_flight -= 1
        self._metrics.dlq_failed(reason).inc()
        log.error("dlq send failed", extra={"reason": reason, "error": str(exc)})

    def poll(self) -> None:
        if self._producer is not None:
            self._producer.poll(0)

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for outstanding sends (on shutdown); returns how many remain."""
        if self._producer is None:
            return 0
        return int(self._producer.flush(timeout))
