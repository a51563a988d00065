"""Metrics of the quality-monitor (the producer), and metrics every component
exports.

The old quality monitor had no /metrics at all, so producer-side loss was
invisible to Prometheus. Its metrics use the seeds' library names
(``dashstream_messages_sent_total``, ``dashstream_telemetry_dropped_total``)
and Prometheus base units for the new ones.
"""

from __future__ import annotations

from typing import Final

from dashstream_workloads.contract import values as v
from dashstream_workloads.contract.spec import COMPONENTS, QUALITY_MONITOR, MetricSpec, metric

__all__ = ["QUALITY_MONITOR_METRICS", "SHARED_METRICS"]

_QM = (QUALITY_MONITOR,)

QUALITY_MONITOR_METRICS: Final[tuple[MetricSpec, ...]] = (
    metric(
        "dashstream_messages_sent_total",
        "counter",
        "Messages the broker acknowledged (delivery report without error)",
        _QM,
    ),
    metric(
        "dashstream_send_failures_total",
        "counter",
        "Messages handed to the producer that were not delivered, by reason",
        _QM,
        {"reason": v.SEND_FAILURE_REASONS},
    ),
    metric(
        "dashstream_telemetry_dropped_total",
        "counter",
        "Events generated but dropped before reaching the producer, by reason",
        _QM,
        {"reason": v.TELEMETRY_DROP_REASONS},
    ),
    metric(
        "dashstream_producer_queue_messages",
        "gauge",
        "Messages in the producer's local queue awaiting delivery",
        _QM,
    ),
    metric(
        "dashstream_producer_delivery_duration_seconds",
        "histogram",
        "Time from handing a message to the producer to its delivery report",
        _QM,
        None,
        v.PRODUCER_DELIVERY_SECONDS_BUCKETS,
    ),
    metric(
        "dashstream_producer_message_size_bytes",
        "histogram",
        "Size of framed messages on the wire, by compression",
        _QM,
        {"compression": v.COMPRESSION_KINDS},
        v.MESSAGE_SIZE_BYTES_BUCKETS,
    ),
)

SHARED_METRICS: Final[tuple[MetricSpec, ...]] = (
    metric(
        "dashstream_build_info",
        "gauge",
        "Always 1; the labels say which component and version is running",
        COMPONENTS,
        {"component": COMPONENTS, "version": None},
    ),
)
