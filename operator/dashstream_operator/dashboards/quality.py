"""The DashStream quality dashboard: the seeds' 20 panels, on the contract's metric names.

Panel titles are kept exactly as in the old ``grafana_quality_dashboard.json``
(seeds, "Current Panels") so people and runbooks find what they know; queries
were rewritten for the metrics contract (component-scoped Redis metrics, no
``dashstream_message_loss_rate``). Targets: success rate >= 90 %, quality score
>= 0.90, average retries < 1.5 (seeds); failure-rate thresholds mirror the
success target (a 10 % failure rate is the same line seen from the other side).
"""

from __future__ import annotations

from typing import Any

from .builder import (
    REDIS_ONLY,
    DashboardBuilder,
    gauge,
    incident_only,
    piechart,
    stat,
    target,
    timeseries,
)
from .exprs import RATE_WINDOW, STAT_WINDOW, histogram_quantile, rate, sel

__all__ = ["PANEL_TITLES", "UID", "build"]

UID = "dashstream-quality"

_QUERIES = "dashstream_quality_monitor_queries_total"
_PASSED = "dashstream_quality_monitor_queries_passed_total"
_FAILED = "dashstream_quality_monitor_queries_failed_total"
_RETRIES = "dashstream_quality_retry_count"
_SCORE_HISTOGRAM = "dashstream_quality_score_by_model"
_GAUGES_UPDATED = "dashstream_exporter_gauges_last_update_timestamp_seconds"

# Quality scores are 0..1 fractions, not percentages: shown as 0.93, as in the seeds.
_QUALITY_STEPS = ((None, "red"), (0.8, "orange"), (0.9, "green"))
_SUCCESS_STEPS = ((None, "red"), (0.8, "orange"), (0.9, "green"))
_FAILURE_STEPS = ((None, "green"), (0.05, "orange"), (0.1, "red"))
_RETRY_STEPS = ((None, "green"), (1.0, "orange"), (1.5, "red"))
# HighDuplicateRate / HighReorderRate fire above 0.1/s (seeds, alert rules).
_ANOMALY_STEPS = ((None, "green"), (0.1, "red"))
_ANY_IS_BAD = ((None, "green"), (1, "red"))


def _ratio(numerator: str, denominator: str, window: str = STAT_WINDOW) -> str:
    # clamp_min keeps an idle monitor at "no data" instead of a division by zero (NaN/Inf).
    return (f"{rate(numerator, window=window)} / "
            f"clamp_min({rate(denominator, window=window)}, 1e-9)")


def _latest(gauge: str) -> str:
    """Mean of the exporter replicas' last-event gauge, over replicas that have set it.

    Each replica sets these gauges from its own share of the partitions; one that
    owns none keeps the initial 0, which must not drag the mean down.
    """
    return (f"avg({sel(gauge)} and on (namespace, job, instance) "
            f"({sel(_GAUGES_UPDATED)} > 0))")


def _percentiles(histogram: str, unit_legend: str) -> list[Any]:
    return [target(histogram_quantile(q, histogram), f"p{round(q * 100)} {unit_legend}".strip())
            for q in (0.5, 0.95, 0.99)]


def _overview(b: DashboardBuilder) -> None:
    b.row("Overview").add(
        stat("Success Rate", [_ratio(_PASSED, _QUERIES)], unit="percentunit", decimals=1,
             thresholds=_SUCCESS_STEPS,
             description="Queries that passed the quality threshold over the last 5 "
                         "minutes. Target: >= 90 %."),
        gauge("Current Quality Score", [_ratio(_SCORE_HISTOGRAM + "_sum",
                                               _SCORE_HISTOGRAM + "_count")],
              unit="none", decimals=2, thresholds=_QUALITY_STEPS, minimum=0, maximum=1,
              description="Mean quality score (0-1) of the events of the last 5 minutes, "
                          "over every exporter replica. Target: >= 0.90."),
        stat("Average Retries", [f"{rate(_RETRIES + '_sum', window=STAT_WINDOW)} / "
                                 f"clamp_min({rate(_RETRIES + '_count', window=STAT_WINDOW)},"
                                 " 1e-9)"],
             unit="none", decimals=2, thresholds=_RETRY_STEPS,
             description="Mean retries per query over the last 5 minutes. Target: < 1.5."),
        stat("Request Rate (QPS)", [rate(_QUERIES, window=STAT_WINDOW)], unit="reqps",
             decimals=2, description="Queries processed per second (5-minute rate)."),
    )


def _quality(b: DashboardBuilder) -> None:
    b.row("Quality").add(
        timeseries("Quality Components (Accuracy, Relevance, Completeness)", [
            target(_latest("dashstream_quality_accuracy"), "accuracy"),
            target(_latest("dashstream_quality_relevance"), "relevance"),
            target(_latest("dashstream_quality_completeness"), "completeness"),
        ], unit="none", minimum=0, maximum=1, decimals=2, thresholds=_QUALITY_STEPS,
            threshold_line=True,
            description="The three quality dimensions (0-1) behind the overall score: "
                        "the latest event's, averaged over exporter replicas."),
        timeseries("Quality Score Trend (6h)",
                   [target(_ratio(_SCORE_HISTOGRAM + "_sum", _SCORE_HISTOGRAM + "_count",
                                  window=RATE_WINDOW), "quality score")],
                   unit="none", minimum=0, maximum=1, decimals=2, thresholds=_QUALITY_STEPS,
                   threshold_line=True, time_from="6h",
                   description="Mean quality score of the events over the last 6 hours; "
                               "the dashed line is the 0.90 target."),
        piechart("Model Usage Distribution",
                 [target(rate("dashstream_queries_by_model_total", by="model", fn="increase",
                              window="$__range"), "{{model}}")],
                 description="Share of queries per model over the selected time range.",
                 w=8),
        timeseries("Quality Judge Usage", [
            target(rate(_PASSED), "judged: passed"),
            target(rate(_FAILED), "judged: failed"),
        ], unit="reqps", stack=True, w=16,
            description="Queries the quality judge scored per second, by verdict."),
    )


def _latency_and_retries(b: DashboardBuilder) -> None:
    b.row("Latency & retries").add(
        timeseries("Latency Distribution (P50/P95/P99)",
                   _percentiles("dashstream_query_latency_ms", ""), unit="ms",
                   description="End-to-end query latency percentiles."),
        timeseries("Retry Count Percentiles", _percentiles(_RETRIES, "retries"), unit="none",
                   decimals=1, thresholds=_RETRY_STEPS, threshold_line=True,
                   description="Retries needed per query (passed and failed queries)."),
    )


def _failures(b: DashboardBuilder) -> None:
    b.row("Failures").add(
        timeseries("Failure Breakdown by Category",
                   [target(rate(_FAILED, by="category"), "{{category}}")], unit="reqps",
                   stack=True,
                   description="Queries failing the quality threshold per second, by "
                               "query category."),
        stat("Overall Failure Rate", [_ratio(_FAILED, _QUERIES)], unit="percentunit",
             decimals=1, thresholds=_FAILURE_STEPS, h=8,
             description="Failed share of all queries over the last 5 minutes "
                         "(the complement of the 90 % success target)."),
        stat("Retry Rate (p99)", [histogram_quantile(0.99, _RETRIES, window=STAT_WINDOW)],
             unit="none", decimals=1, thresholds=_RETRY_STEPS, h=8,
             description="99th percentile of retries per query over the last 5 minutes."),
    )


def _streaming(b: DashboardBuilder) -> None:
    b.row("Streaming integrity").add(
        timeseries("Sequence Gaps (Message Loss Detection)",
                   [target(rate("dashstream_sequence_gaps_total", fn="increase",
                                window=STAT_WINDOW), "gaps / 5m")],
                   unit="short", decimals=0, thresholds=_ANY_IS_BAD, threshold_line=True,
                   w=8, description="Sequence gaps seen by the WebSocket server in the "
                                    "last 5 minutes; any gap is lost data."),
        timeseries("Duplicate Message Rate",
                   [target(rate("dashstream_sequence_duplicates_total"), "duplicates")],
                   unit="cps", thresholds=_ANOMALY_STEPS, threshold_line=True, w=8,
                   description="Redelivered messages per second (at-least-once); "
                               "alert above 0.1/s."),
        timeseries("Out-of-Order Message Rate",
                   [target(rate("dashstream_sequence_reorders_total"), "reorders")],
                   unit="cps", thresholds=_ANOMALY_STEPS, threshold_line=True, w=8,
                   description="Messages arriving out of sequence per second; "
                               "alert above 0.1/s."),
    )


def _dlq_and_redis(b: DashboardBuilder) -> None:
    b.row("Dead-letter queue & Redis").add(
        timeseries("DLQ Write Rate by Error Type",
                   [target(rate("websocket_dlq_sends_total", by="error_type"),
                           "{{error_type}}")],
                   unit="cps", stack=True,
                   description="Messages the WebSocket server wrote to the DLQ topic."),
        timeseries("DLQ Health (Send Failures)",
                   [target(rate("websocket_dlq_send_failures_total", by="reason",
                                fn="increase", window=STAT_WINDOW), "{{reason}}")],
                   unit="short", decimals=0, thresholds=_ANY_IS_BAD, threshold_line=True,
                   description="DLQ writes that failed in the last 5 minutes, by reason; "
                               "any failure means forensic data is lost."),
        timeseries("Redis Connection Errors",
                   [target(rate("dashstream_websocket_redis_errors_total"),
                           "replay buffer")],
                   unit="cps", description="Redis errors in the WebSocket replay buffer."),
        incident_only(
            timeseries("Redis Operation Latency (p95)",
                       [target(histogram_quantile(0.95, "dashstream_websocket_redis_latency_ms",
                                                  by="operation"), "{{operation}}")],
                       unit="ms", description="95th percentile Redis latency of the replay "
                                              "buffer, by operation."),
            REDIS_ONLY),
    )


#: The seeds' 20 panels, in dashboard order.
PANEL_TITLES: tuple[str, ...] = (
    "Success Rate", "Current Quality Score", "Average Retries", "Request Rate (QPS)",
    "Quality Components (Accuracy, Relevance, Completeness)", "Quality Score Trend (6h)",
    "Model Usage Distribution", "Quality Judge Usage", "Latency Distribution (P50/P95/P99)",
    "Retry Count Percentiles", "Failure Breakdown by Category", "Overall Failure Rate",
    "Retry Rate (p99)", "Sequence Gaps (Message Loss Detection)", "Duplicate Message Rate",
    "Out-of-Order Message Rate", "DLQ Write Rate by Error Type", "DLQ Health (Send Failures)",
    "Redis Connection Errors", "Redis Operation Latency (p95)",
)


def build() -> dict[str, Any]:
    b = DashboardBuilder(
        UID, "DashStream Quality", tags=["dashstream", "quality"],
        description="Quality of the answers DashStream observes: success rate, quality "
                    "score, retries, latency, failures, and the streaming health "
                    "(sequence anomalies, DLQ, Redis) behind them.",
        probe_metric=_QUERIES,
    )
    for section in (_overview, _quality, _latency_and_retries, _failures, _streaming,
                    _dlq_and_redis):
        section(b)
    return b.build()
