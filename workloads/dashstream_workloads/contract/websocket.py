"""Metrics of the websocket-server: Kafka consumption, decoding, clients,
latency, sequence validation, its own DLQ and the replay buffer."""

from __future__ import annotations

from typing import Final

from dashstream_workloads.contract import values as v
from dashstream_workloads.contract.spec import WEBSOCKET_SERVER, MetricSpec, metric

__all__ = ["WEBSOCKET_METRICS"]

_WS = (WEBSOCKET_SERVER,)

WEBSOCKET_METRICS: Final[tuple[MetricSpec, ...]] = (
    # --- Kafka consumption and decoding ---
    metric(
        "websocket_kafka_messages_total",
        "counter",
        "Kafka records processed, by outcome: success = decoded; error = decode failure "
        "of a record produced after this consumer started; old_data_error = decode "
        "failure of an older record (counted here and in "
        "websocket_old_data_decode_errors_total, excluded from error alerts)",
        _WS,
        {"status": v.KAFKA_MESSAGE_STATUSES},
    ),
    metric(
        "websocket_decode_errors_total",
        "counter",
        "Records that failed to decode, by wire.DecodeError type (old and new data alike)",
        _WS,
        {"error_type": v.DECODE_ERROR_TYPES},
    ),
    metric(
        "websocket_old_data_decode_errors_total",
        "counter",
        "Decode failures of records older than this consumer; always equals "
        'websocket_kafka_messages_total{status="old_data_error"}',
        _WS,
    ),
    metric(
        "websocket_kafka_consumer_lag",
        "gauge",
        "Messages behind the high watermark (high watermark - current position), "
        "per partition currently assigned to this replica's share of the pipeline's "
        "consumer group (the counting and dead-lettering; sum over replicas is the "
        "group's lag)",
        _WS,
        {"partition": None},
    ),
    metric(
        "websocket_broadcast_lag",
        "gauge",
        "Messages behind the high watermark in this replica's broadcast reader, per "
        "partition: what its viewers have not been sent yet (every replica reads every "
        "partition; aggregate with max, not sum)",
        _WS,
        {"partition": None},
    ),
    metric(
        "websocket_kafka_lag_poll_failures_total",
        "counter",
        "Failed watermark fetches of the lag monitor (Kafka connectivity problems)",
        _WS,
    ),
    metric(
        "websocket_kafka_lag_poll_duration_seconds",
        "histogram",
        "Duration of the lag monitor's watermark fetches, by outcome",
        _WS,
        {"status": v.POLL_STATUSES},
        v.POLL_SECONDS_BUCKETS,
    ),
    metric(
        "websocket_kafka_lag_offset_age_seconds",
        "gauge",
        "Seconds since the consumed offset last advanced, per assigned partition "
        "(high values mean a stale partition)",
        _WS,
        {"partition": None},
    ),
    metric(
        "websocket_kafka_errors_by_type_total",
        "counter",
        "Kafka client errors by class; decode failures of records are counted in "
        "websocket_decode_errors_total instead",
        _WS,
        {"error_type": v.KAFKA_CLIENT_ERROR_TYPES},
    ),
    metric(
        "websocket_infrastructure_errors_total",
        "counter",
        "Infrastructure errors (network, Kafka connection failures)",
        _WS,
    ),
    # --- clients ---
    metric(
        "websocket_connected_clients",
        "gauge",
        "WebSocket clients currently connected",
        _WS,
    ),
    metric(
        "websocket_dropped_messages_total",
        "counter",
        "Messages not delivered to a client, by reason (lagged_receiver = the client's "
        "buffer overflowed)",
        _WS,
        {"reason": v.WS_DROP_REASONS},
    ),
    metric(
        "websocket_client_lag_events_total",
        "counter",
        "Times a client fell behind the broadcast, by severity",
        _WS,
        {"severity": v.LAG_SEVERITIES},
    ),
    metric(
        "websocket_client_lag_messages_total",
        "counter",
        "Messages a lagging client missed, by severity",
        _WS,
        {"severity": v.LAG_SEVERITIES},
    ),
    metric(
        "websocket_uptime_seconds",
        "gauge",
        "Seconds since the server started",
        _WS,
    ),
    # --- latency (per stage, so each sample says which two clocks it compares) ---
    metric(
        "websocket_e2e_latency_ms",
        "histogram",
        "Message latency in milliseconds by stage: producer_to_kafka = header "
        "timestamp to Kafka record timestamp, kafka_to_websocket = record timestamp to "
        "broadcast, producer_to_websocket = header timestamp to broadcast; negative "
        "samples (clock skew) are observed as 0 and counted in "
        "websocket_e2e_latency_clamped_total",
        _WS,
        {"stage": v.E2E_STAGES},
        v.E2E_LATENCY_MS_BUCKETS,
    ),
    metric(
        "websocket_e2e_latency_clamped_total",
        "counter",
        "Latency samples that were negative (clock skew between hosts) and were "
        "clamped to 0, by stage",
        _WS,
        {"stage": v.E2E_STAGES},
    ),
    # --- sequence validation (no thread_id label: unbounded; it goes to logs) ---
    metric(
        "dashstream_sequence_gaps_total",
        "counter",
        "Sequence gaps detected per thread_id (messages lost between producer and this consumer)",
        _WS,
    ),
    metric(
        "dashstream_sequence_duplicates_total",
        "counter",
        "Messages whose sequence number was already seen for their thread_id",
        _WS,
    ),
    metric(
        "dashstream_sequence_reorders_total",
        "counter",
        "Messages that arrived after a higher sequence number of their thread_id",
        _WS,
    ),
    # --- the server's own dead-letter queue ---
    metric(
        "websocket_dlq_sends_total",
        "counter",
        "Undecodable records written to the DLQ topic, by decode error type",
        _WS,
        {"error_type": v.DECODE_ERROR_TYPES},
    ),
    metric(
        "websocket_dlq_send_failures_total",
        "counter",
        "DLQ writes that failed or were dropped (backpressure = too many in flight), "
        "by reason; each one is forensic data lost",
        _WS,
        {"reason": v.DLQ_SEND_FAILURE_REASONS},
    ),
    # --- replay buffer and its Redis tier (component-scoped names: one name shared
    # with the rate limiter had two bucket layouts) ---
    metric(
        "dashstream_websocket_redis_errors_total",
        "counter",
        "Redis errors of the replay buffer (not rate limiting)",
        _WS,
    ),
    metric(
        "dashstream_websocket_redis_latency_ms",
        "histogram",
        "Replay-buffer Redis operation latency in milliseconds",
        _WS,
        {"operation": v.REDIS_OPERATIONS},
        v.REDIS_LATENCY_MS_BUCKETS,
    ),
    metric(
        "dashstream_ws_retry_count",
        "histogram",
        "Retries needed per operation (0 = first attempt succeeded)",
        _WS,
        {"operation": v.RETRY_OPERATIONS},
        v.RETRY_COUNT_BUCKETS,
    ),
    metric(
        "replay_buffer_memory_hits_total",
        "counter",
        "Replay requests served from the in-memory tier",
        _WS,
    ),
    metric(
        "replay_buffer_redis_hits_total",
        "counter",
        "Replay requests served from the Redis tier",
        _WS,
    ),
    metric(
        "replay_buffer_redis_misses_total",
        "counter",
        "Replay requests found in neither tier",
        _WS,
    ),
    metric(
        "replay_buffer_redis_write_dropped_total",
        "counter",
        "Redis writes skipped because too many were already in flight",
        _WS,
    ),
    metric(
        "replay_buffer_redis_write_failures_total",
        "counter",
        "Redis writes that failed",
        _WS,
    ),
)
