"""The streaming/WebSocket infrastructure dashboard (the websocket-server component).

Answers "is the path Kafka -> WebSocket server -> browsers healthy?": message
and error rates, consumer lag and stale partitions, clients and drops,
end-to-end latency, sequence anomalies, the dead-letter queue and the Redis
replay tier. Thresholds are the alert rules' (seeds): lag 10k/100k messages
(KafkaConsumerLagHigh/Critical), partition offset age 120 s/300 s
(KafkaPartitionStale/Critical), duplicates and reorders 0.1/s.
"""

from __future__ import annotations

from typing import Any

from .builder import REDIS_ONLY, DashboardBuilder, incident_only, stat, target, timeseries
from .exprs import SCOPE_MATCHER, STAT_WINDOW, histogram_quantile, rate, sel

__all__ = ["UID", "build"]

UID = "dashstream-streaming"

_MESSAGES = "websocket_kafka_messages_total"
_LAG = "websocket_kafka_consumer_lag"
_OFFSET_AGE = "websocket_kafka_lag_offset_age_seconds"
_BROADCAST_LAG = "websocket_broadcast_lag"
_E2E = "websocket_e2e_latency_ms"
_REDIS_LATENCY = "dashstream_websocket_redis_latency_ms"

_LAG_STEPS = ((None, "green"), (10_000, "orange"), (100_000, "red"))
_AGE_STEPS = ((None, "green"), (120, "orange"), (300, "red"))
_ERROR_RATIO_STEPS = ((None, "green"), (0.01, "orange"), (0.05, "red"))
_ANOMALY_STEPS = ((None, "green"), (0.1, "red"))


def _overview(b: DashboardBuilder) -> None:
    error = rate(_MESSAGES, {"status": "error"}, window=STAT_WINDOW)
    # The HighMessageProcessingErrorRate definition: skipped old data (old_data_error)
    # is neither a failure nor a processed message, so a backlog written before this
    # consumer started cannot raise the error ratio.
    handled = (f'sum(rate({_MESSAGES}{{status=~"success|error",{SCOPE_MATCHER}}}'
               f"[{STAT_WINDOW}]))")
    b.row("Overview").add(
        stat("Clients Now", [f"sum({sel('websocket_connected_clients')})"], decimals=0,
             w=4, description="Browsers connected to /ws right now."),
        stat("Kafka Messages/s", [rate(_MESSAGES, {"status": "success"}, window=STAT_WINDOW)],
             unit="cps", decimals=1, w=4,
             description="Messages decoded and broadcast per second (5-minute rate)."),
        stat("Processing Error Ratio", [f"{error} / clamp_min({handled}, 1e-9)"],
             unit="percentunit", decimals=2, thresholds=_ERROR_RATIO_STEPS, w=4,
             description="Decode failures of new data among processed messages "
                         "(as the HighMessageProcessingErrorRate alert computes it)."),
        stat("Max Consumer Lag", [f"max({sel(_LAG)})"], unit="short", decimals=0,
             thresholds=_LAG_STEPS, w=4,
             description="Largest consumer-group lag of any partition (high watermark - "
                         "offset), from the replica that holds the partition."),
        stat("E2E Latency p99", [histogram_quantile(0.99, _E2E, window=STAT_WINDOW,
                                                    matchers={"stage": "kafka_to_websocket"})],
             unit="ms", w=4,
             description="Kafka-to-WebSocket latency, 99th percentile over 5 minutes."),
        stat("Uptime", [f"min({sel('websocket_uptime_seconds')})"], unit="s", graph=False,
             w=4, description="Uptime of the most recently started server replica."),
    )


def _kafka(b: DashboardBuilder) -> None:
    b.row("Kafka consumption").add(
        timeseries("Kafka Messages by Status",
                   [target(rate(_MESSAGES, by="status"), "{{status}}")], unit="cps",
                   description="success = decoded; error = new decode failure; "
                               "old_data_error = skipped pre-session data."),
        timeseries("Decode Errors by Type",
                   [target(rate("websocket_decode_errors_total", by="error_type"),
                           "{{error_type}}"),
                    target(rate("websocket_old_data_decode_errors_total"), "old data")],
                   unit="cps", stack=True,
                   description="Protobuf decode failures by cause; payload_too_large "
                               "means WEBSOCKET_MAX_PAYLOAD_BYTES was exceeded."),
        timeseries("Kafka Client Errors by Type",
                   [target(rate("websocket_kafka_errors_by_type_total", by="error_type"),
                           "{{error_type}}")], unit="cps", stack=True,
                   description="librdkafka client errors (DNS, timeouts, broker down)."),
        timeseries("Infrastructure Errors",
                   [target(rate("websocket_infrastructure_errors_total"), "errors")],
                   unit="cps", description="Network and Kafka connection failures."),
    )


def _lag(b: DashboardBuilder) -> None:
    b.row("Consumer lag").add(
        timeseries("Consumer Lag per Partition",
                   [target(f"max by (partition) ({sel(_LAG)})", "partition {{partition}}")],
                   unit="short", decimals=0, thresholds=_LAG_STEPS, threshold_line=True,
                   description="Messages behind the high watermark, per partition."),
        timeseries("Partition Offset Age",
                   [target(f"max by (partition) ({sel(_OFFSET_AGE)})",
                           "partition {{partition}}")],
                   unit="s", thresholds=_AGE_STEPS, threshold_line=True,
                   description="Seconds since a partition's offset last moved; high "
                               "values mean a stale partition."),
        timeseries("Lag Poll Failures",
                   [target(rate("websocket_kafka_lag_poll_failures_total"), "failures")],
                   unit="cps", description="Failed watermark fetches: lag figures are "
                                           "stale while this is non-zero."),
        timeseries("Lag Poll Duration (p99)",
                   [target(histogram_quantile(0.99, "websocket_kafka_lag_poll_duration_seconds",
                                              by="status"), "{{status}}")],
                   unit="s", description="Time to fetch Kafka watermarks, by outcome."),
        timeseries("Broadcast Lag per Replica",
                   [target(f"sum by (instance) ({sel(_BROADCAST_LAG)})", "{{instance}}")],
                   unit="short", decimals=0, thresholds=_LAG_STEPS, threshold_line=True,
                   description="What each replica's viewers have not been sent yet: every "
                               "replica reads every partition, so replicas are compared, "
                               "not summed (WebSocketBroadcastLagHigh fires at 10k)."),
        timeseries("Broadcast Lag per Partition (slowest replica)",
                   [target(f"max by (partition) ({sel(_BROADCAST_LAG)})",
                           "partition {{partition}}")],
                   unit="short", decimals=0,
                   description="Per partition, the broadcast lag of the replica furthest "
                               "behind."),
    )


def _clients(b: DashboardBuilder) -> None:
    b.row("Clients").add(
        timeseries("Connected Clients", [target(f"sum({sel('websocket_connected_clients')})",
                                                "clients")],
                   unit="short", decimals=0, w=6, description="Open WebSocket connections."),
        timeseries("Dropped Messages",
                   [target(rate("websocket_dropped_messages_total", by="reason"), "{{reason}}")],
                   unit="cps", w=6,
                   description="Messages not delivered because a client fell behind the "
                               "broadcast buffer (lagged_receiver)."),
        timeseries("Client Lag Events",
                   [target(rate("websocket_client_lag_events_total", by="severity"),
                           "{{severity}}")], unit="cps", w=6,
                   description="Clients reported lagging, by severity."),
        timeseries("Client Lagged Messages",
                   [target(rate("websocket_client_lag_messages_total", by="severity"),
                           "{{severity}}")], unit="cps", w=6,
                   description="Messages clients were behind, by severity."),
    )


def _latency_and_sequence(b: DashboardBuilder) -> None:
    b.row("Latency & sequence integrity").add(
        timeseries("E2E Latency (p50/p99)",
                   [target(histogram_quantile(q, _E2E, by="stage"), f"p{p} {{{{stage}}}}")
                    for q, p in ((0.5, 50), (0.99, 99))],
                   unit="ms", description="Producer timestamp to WebSocket broadcast, by "
                                          "stage (appears after the first event)."),
        timeseries("Sequence Gaps, Duplicates and Reorders", [
            target(rate("dashstream_sequence_gaps_total"), "gaps"),
            target(rate("dashstream_sequence_duplicates_total"), "duplicates"),
            target(rate("dashstream_sequence_reorders_total"), "reorders"),
        ], unit="cps", thresholds=_ANOMALY_STEPS, threshold_line=True,
            description="Per-thread sequence validation: gaps are lost messages, "
                        "duplicates are redeliveries, reorders broken ordering."),
    )


def _dlq(b: DashboardBuilder) -> None:
    b.row("Dead-letter queue").add(
        timeseries("DLQ Sends by Error Type",
                   [target(rate("websocket_dlq_sends_total", by="error_type"),
                           "{{error_type}}")], unit="cps", stack=True,
                   description="Messages written to the DLQ topic for forensics."),
        timeseries("DLQ Send Failures by Reason",
                   [target(rate("websocket_dlq_send_failures_total", by="reason"),
                           "{{reason}}")], unit="cps",
                   thresholds=((None, "green"), (0.001, "red")),
                   description="DLQ writes that failed (timeout, kafka_error, "
                               "backpressure): the failed message is lost for good."),
    )


def _replay(b: DashboardBuilder) -> None:
    b.row("Replay buffer & Redis").add(
        timeseries("Replay Buffer Hits", [
            target(rate("replay_buffer_memory_hits_total"), "memory hits"),
            target(rate("replay_buffer_redis_hits_total"), "redis hits"),
            target(rate("replay_buffer_redis_misses_total"), "redis misses"),
        ], unit="cps", w=6, description="Where reconnecting clients' replay requests "
                                        "were served from."),
        timeseries("Replay Buffer Redis Writes Lost", [
            target(rate("replay_buffer_redis_write_dropped_total"), "dropped"),
            target(rate("replay_buffer_redis_write_failures_total"), "failed"),
        ], unit="cps", w=6, description="Writes to the Redis tier that were dropped "
                                        "(concurrency limit) or failed."),
        timeseries("Redis Errors",
                   [target(rate("dashstream_websocket_redis_errors_total"), "errors")],
                   unit="cps", w=6, description="Redis errors in the replay buffer."),
        incident_only(
            timeseries("Redis Latency (p50/p99)",
                       [target(histogram_quantile(q, _REDIS_LATENCY, by="operation"),
                               f"p{p} {{{{operation}}}}") for q, p in ((0.5, 50), (0.99, 99))],
                       unit="ms", w=6, description="Replay-buffer Redis latency by operation."),
            REDIS_ONLY),
    )


def build() -> dict[str, Any]:
    b = DashboardBuilder(
        UID, "DashStream Streaming & WebSocket", tags=["dashstream", "streaming", "websocket"],
        description="Kafka consumption, lag, clients, latency, sequence integrity, DLQ and "
                    "replay buffer of the DashStream WebSocket server.",
        probe_metric="websocket_connected_clients",
    )
    for section in (_overview, _kafka, _lag, _clients, _latency_and_sequence, _dlq, _replay):
        section(b)
    return b.build()
