"""Metrics of the prometheus-exporter: quality metrics derived from Kafka
quality events, and the exporter's own health."""

from __future__ import annotations

from typing import Final

from dashstream_workloads.contract import values as v
from dashstream_workloads.contract.spec import PROMETHEUS_EXPORTER, MetricSpec, metric

__all__ = ["EXPORTER_METRICS"]

_EX = (PROMETHEUS_EXPORTER,)

_QUALITY: Final[tuple[MetricSpec, ...]] = (
    metric(
        "dashstream_quality_monitor_quality_score",
        "gauge",
        "Quality score (0.0-1.0) of the last quality event",
        _EX,
    ),
    metric(
        "dashstream_quality_monitor_queries_total",
        "counter",
        "Quality events (evaluated queries) processed",
        _EX,
    ),
    metric(
        "dashstream_quality_monitor_queries_passed_total",
        "counter",
        "Queries that met the quality threshold",
        _EX,
    ),
    metric(
        "dashstream_quality_monitor_queries_failed_total",
        "counter",
        "Queries below the quality threshold, by failure category (unrecognised "
        "categories count as Unknown)",
        _EX,
        {"category": v.FAILURE_CATEGORIES},
    ),
    metric(
        "dashstream_query_latency_ms",
        "histogram",
        "Query latency in milliseconds",
        _EX,
        None,
        v.QUERY_LATENCY_MS_BUCKETS,
    ),
    metric(
        "dashstream_quality_retry_count",
        "histogram",
        "Retries per query, by whether the query finally passed",
        _EX,
        {"status": v.PASS_FAIL},
        v.RETRY_COUNT_BUCKETS,
    ),
    metric(
        "dashstream_quality_accuracy",
        "gauge",
        "Accuracy score (0.0-1.0) of the last quality event",
        _EX,
    ),
    metric(
        "dashstream_quality_relevance",
        "gauge",
        "Relevance score (0.0-1.0) of the last quality event",
        _EX,
    ),
    metric(
        "dashstream_quality_completeness",
        "gauge",
        "Completeness score (0.0-1.0) of the last quality event",
        _EX,
    ),
    metric(
        "dashstream_quality_score_by_model",
        "histogram",
        "Quality score (0.0-1.0) distribution by model",
        _EX,
        {"model": None},
        v.QUALITY_SCORE_BUCKETS,
    ),
    metric(
        "dashstream_queries_by_model_total",
        "counter",
        "Queries by model",
        _EX,
        {"model": None},
    ),
    metric(
        "dashstream_latency_by_model_ms",
        "histogram",
        "Query latency in milliseconds by model",
        _EX,
        {"model": None},
        v.QUERY_LATENCY_MS_BUCKETS,
    ),
    metric(
        "dashstream_turns_by_session",
        "histogram",
        "Turns per session: the highest turn_number of a session, observed once when "
        "the session times out or the exporter shuts down",
        _EX,
        None,
        v.TURNS_BUCKETS,
    ),
)

_LIBRARIAN: Final[tuple[MetricSpec, ...]] = (
    metric(
        "dashstream_librarian_requests_total",
        "counter",
        "Librarian requests (quality events with librarian details)",
        _EX,
    ),
    metric(
        "dashstream_librarian_iterations",
        "gauge",
        "Iterations of the last librarian request",
        _EX,
    ),
    metric(
        "dashstream_librarian_tests_total",
        "counter",
        "Librarian test results by status",
        _EX,
        {"status": v.PASS_FAIL},
    ),
    metric(
        "dashstream_librarian_request_duration_seconds",
        "histogram",
        "Librarian request duration in seconds",
        _EX,
        None,
        v.LIBRARIAN_DURATION_SECONDS_BUCKETS,
    ),
)

_SELF: Final[tuple[MetricSpec, ...]] = (
    metric(
        "dashstream_exporter_process_start_time_seconds",
        "gauge",
        "Unix time the exporter started (a change means a restart)",
        _EX,
    ),
    metric(
        "dashstream_exporter_metrics_endpoint_duration_seconds",
        "histogram",
        "Time to encode a /metrics response",
        _EX,
        None,
        v.ENDPOINT_SECONDS_BUCKETS,
    ),
    metric(
        "dashstream_exporter_messages_received_total",
        "counter",
        "Kafka records received",
        _EX,
    ),
    metric(
        "dashstream_exporter_messages_failed_total",
        "counter",
        "Kafka records that could not be turned into metrics, by stage of failure",
        _EX,
        {"error_type": v.EXPORTER_FAILURE_TYPES},
    ),
    metric(
        "dashstream_exporter_kafka_consumer_errors_total",
        "counter",
        "Kafka consumer errors (connectivity or protocol)",
        _EX,
    ),
    metric(
        "dashstream_exporter_offset_store_errors_total",
        "counter",
        "Failures to store consumed offsets (may cause reprocessing)",
        _EX,
    ),
    metric(
        "dashstream_exporter_last_event_timestamp_seconds",
        "gauge",
        "Unix time the last quality event was processed (for staleness alerts)",
        _EX,
    ),
    metric(
        "dashstream_exporter_messages_wrong_scope_total",
        "counter",
        "Decoded messages whose payload is not a quality event",
        _EX,
    ),
    metric(
        "dashstream_exporter_messages_missing_header_total",
        "counter",
        "Quality messages without a header (protocol errors)",
        _EX,
    ),
    metric(
        "dashstream_exporter_gauges_last_update_timestamp_seconds",
        "gauge",
        "Unix time the quality gauges were last updated",
        _EX,
    ),
    metric(
        "dashstream_exporter_kafka_consumer_lag",
        "gauge",
        "Sum of consumer lag over the partitions assigned to this exporter",
        _EX,
    ),
)


EXPORTER_METRICS: Final[tuple[MetricSpec, ...]] = _QUALITY + _LIBRARIAN + _SELF
