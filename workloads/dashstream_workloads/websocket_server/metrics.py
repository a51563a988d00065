"""The websocket-server's metrics, bound once from the contract registry.

Nothing is declared here: :func:`~dashstream_workloads.contract.build_registry`
creates every metric of the component. This module only looks them up by
name and keeps hot children (fixed label values) as attributes, so the
per-message path does no label lookups.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from dashstream_workloads.contract import (
    WEBSOCKET_SERVER,
    build_registry,
    get_counter,
    get_gauge,
    get_histogram,
)

__all__ = ["WsMetrics"]


class WsMetrics:
    """Typed handles on every websocket-server metric."""

    def __init__(self) -> None:
        registry, m = build_registry(WEBSOCKET_SERVER)
        self.registry: CollectorRegistry = registry
        messages = get_counter(m, "websocket_kafka_messages_total")
        self.messages_success = messages.labels("success")
        self.messages_error = messages.labels("error")
        self.messages_old_data_error = messages.labels("old_data_error")
        self.old_data_decode_errors = get_counter(m, "websocket_old_data_decode_errors_total")
        self._decode_errors = get_counter(m, "websocket_decode_errors_total")
        self.lag = get_gauge(m, "websocket_kafka_consumer_lag")
        self.broadcast_lag = get_gauge(m, "websocket_broadcast_lag")
        self.lag_poll_failures = get_counter(m, "websocket_kafka_lag_poll_failures_total")
        self._lag_poll_duration = get_histogram(m, "websocket_kafka_lag_poll_duration_seconds")
        self.lag_offset_age = get_gauge(m, "websocket_kafka_lag_offset_age_seconds")
        self._kafka_errors = get_counter(m, "websocket_kafka_errors_by_type_total")
        self.infrastructure_errors = get_counter(m, "websocket_infrastructure_errors_total")
        self.connected_clients = get_gauge(m, "websocket_connected_clients")
        self.dropped_lagged = get_counter(m, "websocket_dropped_messages_total").labels(
            "lagged_receiver"
        )
        self._lag_events = get_counter(m, "websocket_client_lag_events_total")
        self._lag_messages = get_counter(m, "websocket_client_lag_messages_total")
        self.uptime = get_gauge(m, "websocket_uptime_seconds")
        self._latency = get_histogram(m, "websocket_e2e_latency_ms")
        self._clamped = get_counter(m, "websocket_e2e_latency_clamped_total")
        self.gaps = get_counter(m, "dashstream_sequence_gaps_total")
        self.duplicates = get_counter(m, "dashstream_sequence_duplicates_total")
        self.reorders = get_counter(m, "dashstream_sequence_reorders_total")
        self._dlq_sends = get_counter(m, "websocket_dlq_sends_total")
        self._dlq_failures = get_counter(m, "websocket_dlq_send_failures_total")
        self.redis_errors = get_counter(m, "dashstream_websocket_redis_errors_total")
        self._redis_latency = get_histogram(m, "dashstream_websocket_redis_latency_ms")
        self._retry_count = get_histogram(m, "dashstream_ws_retry_count")
        self.memory_hits = get_counter(m, "replay_buffer_memory_hits_total")
        self.redis_hits = get_counter(m, "replay_buffer_redis_hits_total")
        self.redis_misses = get_counter(m, "replay_buffer_redis_misses_total")
        self.redis_write_dropped = get_counter(m, "replay_buffer_redis_write_dropped_total")
        self.redis_write_failures = get_counter(m, "replay_buffer_redis_write_failures_total")
        # Children per label value, resolved once (labels() costs a lock and a dict lookup).
        self._counters: dict[tuple[int, str], Counter] = {}
        self._histograms: dict[tuple[int, str], Histogram] = {}

    def _c(self, parent: Counter, value: str) -> Counter:
        key = (id(parent), value)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = parent.labels(value)
        return child

    def _h(self, parent: Histogram, value: str) -> Histogram:
        key = (id(parent), value)
        child = self._histograms.get(key)
        if child is None:
            child = self._histograms[key] = parent.labels(value)
        return child

    def decode_error(self, error_type: str) -> Counter:
        return self._c(self._decode_errors, error_type)

    def kafka_error(self, error_type: str) -> Counter:
        return self._c(self._kafka_errors, error_type)

    def lag_poll_duration(self, status: str) -> Histogram:
        return self._h(self._lag_poll_duration, status)

    def client_lag_event(self, severity: str) -> None:
        self._c(self._lag_events, severity).inc()

    def client_lag_messages(self, severity: str, missed: int) -> None:
        self._c(self._lag_messages, severity).inc(missed)

    def latency(self, stage: str) -> Histogram:
        return self._h(self._latency, stage)

    def clamped(self, stage: str) -> Counter:
        return self._c(self._clamped, stage)

    def dlq_sent(self, error_type: str) -> Counter:
        return self._c(self._dlq_sends, error_type)

    def dlq_failed(self, reason: str) -> Counter:
        return self._c(self._dlq_failures, reason)

    def redis_latency(self, operation: str) -> Histogram:
        return self._h(self._redis_latency, operation)

    def retry_count(self, operation: str) -> Histogram:
        return self._h(self._retry_count, operation)
