"""Unit tests of the metrics contract (dashstream_workloads.contract)."""

from __future__ import annotations

import json
from collections import Counter as Tally
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dashstream_workloads import __version__
from dashstream_workloads.contract import (
    BUILD_INFO,
    COMPONENTS,
    CONTRACT_SCHEMA_VERSION,
    OPEN_LABELS,
    MetricSpec,
    all_metrics,
    build_registry,
    contract_as_dict,
    get_counter,
    get_gauge,
    get_histogram,
    known_series,
    metrics_for,
    render_metrics_markdown,
    series_names,
)
from dashstream_workloads.contract.__main__ import main as contract_main

REPO = Path(__file__).resolve().parents[3]

# The seeds' names (prometheus-metrics.md) that dashboards and alerts use;
# a rename must be a deliberate change to this list as well.
SEED_NAMES = {
    "prometheus-exporter": {
        "dashstream_quality_monitor_quality_score",
        "dashstream_quality_monitor_queries_total",
        "dashstream_quality_monitor_queries_passed_total",
        "dashstream_quality_monitor_queries_failed_total",
        "dashstream_query_latency_ms",
        "dashstream_quality_retry_count",
        "dashstream_quality_accuracy",
        "dashstream_quality_relevance",
        "dashstream_quality_completeness",
        "dashstream_quality_score_by_model",
        "dashstream_queries_by_model_total",
        "dashstream_latency_by_model_ms",
        "dashstream_turns_by_session",
        "dashstream_librarian_requests_total",
        "dashstream_librarian_iterations",
        "dashstream_librarian_tests_total",
        "dashstream_librarian_request_duration_seconds",
        "dashstream_exporter_process_start_time_seconds",
        "dashstream_exporter_metrics_endpoint_duration_seconds",
        "dashstream_exporter_messages_received_total",
        "dashstream_exporter_messages_failed_total",
        "dashstream_exporter_kafka_consumer_errors_total",
        "dashstream_exporter_offset_store_errors_total",
        "dashstream_exporter_last_event_timestamp_seconds",
        "dashstream_exporter_messages_wrong_scope_total",
        "dashstream_exporter_messages_missing_header_total",
        "dashstream_exporter_gauges_last_update_timestamp_seconds",
        "dashstream_exporter_kafka_consumer_lag",
    },
    "websocket-server": {
        "websocket_kafka_messages_total",
        "websocket_decode_errors_total",
        "websocket_connected_clients",
        "websocket_dropped_messages_total",
        "websocket_uptime_seconds",
        "websocket_kafka_consumer_lag",
        "websocket_kafka_lag_poll_failures_total",
        "websocket_kafka_lag_poll_duration_seconds",
        "websocket_kafka_lag_offset_age_seconds",
        "websocket_client_lag_events_total",
        "websocket_client_lag_messages_total",
        "websocket_kafka_errors_by_type_total",
        "websocket_infrastructure_errors_total",
        "websocket_old_data_decode_errors_total",
        "websocket_e2e_latency_ms",
        "websocket_dlq_sends_total",
        "websocket_dlq_send_failures_total",
        "dashstream_sequence_gaps_total",
        "dashstream_sequence_duplicates_total",
        "dashstream_sequence_reorders_total",
        "dashstream_websocket_redis_errors_total",
        "dashstream_websocket_redis_latency_ms",
        "replay_buffer_memory_hits_total",
        "replay_buffer_redis_hits_total",
        "replay_buffer_redis_misses_total",
        "replay_buffer_redis_write_dropped_total",
        "replay_buffer_redis_write_failures_total",
    },
    "quality-monitor": {
        "dashstream_messages_sent_total",
        "dashstream_send_failures_total",
        "dashstream_telemetry_dropped_total",
    },
}


def _scrape(component: str) -> list[Any]:
    registry, _ = build_registry(component)
    return list(text_string_to_metric_families(generate_latest(registry).decode()))


def test_names_are_unique() -> None:
    names = [spec.name for spec in all_metrics()]
    assert [n for n, count in Tally(names).items() if count > 1] == []
    assert names == sorted(names)


def test_every_label_is_bounded_or_documented_open() -> None:
    for spec in all_metrics():
        for label in spec.labels:
            assert label in spec.label_values or label in OPEN_LABELS, (spec.name, label)
        assert set(spec.label_values) <= set(spec.labels), spec.name


def test_counters_and_only_counters_end_in_total() -> None:
    for spec in all_metrics():
        assert (spec.type == "counter") == spec.name.endswith("_total"), spec.name


def test_buckets_are_sorted_and_only_on_histograms() -> None:
    for spec in all_metrics():
        if spec.type == "histogram":
            assert spec.buckets, spec.name
            assert list(spec.buckets) == sorted(set(spec.buckets)), spec.name
        else:
            assert spec.buckets is None, spec.name


def test_components_are_exactly_the_three() -> None:
    assert COMPONENTS == ("websocket-server", "prometheus-exporter", "quality-monitor")
    used = set().union(*(spec.components for spec in all_metrics()))
    assert used == set(COMPONENTS)


@pytest.mark.parametrize("component", sorted(SEED_NAMES))
def test_seed_names_are_in_the_contract(component: str) -> None:
    assert SEED_NAMES[component] <= set(metrics_for(component))


def test_audit_defects_are_gone() -> None:
    names = {spec.name for spec in all_metrics()}
    assert "dashstream_message_loss_rate" not in names
    assert "dashflow_build_info" not in names
    # The library DLQ metrics had no emitter in any component (decision: dropped).
    assert not [n for n in names if n.startswith("dashstream_dlq_")]
    assert BUILD_INFO in metrics_for("quality-monitor")
    quality_monitor = metrics_for("quality-monitor")
    assert all(name.startswith("dashstream_") for name in quality_monitor)
    assert metrics_for("websocket-server")["websocket_kafka_consumer_lag"].labels == ("partition",)
    assert "stage" in metrics_for("websocket-server")["websocket_e2e_latency_ms"].labels


@pytest.mark.parametrize("component", COMPONENTS)
def test_build_registry_exports_exactly_the_contract(component: str) -> None:
    families = _scrape(component)
    family_names = [family.name for family in families]
    assert [n for n, count in Tally(family_names).items() if count > 1] == []
    series = known_series(component)
    expected = {spec.client_name for spec in metrics_for(component).values()}
    # The text format exposes each "_created" series as a gauge family of its own.
    created = {name for name in family_names if name.endswith("_created") and name in series}
    assert set(family_names) - created == expected
    for family in families:
        for sample in family.samples:
            assert sample.name in series, sample.name
            spec = series[sample.name]
            for label, value in sample.labels.items():
                if label in spec.label_values:
                    assert value in spec.label_values[label], (sample.name, label, value)


@pytest.mark.parametrize("component", COMPONENTS)
def test_build_info_names_the_component(component: str) -> None:
    (family,) = [f for f in _scrape(component) if f.name == BUILD_INFO]
    (sample,) = family.samples
    assert sample.labels == {"component": component, "version": __version__}
    assert sample.value == 1


def test_bounded_labels_are_preinitialised() -> None:
    registry, _ = build_registry("websocket-server")
    text = generate_latest(registry).decode()
    assert 'websocket_decode_errors_total{error_type="decompression_failure"} 0.0' in text
    registry, _ = build_registry("websocket-server", initialise=False)
    assert "websocket_decode_errors_total{" not in generate_latest(registry).decode()


def test_registries_are_independent_and_typed_getters_work() -> None:
    _, first = build_registry("quality-monitor")
    registry, second = build_registry("quality-monitor")
    get_counter(second, "dashstream_messages_sent_total").inc(3)
    get_gauge(second, "dashstream_producer_queue_messages").set(2)
    get_histogram(second, "dashstream_producer_delivery_duration_seconds").observe(0.02)
    assert registry.get_sample_value("dashstream_messages_sent_total") == 3
    assert first["dashstream_messages_sent_total"] is not second["dashstream_messages_sent_total"]
    with pytest.raises(TypeError):
        get_counter(second, "dashstream_producer_queue_messages")
    with pytest.raises(KeyError):
        get_counter(second, "websocket_kafka_messages_total")
    with pytest.raises(ValueError, match="unknown component"):
        build_registry("grafana")


def test_metrics_for_selection() -> None:
    everything = metrics_for(None)
    assert everything == metrics_for("all") == metrics_for(COMPONENTS)
    assert len(everything) == len(all_metrics())
    assert set(metrics_for("quality-monitor")) == set(metrics_for(["quality-monitor"]))
    with pytest.raises(ValueError, match="unknown components"):
        metrics_for(["websocket"])


def test_series_names_per_type() -> None:
    spec = metrics_for(None)
    assert series_names(spec["websocket_connected_clients"]) == {"websocket_connected_clients"}
    assert series_names(spec["dashstream_sequence_gaps_total"]) == {
        "dashstream_sequence_gaps_total",
        "dashstream_sequence_gaps_created",
    }
    assert series_names(spec["websocket_e2e_latency_ms"]) == {
        "websocket_e2e_latency_ms_bucket",
        "websocket_e2e_latency_ms_sum",
        "websocket_e2e_latency_ms_count",
        "websocket_e2e_latency_ms_created",
    }
    ws = known_series("websocket-server")
    assert "websocket_e2e_latency_ms_bucket" in ws
    assert "dashstream_query_latency_ms_bucket" not in ws


def test_contract_as_dict_is_stable_json() -> None:
    data = contract_as_dict()
    assert data["schema_version"] == CONTRACT_SCHEMA_VERSION
    assert data["components"] == list(COMPONENTS)
    assert json.loads(json.dumps(data)) == data
    names = [m["name"] for m in data["metrics"]]
    assert names == sorted(names) and len(names) == len(all_metrics())
    only_qm = contract_as_dict(["quality-monitor"])
    assert {m["name"] for m in only_qm["metrics"]} == set(metrics_for("quality-monitor"))


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"name": "x", "type": "counter"}, "_total"),
        ({"name": "x_total", "type": "gauge"}, "_total"),
        ({"name": "x", "type": "summary"}, "type must be"),
        ({"name": "x", "type": "gauge", "labels": ("thread_id",)}, "no value set"),
        ({"name": "x", "type": "gauge", "labels": ("le",), "label_values": {"le": ("1",)}}, "le"),
        ({"name": "x", "type": "histogram"}, "need buckets"),
        ({"name": "x", "type": "histogram", "buckets": (2.0, 1.0)}, "increasing"),
        ({"name": "x", "type": "gauge", "buckets": (1.0,)}, "only histograms"),
        ({"name": "x", "type": "gauge", "components": frozenset({"nope"})}, "components"),
        ({"name": "bad-name", "type": "gauge"}, "valid Prometheus"),
    ],
)
def test_spec_validation_rejects(kwargs: dict[str, Any], problem: str) -> None:
    kwargs = {"help": "h", "components": frozenset({"quality-monitor"}), **kwargs}
    with pytest.raises(ValueError, match=problem):
        MetricSpec(**kwargs)


def test_docs_match_the_contract() -> None:
    committed = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert committed == render_metrics_markdown(), (
        "docs/metrics.md is stale: python -m dashstream_workloads.contract "
        "--format markdown > docs/metrics.md"
    )


def test_cli_prints_json_and_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert contract_main(["--format", "json", "--component", "websocket-server"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == contract_as_dict(["websocket-server"])
    assert contract_main(["--format", "markdown"]) == 0
    assert capsys.readouterr().out == render_metrics_markdown()
