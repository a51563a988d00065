"""End-to-end latency samples that survive clock skew.

Three clocks are involved: the producer's (``header.timestamp_us``), the
Kafka record timestamp (the producer's clock again for CreateTime topics, the
broker's for LogAppendTime) and this server's. Between hosts they disagree,
so a sample can come out negative. Those samples are clamped to 0 and
counted per stage (``websocket_e2e_latency_clamped_total``): the histogram
stays meaningful and the skew stays visible.

Records older than this consumer (a backlog read after start or a replay
from ``earliest``) are not latency: observing them would fill the top bucket
with the age of the backlog. :func:`latency_samples` skips them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["LatencySample", "latency_samples"]

PRODUCER_TO_KAFKA: Final = "producer_to_kafka"
KAFKA_TO_WEBSOCKET: Final = "kafka_to_websocket"
PRODUCER_TO_WEBSOCKET: Final = "producer_to_websocket"


@dataclass(frozen=True)
class LatencySample:
    stage: str
    ms: float  # >= 0
    clamped: bool  # the raw difference was negative


def _sample(stage: str, raw_ms: float) -> LatencySample:
    return LatencySample(stage, max(0.0, raw_ms), raw_ms < 0)


def latency_samples(
    header_timestamp_us: int | None,
    kafka_timestamp_ms: int | None,
    now_ms: float,
    consumer_start_ms: float,
) -> list[LatencySample]:
    """The latency samples of one record broadcast at ``now_ms``.

    Parameters
    ----------
    header_timestamp_us
        The producer's ``header.timestamp_us``; ``None`` or <= 0 when unset.
    kafka_timestamp_ms
        The record timestamp; ``None`` or < 0 when the broker gave none.
    now_ms
        When the record was handed to the clients (this host's wall clock).
    consumer_start_ms
        When this consumer started: records stamped earlier are backlog and
        yield no samples.

    Returns
    -------
    list[LatencySample]
        Up to three samples, one per stage whose two ends are known.
    """
    header_ms: float | None = None
    if header_timestamp_us is not None and header_timestamp_us > 0:
        header_ms = header_timestamp_us / 1000
    kafka_ms: float | None = None
    if kafka_timestamp_ms is not None and kafka_timestamp_ms >= 0:
        kafka_ms = float(kafka_timestamp_ms)
    newest = max((t for t in (header_ms, kafka_ms) if t is not None), default=None)
    if newest is None or newest < consumer_start_ms:
        return []
    out: list[LatencySample] = []
    if header_ms is not None and kafka_ms is not None:
        out.append(_sample(PRODUCER_TO_KAFKA, kafka_ms - header_ms))
    if kafka_ms is not None:
        out.append(_sample(KAFKA_TO_WEBSOCKET, now_ms - kafka_ms))
    if header_ms is not None:
        out.append(_sample(PRODUCER_TO_WEBSOCKET, now_ms - header_ms))
    return out
