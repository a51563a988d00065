"""The canonical dashboards: generated, valid, resolved against the metrics contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from dashstream_operator.dashboards import DASHBOARDS, generate
from dashstream_operator.dashboards.__main__ import main as generator_main
from dashstream_operator.dashboards.builder import (
    DashboardBuilder,
    gauge,
    stat,
    table,
    target,
    timeseries,
)
from dashstream_operator.dashboards.grafana import substitute_template_variables
from dashstream_operator.validation.dashboards import iter_panels, validate_dashboard
from dashstream_operator.validation.promql import _children, parse_expr
from dashstream_workloads.contract import known_series

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "dashboards"

#: The seeds' "Current Panels" of the quality dashboard (observability-infrastructure.md).
SEED_QUALITY_PANELS = [
    "Success Rate",
    "Current Quality Score",
    "Average Retries",
    "Request Rate (QPS)",
    "Quality Components (Accuracy, Relevance, Completeness)",
    "Model Usage Distribution",
    "Latency Distribution (P50/P95/P99)",
    "Retry Count Percentiles",
    "Quality Score Trend (6h)",
    "Failure Breakdown by Category",
    "Quality Judge Usage",
    "Overall Failure Rate",
    "Retry Rate (p99)",
    "Sequence Gaps (Message Loss Detection)",
    "Duplicate Message Rate",
    "Out-of-Order Message Rate",
    "DLQ Write Rate by Error Type",
    "DLQ Health (Send Failures)",
    "Redis Connection Errors",
    "Redis Operation Latency (p95)",
]
EXPECTED_UIDS = {"dashstream-quality", "dashstream-streaming", "dashstream-exporter"}


def recording_rules() -> set[str]:
    """``record:`` names of every rule group in alert-rules/ (promtool test files skipped)."""
    names: set[str] = set()
    for path in sorted((REPO / "alert-rules").glob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups") or []:
            names.update(r["record"] for r in group.get("rules") or [] if "record" in r)
    return names


def committed() -> dict[str, Any]:
    return {p.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def panels_of(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p, _ in iter_panels(dashboard) if p.get("type") != "row"]


def by_title(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in panels_of(dashboard) if p["title"] == title)


def step_values(panel: dict[str, Any]) -> dict[str, Any]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return {s["color"]: s["value"] for s in steps}


# --- one source, generated copies -------------------------------------------------------


def test_committed_dashboards_equal_a_fresh_generation() -> None:
    fresh = generate()
    assert sorted(p.name for p in DASHBOARD_DIR.glob("*.json")) == sorted(fresh), (
        "dashboards/ and the generator disagree on the file set: run make generate")
    for name, text in fresh.items():
        assert (DASHBOARD_DIR / name).read_text(encoding="utf-8") == text, (
            f"dashboards/{name} differs from its generator: run make generate")


def test_generation_is_deterministic() -> None:
    assert generate() == generate()


def test_check_mode_names_stale_and_missing_files(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert generator_main(["--out", str(tmp_path)]) == 0
    assert generator_main(["--check", str(tmp_path)]) == 0
    capsys.readouterr()

    (tmp_path / "dashstream-quality.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "dashstream-exporter.json").unlink()
    assert generator_main(["--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "dashstream-quality.json: differs" in err
    assert "dashstream-exporter.json: missing" in err
    assert "dashstream-streaming.json" not in err
    assert "make generate" in err


# --- every dashboard -------------------------------------------------------------------


@pytest.fixture(scope="module")
def series() -> dict[str, Any]:
    return dict(known_series())


@pytest.fixture(scope="module")
def recorded() -> set[str]:
    return recording_rules()


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_valid_against_the_contract(name: str, series: dict[str, Any],
                                                 recorded: set[str]) -> None:
    dashboard = committed()[name]
    report = validate_dashboard(dashboard, series, recorded)
    assert report.errors == []
    assert report.unknown_metrics == [], "not in the metrics contract nor a recording rule"
    assert report.valid
    assert report.uid == dashboard["uid"] and name == f"{report.uid}.json"
    assert report.panels == len(panels_of(dashboard)) > 0
    assert report.bytes > 0


def test_uids_are_stable_and_unique() -> None:
    uids = [d["uid"] for d in committed().values()]
    assert len(uids) == len(set(uids))
    assert set(uids) == EXPECTED_UIDS


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_conventions(name: str) -> None:
    d = committed()[name]
    assert d["schemaVersion"] == 39
    assert d["title"] and d["tags"][0] == "dashstream"
    assert "__inputs" not in d and "id" not in d
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p, _ in iter_panels(d)]
    assert ids == list(range(1, len(ids) + 1))
    for panel in panels_of(d):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["description"], f"{panel['title']}: say what the panel shows"
        assert panel["fieldConfig"]["defaults"]["unit"], f"{panel['title']}: no unit"
        assert panel["targets"], f"{panel['title']}: no query"
        for t in panel["targets"]:
            assert t["datasource"]["uid"] == "${datasource}"
            # Every selector honours the namespace variable (multi-pipeline Prometheus).
            assert 'namespace=~"$namespace"' in t["expr"], t["expr"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panel_titles_are_unique(name: str) -> None:
    titles = [p["title"] for p in panels_of(committed()[name])]
    assert len(titles) == len(set(titles))


def test_panels_tile_the_grid_without_gaps_at_the_right_edge() -> None:
    # Not required by Grafana, but a short line means a panel width was mistyped.
    for d in committed().values():
        lines: dict[int, int] = {}
        for p, _ in iter_panels(d):
            lines[p["gridPos"]["y"]] = lines.get(p["gridPos"]["y"], 0) + p["gridPos"]["w"]
        assert set(lines.values()) == {24}, d["uid"]


# --- the quality dashboard keeps the seeds' panels and targets --------------------------


def test_quality_dashboard_has_exactly_the_seed_panels() -> None:
    d = committed()["dashstream-quality.json"]
    titles = [p["title"] for p in panels_of(d)]
    assert sorted(titles) == sorted(SEED_QUALITY_PANELS)
    assert len(titles) == 20


def test_quality_targets_and_units() -> None:
    d = committed()["dashstream-quality.json"]
    success = by_title(d, "Success Rate")
    assert success["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert step_values(success)["green"] == 0.9  # success rate >= 90 %
    score = by_title(d, "Current Quality Score")
    assert score["type"] == "gauge"
    assert step_values(score)["green"] == 0.9  # quality >= 0.90
    assert (score["fieldConfig"]["defaults"]["min"], score["fieldConfig"]["defaults"]["max"]) \
        == (0, 1)
    assert step_values(by_title(d, "Average Retries"))["red"] == 1.5  # retries < 1.5
    assert by_title(d, "Request Rate (QPS)")["fieldConfig"]["defaults"]["unit"] == "reqps"
    latency = by_title(d, "Latency Distribution (P50/P95/P99)")
    assert latency["fieldConfig"]["defaults"]["unit"] == "ms"
    assert [t["expr"].split(",")[0] for t in latency["targets"]] == [
        "histogram_quantile(0.5", "histogram_quantile(0.95", "histogram_quantile(0.99"]
    assert by_title(d, "Quality Score Trend (6h)")["timeFrom"] == "6h"
    redis = by_title(d, "Redis Operation Latency (p95)")["targets"][0]["expr"]
    assert redis.startswith("histogram_quantile(0.95,")
    assert "dashstream_websocket_redis_latency_ms_bucket" in redis


def test_no_dashboard_uses_retired_metrics() -> None:
    # Contract decisions: no loss-rate metric (sent and received are counted in
    # different processes, so no one process can compute a loss rate); Redis metrics
    # are component-scoped (the shared names had different buckets and labels per
    # component, so they could not be aggregated), the shared ambiguous names are gone.
    text = "".join(generate().values())
    for retired in ("dashstream_message_loss_rate", "dashstream_redis_connection_errors_total",
                    "dashstream_redis_operation_latency_ms"):
        assert retired not in text


def test_streaming_dashboard_covers_the_infrastructure() -> None:
    d = committed()["dashstream-streaming.json"]
    exprs = " ".join(t["expr"] for p in panels_of(d) for t in p["targets"])
    for metric in ("websocket_kafka_messages_total", "websocket_decode_errors_total",
                   "websocket_kafka_consumer_lag", "websocket_kafka_lag_offset_age_seconds",
                   "websocket_connected_clients", "websocket_dropped_messages_total",
                   "websocket_client_lag_events_total", "websocket_e2e_latency_ms_bucket",
                   "dashstream_sequence_gaps_total", "dashstream_sequence_duplicates_total",
                   "dashstream_sequence_reorders_total", "websocket_dlq_sends_total",
                   "websocket_dlq_send_failures_total", "replay_buffer_memory_hits_total",
                   "dashstream_websocket_redis_errors_total",
                   "dashstream_websocket_redis_latency_ms_bucket"):
        assert metric in exprs, metric
    e2e = by_title(d, "E2E Latency (p50/p99)")
    assert [t["expr"].split(",")[0] for t in e2e["targets"]] == [
        "histogram_quantile(0.5", "histogram_quantile(0.99"]
    assert by_title(d, "Consumer Lag per Partition")["targets"][0]["expr"].startswith(
        "max by (partition)")


def test_exporter_dashboard_covers_its_health() -> None:
    d = committed()["dashstream-exporter.json"]
    exprs = " ".join(t["expr"] for p in panels_of(d) for t in p["targets"])
    assert "time() - max(dashstream_exporter_last_event_timestamp_seconds" in exprs
    assert "time() - max(dashstream_exporter_gauges_last_update_timestamp_seconds" in exprs
    for metric in ("dashstream_exporter_messages_received_total",
                   "dashstream_exporter_messages_failed_total",
                   "dashstream_exporter_kafka_consumer_errors_total",
                   "dashstream_exporter_offset_store_errors_total",
                   "dashstream_exporter_kafka_consumer_lag",
                   "dashstream_exporter_messages_wrong_scope_total",
                   "dashstream_exporter_messages_missing_header_total",
                   "dashstream_exporter_metrics_endpoint_duration_seconds_bucket",
                   "dashstream_exporter_process_start_time_seconds"):
        assert metric in exprs, metric
    assert step_values(by_title(d, "Event Freshness"))["red"] == 300  # seeds: stale > 5 min
    assert step_values(by_title(d, "Last Gauge Update Age"))["red"] == 300


# --- the builder -----------------------------------------------------------------------


def test_builder_lays_out_numbers_and_references_the_datasource_variable() -> None:
    b = DashboardBuilder("t-uid", "T", tags=["dashstream"], description="d",
                         probe_metric="queue_depth")
    b.add(stat("a", ["queue_depth"], w=8), gauge("b", ["queue_depth"], h=6, w=8),
          stat("c", ["queue_depth"], w=12))  # does not fit next to a and b: wraps
    b.row("R").add(table("t", [target("queue_depth", "q")]),
                   timeseries("s", ["queue_depth", "queue_depth"]))
    d = b.build()
    pos = {p["title"]: p["gridPos"] for p in d["panels"]}
    assert pos == {
        "a": {"h": 4, "w": 8, "x": 0, "y": 0},
        "b": {"h": 6, "w": 8, "x": 8, "y": 0},
        "c": {"h": 4, "w": 12, "x": 0, "y": 6},  # below the taller of a and b
        "R": {"h": 1, "w": 24, "x": 0, "y": 10},
        "t": {"h": 8, "w": 12, "x": 0, "y": 11},
        "s": {"h": 8, "w": 12, "x": 12, "y": 11},
    }
    assert [p["id"] for p in d["panels"]] == [1, 2, 3, 4, 5, 6]
    t = d["panels"][4]["targets"][0]
    assert (t["instant"], t["format"], t["legendFormat"]) == (True, "table", "q")
    assert [x["refId"] for x in d["panels"][5]["targets"]] == ["A", "B"]
    report = validate_dashboard(d, {"queue_depth"}, set())
    assert report.valid, report.errors
    assert report.panels == 5


def test_builder_refuses_a_panel_wider_than_the_grid() -> None:
    b = DashboardBuilder("x", "X", tags=[], description="", probe_metric="up")
    with pytest.raises(ValueError, match="24-column grid"):
        b.add(stat("too wide", ["up"], w=25))


# --- replicas: a panel shows the pipeline, not one replica's share -------------------

#: Panels that are about each replica on purpose (one line per replica), and why.
PER_REPLICA_PANELS = {
    # A restart of any replica is worth seeing as its own line.
    ("dashstream-exporter", "Process Uptime"),
}


def _unaggregated_selectors(expr: str) -> list[str]:
    """Selectors of ``expr`` with no aggregation (sum, max, avg, ...) above them."""
    bare: list[str] = []
    stack: list[tuple[Any, bool]] = [(parse_expr(substitute_template_variables(expr)), False)]
    while stack:
        node, aggregated = stack.pop()
        if isinstance(node, promql_parser.VectorSelector) and not aggregated:
            bare.append(node.name or str(node))
        inside = aggregated or isinstance(node, promql_parser.AggregateExpr)
        stack.extend((child, inside) for child in _children(node))
    return bare


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_query_aggregates_over_replicas(name: str) -> None:
    """Exporter replicas and the websocket-server's counting share split the partitions
    (one replica may own none), so a bare series shows one replica's share, or its
    initial 0: every series is aggregated, except in the declared per-replica panels."""
    dashboard = committed()[name]
    bare = [(p["title"], s) for p, _ in iter_panels(dashboard)
            if (dashboard["uid"], p["title"]) not in PER_REPLICA_PANELS
            for t in p.get("targets", []) if "expr" in t
            for s in _unaggregated_selectors(t["expr"])]
    assert bare == []


def test_the_aggregation_check_sees_a_bare_series() -> None:
    assert _unaggregated_selectors('time() - x{namespace=~"$namespace"}') != []
    assert _unaggregated_selectors("sum(rate(x[$__rate_interval])) / clamp_min(y, 1)") == ["y"]
    assert _unaggregated_selectors("avg(x and on (job) (y > 0))") == []
