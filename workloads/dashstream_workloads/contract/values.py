"""Bounded label-value sets and histogram bucket layouts of the metrics contract.

They live apart from the metric declarations because code outside the
contract needs them too: the wire codec raises exactly the
:data:`DECODE_ERROR_TYPES`, and the exporter folds free-text failure
categories into :data:`FAILURE_CATEGORIES`. One tuple per concept means a new
value cannot reach a label without reaching the contract (and its docs).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "COMPRESSION_KINDS",
    "DECODE_ERROR_TYPES",
    "DLQ_SEND_FAILURE_REASONS",
    "E2E_LATENCY_MS_BUCKETS",
    "E2E_STAGES",
    "ENDPOINT_SECONDS_BUCKETS",
    "EXPORTER_FAILURE_TYPES",
    "FAILURE_CATEGORIES",
    "KAFKA_CLIENT_ERROR_TYPES",
    "KAFKA_MESSAGE_STATUSES",
    "LAG_SEVERITIES",
    "LIBRARIAN_DURATION_SECONDS_BUCKETS",
    "MESSAGE_SIZE_BYTES_BUCKETS",
    "PASS_FAIL",
    "POLL_SECONDS_BUCKETS",
    "POLL_STATUSES",
    "PRODUCER_DELIVERY_SECONDS_BUCKETS",
    "QUALITY_SCORE_BUCKETS",
    "QUERY_LATENCY_MS_BUCKETS",
    "REDIS_LATENCY_MS_BUCKETS",
    "REDIS_OPERATIONS",
    "RETRY_COUNT_BUCKETS",
    "RETRY_OPERATIONS",
    "SEND_FAILURE_REASONS",
    "TELEMETRY_DROP_REASONS",
    "TURNS_BUCKETS",
    "WS_DROP_REASONS",
    "DecodeErrorType",
]

# --- label value sets -------------------------------------------------------

#: Why a frame could not be decoded (``wire.DecodeError.error_type``). The
#: seeds' five types plus ``decompression_failure``: a corrupt zstd frame is a
#: producer/transport fault, not a protobuf one, and the old DLQ already used
#: that value, so it gets its own series instead of hiding in the others.
DecodeErrorType = Literal[
    "payload_too_large",
    "buffer_underflow",
    "invalid_protobuf",
    "schema_version_mismatch",
    "decompression_failure",
    "unknown_decode_error",
]
DECODE_ERROR_TYPES: Final[tuple[DecodeErrorType, ...]] = get_args(DecodeErrorType)

#: ``QualityEvent.failure_category``; anything else is exported as "Unknown".
FAILURE_CATEGORIES: Final = ("Simple", "Medium", "Complex", "Edge", "Unknown")
PASS_FAIL: Final = ("passed", "failed")
EXPORTER_FAILURE_TYPES: Final = ("decode", "process", "unknown")

KAFKA_MESSAGE_STATUSES: Final = ("success", "error", "old_data_error")
KAFKA_CLIENT_ERROR_TYPES: Final = (
    "dns_failure",
    "connection_timeout",
    "broker_down",
    "decode_error",
    "unknown",
)
WS_DROP_REASONS: Final = ("lagged_receiver",)
LAG_SEVERITIES: Final = ("warning", "critical")
POLL_STATUSES: Final = ("success", "error")
#: Where an end-to-end latency sample was measured (the old single
#: "kafka_to_websocket" stage actually measured from the producer's clock).
#: ``producer_to_kafka``: header.timestamp_us -> Kafka record
#: timestamp; ``kafka_to_websocket``: record timestamp -> broadcast to
#: clients; ``producer_to_websocket``: header.timestamp_us -> broadcast.
E2E_STAGES: Final = ("producer_to_kafka", "kafka_to_websocket", "producer_to_websocket")
DLQ_SEND_FAILURE_REASONS: Final = ("timeout", "kafka_error", "backpressure")
REDIS_OPERATIONS: Final = ("read", "write")
RETRY_OPERATIONS: Final = ("redis_read", "redis_write", "dlq_send")

SEND_FAILURE_REASONS: Final = (
    "timeout",
    "queue_full",
    "message_too_large",
    "kafka_error",
    "encode_error",
)
TELEMETRY_DROP_REASONS: Final = ("buffer_full", "shutdown")
COMPRESSION_KINDS: Final = ("none", "zstd")

# --- histogram buckets (upper bounds; +Inf is implicit) ---------------------
# Fixed here, never per deployment: histograms are aggregatable across
# targets only when every target uses the same boundaries.
# MetricSpec stores them as floats.

_MS_1_TO_60S: Final = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)

QUERY_LATENCY_MS_BUCKETS: Final = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
QUALITY_SCORE_BUCKETS: Final = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
RETRY_COUNT_BUCKETS: Final = (0, 1, 2, 3, 5, 10)
TURNS_BUCKETS: Final = (1, 2, 5, 10, 20, 50)
LIBRARIAN_DURATION_SECONDS_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
ENDPOINT_SECONDS_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
POLL_SECONDS_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
E2E_LATENCY_MS_BUCKETS: Final = _MS_1_TO_60S
REDIS_LATENCY_MS_BUCKETS: Final = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
#: The same 1 ms - 60 s ladder as the end-to-end latency, in seconds.
PRODUCER_DELIVERY_SECONDS_BUCKETS: Final = tuple(ms / 1000 for ms in _MS_1_TO_60S)
#: 128 B to 4 MiB in powers of two (Kafka's default message limit is 1 MiB).
MESSAGE_SIZE_BYTES_BUCKETS: Final = tuple(2**n for n in (7, 8, 9, 10, 12, 14, 16, 18, 20, 22))
