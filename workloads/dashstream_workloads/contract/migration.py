"""How the old stack's metric names map onto the contract, and what each change fixes.

Kept as data so that ``docs/metrics.md`` renders it and the drift test covers
it like the rest of the contract. The strings are Markdown.
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = ["OLD_NAME_MAPPING", "OldName"]


class OldName(NamedTuple):
    """One old metric (or setting) and what replaces it (Markdown text)."""

    old: str
    new: str
    why: str


OLD_NAME_MAPPING: Final[tuple[OldName, ...]] = (
    OldName(
        "`dashflow_build_info{version,commit,build_date,rust_version}`",
        "`dashstream_build_info{component,version}`",
        "One build-info gauge per component, so a query can tell which component runs "
        "which version; commit and build date are implied by the version, "
        "`rust_version` no longer applies.",
    ),
    OldName(
        "`dashstream_dlq_sends_total`, `dashstream_dlq_send_failures_total`",
        "`websocket_dlq_sends_total{error_type}`, `websocket_dlq_send_failures_total{reason}`",
        "No component uses the library DLQ handler (audit §2.3, M-648): the websocket "
        "server is the only DLQ writer. Alerts `HighDLQRate`, `DLQItselfBroken` and "
        "`DLQSendFailures` must use the `websocket_dlq_*` metrics.",
    ),
    OldName(
        "`dashstream_dlq_dropped_total`",
        '`websocket_dlq_send_failures_total{reason="backpressure"}`',
        "Backpressure drops are DLQ send failures with their own reason "
        "(alert `DLQBackpressureDrops`).",
    ),
    OldName(
        "`dashstream_dlq_send_retries_total`",
        '`dashstream_ws_retry_count{operation="dlq_send"}`',
        "Retries are a per-operation histogram, not a separate counter.",
    ),
    OldName(
        "`dashstream_message_loss_rate`",
        "removed; see `dashstream_sequence_gaps_total`, `dashstream_send_failures_total`, "
        "`dashstream_telemetry_dropped_total`",
        "A process-local sent/received ratio is meaningless across processes (audit §3, "
        "M-649). Loss is detected by the consumer's per-thread sequence gaps; the "
        "producer reports its own failures and drops.",
    ),
    OldName(
        "`dashstream_redis_operation_latency_ms`",
        "`dashstream_websocket_redis_latency_ms{operation}`",
        "One name had two bucket layouts (audit §2.1, M-647); the replay buffer's "
        "histogram is component-scoped with fixed buckets.",
    ),
    OldName(
        "`dashstream_redis_connection_errors_total`",
        "`dashstream_websocket_redis_errors_total`",
        "Unambiguous: replay-buffer Redis, not rate limiting (audit §2.2).",
    ),
    OldName(
        "`dashstream_rate_limit_*`, `dashstream_rate_limiter_redis_*`",
        "not exported",
        "No DashStream component runs the library's rate limiter.",
    ),
    OldName(
        "`dashstream_messages_received_total`",
        "`websocket_kafka_messages_total{status}`, `dashstream_exporter_messages_received_total`",
        "Each consumer counts what it received under its own name.",
    ),
    OldName(
        "quality monitor without `/metrics`",
        "`dashstream_messages_sent_total`, `dashstream_send_failures_total{reason}`, "
        "`dashstream_telemetry_dropped_total{reason}`, `dashstream_producer_*`",
        "The producer's metrics were registered but never scraped (audit §1, M-646); "
        "the quality-monitor now serves its own registry.",
    ),
    OldName(
        '`websocket_dlq_sends_total{error_type="decode_error"}`',
        "`websocket_dlq_sends_total{error_type}` with the decode error types",
        "`websocket_decode_errors_total` and `websocket_dlq_sends_total` share one value "
        "set, the codec's error types, which gains `decompression_failure`.",
    ),
    OldName(
        '`websocket_e2e_latency_ms{stage="kafka_to_websocket"}`',
        "`websocket_e2e_latency_ms{stage}`, `websocket_e2e_latency_clamped_total{stage}`",
        "The old stage measured from the producer's clock (audit M-644). Three stages "
        "now say what they measure; negative samples are clamped to 0 and counted.",
    ),
    OldName(
        "`PROMETHEUS_QUALITY_SCORE_BUCKETS` (environment)",
        "removed: `dashstream_quality_score_by_model` has fixed buckets",
        "Per-deployment buckets make one name mean two layouts (audit §2.1).",
    ),
)
