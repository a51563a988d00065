"""The exporter-health dashboard (the prometheus-exporter component's self-monitoring).

Every panel of the quality dashboard is only as true as this exporter: if it
stops consuming, the quality gauges freeze at their last value and look
healthy. Thresholds follow the seeds' recommended alerts: no event for 300 s,
gauges not updated for 300 s, consumer lag above 10 000, more than 100
wrong-scope messages, any processing failure above 0.1/s.
"""

from __future__ import annotations

from typing import Any

from .builder import DashboardBuilder, stat, target, timeseries
from .exprs import STAT_WINDOW, histogram_quantile, rate, sel

__all__ = ["UID", "build"]

UID = "dashstream-exporter"

_RECEIVED = "dashstream_exporter_messages_received_total"
_FAILED = "dashstream_exporter_messages_failed_total"
_LAST_EVENT = "dashstream_exporter_last_event_timestamp_seconds"
_GAUGES_UPDATED = "dashstream_exporter_gauges_last_update_timestamp_seconds"
_LAG = "dashstream_exporter_kafka_consumer_lag"
_START = "dashstream_exporter_process_start_time_seconds"
_ENDPOINT = "dashstream_exporter_metrics_endpoint_duration_seconds"

_STALE_STEPS = ((None, "green"), (60, "orange"), (300, "red"))
_LAG_STEPS = ((None, "green"), (1_000, "orange"), (10_000, "red"))
_FAILURE_STEPS = ((None, "green"), (0.1, "red"))


def _age(gauge_metric: str) -> str:
    # max(): with several replicas the freshest one decides whether data flows at all.
    return f"time() - max({sel(gauge_metric)})"


def _restarts(window: str) -> str:
    # A container restarted in place keeps its series and changes the start time;
    # a replaced pod is a new series (new pod label), visible only as one series
    # more over the window than there are now. Count both.
    start = sel(_START)
    return (f"sum(changes({start}[{window}])) + count(count_over_time({start}[{window}])) "
            f"- count({start})")


def _overview(b: DashboardBuilder) -> None:
    b.row("Overview").add(
        stat("Last Event Age", [_age(_LAST_EVENT)], unit="s", decimals=0,
             thresholds=_STALE_STEPS, w=4,
             description="Seconds since the exporter processed its last event; "
                         "above 300 s the quality dashboard shows frozen values."),
        stat("Last Gauge Update Age", [_age(_GAUGES_UPDATED)], unit="s", decimals=0,
             thresholds=_STALE_STEPS, w=4,
             description="Seconds since the quality gauges were last updated."),
        stat("Messages Received/s", [rate(_RECEIVED, window=STAT_WINDOW)], unit="cps",
             decimals=1, w=4, description="Kafka messages consumed per second (5 minutes)."),
        stat("Processing Failures/s", [rate(_FAILED, window=STAT_WINDOW)], unit="cps",
             decimals=2, thresholds=_FAILURE_STEPS, w=4,
             description="Messages that failed to decode or process (alert above 0.1/s)."),
        stat("Current Consumer Lag", [f"sum({sel(_LAG)})"], decimals=0,
             thresholds=_LAG_STEPS, w=4,
             description="Messages the exporter is behind, summed over partitions."),
        stat("Restarts (24h)", [_restarts("24h")], decimals=0,
             thresholds=((None, "green"), (1, "orange"), (3, "red")), graph=False, w=4,
             description="Exporter restarts in the last 24 hours: container restarts "
                         "in place plus replaced pods (a rollout counts too)."),
    )


def _throughput(b: DashboardBuilder) -> None:
    b.row("Throughput").add(
        timeseries("Messages Received / Failed", [
            target(rate(_RECEIVED), "received"),
            target(rate(_FAILED, by="error_type"), "failed: {{error_type}}"),
        ], unit="cps", description="Consumed messages and processing failures by type "
                                   "(decode, process, unknown)."),
        timeseries("Consumer Lag", [target(f"sum({sel(_LAG)})", "lag")], unit="short",
                   decimals=0, thresholds=_LAG_STEPS, threshold_line=True,
                   description="Sum of consumer lag over the assigned partitions."),
    )


def _freshness(b: DashboardBuilder) -> None:
    b.row("Freshness").add(
        timeseries("Event Freshness", [target(_age(_LAST_EVENT), "seconds since last event")],
                   unit="s", thresholds=_STALE_STEPS, threshold_line=True,
                   description="Staleness of processed events (alert above 300 s)."),
        timeseries("Gauge Freshness",
                   [target(_age(_GAUGES_UPDATED), "seconds since gauge update")],
                   unit="s", thresholds=_STALE_STEPS, threshold_line=True,
                   description="Staleness of the quality gauges (alert above 300 s)."),
    )


def _errors(b: DashboardBuilder) -> None:
    b.row("Errors").add(
        timeseries("Kafka Consumer Errors",
                   [target(rate("dashstream_exporter_kafka_consumer_errors_total"), "errors")],
                   unit="cps", w=6, description="Kafka connectivity/protocol errors."),
        timeseries("Offset Store Errors",
                   [target(rate("dashstream_exporter_offset_store_errors_total"), "errors")],
                   unit="cps", w=6,
                   description="Failed offset commits: messages may be re-processed after "
                               "a restart (duplicates)."),
        timeseries("Wrong-Scope Messages",
                   [target(rate("dashstream_exporter_messages_wrong_scope_total",
                                fn="increase", window=STAT_WINDOW), "per 5m")],
                   unit="short", thresholds=((None, "green"), (100, "red")),
                   threshold_line=True, w=6,
                   description="Non-quality messages on the quality topic (many means a "
                               "misconfigured producer or topic)."),
        timeseries("Missing-Header Messages",
                   [target(rate("dashstream_exporter_messages_missing_header_total"),
                           "missing header")],
                   unit="cps", w=6, description="Quality messages without a header "
                                                "(protocol errors)."),
    )


def _process(b: DashboardBuilder) -> None:
    b.row("Process").add(
        timeseries("Metrics Endpoint Duration",
                   [target(histogram_quantile(q, _ENDPOINT), f"p{p}")
                    for q, p in ((0.5, 50), (0.99, 99))],
                   unit="s", description="Time to encode /metrics; growth means "
                                         "label cardinality is climbing."),
        timeseries("Process Uptime", [target(f"time() - {sel(_START)}", "{{instance}}")],
                   unit="s", description="Seconds since each exporter process started; "
                                         "a drop to zero is a restart."),
    )


def build() -> dict[str, Any]:
    b = DashboardBuilder(
        UID, "DashStream Exporter Health", tags=["dashstream", "exporter"],
        description="Self-monitoring of the DashStream Prometheus exporter: throughput, "
                    "failures, freshness, lag and restarts.",
        probe_metric=_RECEIVED,
    )
    for section in (_overview, _throughput, _freshness, _errors, _process):
        section(b)
    return b.build()
