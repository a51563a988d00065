"""The API models: defaults resolved in code (samples in model_samples.py)."""

from __future__ import annotations

from typing import Any

import pytest

from dashstream_operator.models import (
    DEFAULT_TOPICS,
    AlertRuleSetSpec,
    DashboardSetSpec,
    DashStreamPipelineSpec,
)
from support.model_samples import (
    COMPLETE_DASHBOARDS,
    COMPLETE_PIPELINE,
    COMPLETE_RULES,
    MINIMAL_PIPELINE,
    with_spec,
)

# --- defaults are resolved in code ----------------------------------------------------


def test_minimal_pipeline_resolves_the_seed_defaults() -> None:
    spec = DashStreamPipelineSpec.from_body(MINIMAL_PIPELINE)
    topics = spec.resolved_topics()
    assert [(t.name, t.role, t.partitions, t.replication_factor) for t in topics] == [
        ("dashstream-quality", "events", 1, None),
        ("dashstream-quality-dlq", "dlq", 1, None),
    ]
    assert topics[0].config == {"retention.ms": str(7 * 24 * 3600 * 1000)}
    assert topics[1].config == {"retention.ms": str(30 * 24 * 3600 * 1000)}
    assert spec.events_topic() == "dashstream-quality"
    assert spec.dlq_topic() == "dashstream-quality-dlq"
    assert spec.resolved_deletion_policy() == "Retain"
    comps = spec.resolved_components()
    assert [c.name for c in comps] == ["websocket-server", "prometheus-exporter", "quality-monitor"]
    assert all(c.enabled and c.replicas == 1 and c.image is None for c in comps)
    sm = spec.resolved_service_monitor()
    assert (sm.enabled, sm.interval, sm.labels) == (True, "30s", {})
    assert spec.kafka.resolved_security_protocol() == "PLAINTEXT"


def test_resolved_defaults_are_copies() -> None:
    spec = DashStreamPipelineSpec.from_body(MINIMAL_PIPELINE)
    spec.resolved_topics()[0].config["retention.ms"] = "1"
    assert DEFAULT_TOPICS[0].config["retention.ms"] == "604800000"


def test_declared_topics_get_only_what_the_cr_says() -> None:
    body = with_spec(MINIMAL_PIPELINE, topics=[{"name": "ev", "role": "events"}, {"name": "x"}])
    topics = DashStreamPipelineSpec.from_body(body).resolved_topics()
    assert [(t.name, t.role, t.partitions, t.replication_factor, t.config) for t in topics] == [
        ("ev", "events", 1, None, {}),
        ("x", None, 1, None, {}),
    ]
    assert DashStreamPipelineSpec.from_body(body).dlq_topic() is None


def test_complete_pipeline_resolves_what_it_declares() -> None:
    spec = DashStreamPipelineSpec.from_body(COMPLETE_PIPELINE)
    assert spec.resolved_deletion_policy() == "Delete"
    ws, exporter, monitor = spec.resolved_components()
    assert (ws.replicas, ws.image, ws.requests, ws.limits) == (
        2,
        "images.example/dashstream:1.0",
        {"cpu": "100m", "memory": "128Mi"},
        {"cpu": 1},
    )
    assert ws.settings == {"REPLAY_BUFFER_SIZE": "1000"}
    assert not exporter.enabled and exporter.replicas == 1
    assert monitor.enabled and monitor.replicas == 0
    assert spec.resolved_service_monitor().interval == "15s"
    assert spec.resolved_topics()[0].replication_factor == 3


@pytest.mark.parametrize(
    ("kafka", "protocol"),
    [
        ({}, "PLAINTEXT"),
        ({"tls": {}}, "SSL"),
        ({"sasl": {"mechanism": "PLAIN", "usernameSecretRef": {"name": "s", "key": "u"},
                   "passwordSecretRef": {"name": "s", "key": "p"}}}, "SASL_PLAINTEXT"),
        ({"tls": {}, "sasl": {"mechanism": "PLAIN", "usernameSecretRef": {"name": "s", "key": "u"},
                              "passwordSecretRef": {"name": "s", "key": "p"}}}, "SASL_SSL"),
        ({"securityProtocol": "SSL"}, "SSL"),
    ],
)
def test_security_protocol_is_inferred(kafka: dict[str, Any], protocol: str) -> None:
    body = with_spec(MINIMAL_PIPELINE, kafka={"bootstrapServers": "k:9092", **kafka})
    assert DashStreamPipelineSpec.from_body(body).kafka.resolved_security_protocol() == protocol


def test_alert_rule_set_defaults() -> None:
    body = {"spec": {"groups": COMPLETE_RULES["spec"]["groups"]}}
    spec = AlertRuleSetSpec.from_body(body)
    targets = spec.resolved_targets("dash")
    assert (targets.config_map_name, targets.config_map_key) == ("dash-rules", "dash.rules.yaml")
    assert targets.prometheus_rule_name == "dash"
    v = spec.resolved_validation().resolved()
    assert v.components == ("websocket-server", "prometheus-exporter", "quality-monitor")
    assert (v.unknown_metrics, v.required_labels) == ("Reject", ("severity",))


def test_alert_rule_set_declared_targets() -> None:
    spec = AlertRuleSetSpec.from_body(COMPLETE_RULES)
    targets = spec.resolved_targets("dash")
    assert (targets.config_map_name, targets.config_map_key) == ("rules", "dashstream.yaml")
    assert targets.config_map_labels == {"a": "b"}
    assert (targets.prometheus_rule_name, targets.prometheus_rule_labels) == (
        "dash",
        {"release": "prom"},
    )
    v = spec.resolved_validation().resolved()
    assert v.components == ("prometheus-exporter",)
    assert (v.unknown_metrics, v.required_labels) == ("Warn", ("severity", "team"))
    only_pr = with_spec(COMPLETE_RULES, targets={"prometheusRule": {"enabled": False}})
    none = AlertRuleSetSpec.from_body(only_pr).resolved_targets("dash")
    assert none.config_map_name is None and none.prometheus_rule_name is None


def test_dashboard_set_defaults() -> None:
    spec = DashboardSetSpec.from_body({"spec": {"dashboards": [{"name": "a", "json": "{}"}]}})
    t = spec.resolved_targets()
    assert (t.sidecar, t.label_key, t.label_value, t.folder_annotation) == (
        True,
        "grafana_dashboard",
        "1",
        "grafana_folder",
    )
    assert (t.grafana_operator, t.instance_selector, t.allow_cross_namespace_import) == (
        True,
        {},
        False,
    )
    assert spec.resolved_validation().resolved().unknown_metrics == "Reject"
    assert spec.dashboards[0].source == "json"


def test_dashboard_set_declared_targets_and_sources() -> None:
    spec = DashboardSetSpec.from_body(COMPLETE_DASHBOARDS)
    assert [d.source for d in spec.dashboards] == ["json", "gzipBase64", "configMapKeyRef"]
    t = spec.resolved_targets()
    assert t.instance_selector == {"matchLabels": {"dashboards": "grafana"}}
    assert t.allow_cross_namespace_import
    off = with_spec(COMPLETE_DASHBOARDS, targets={"sidecar": {"enabled": False}})
    t = DashboardSetSpec.from_body(off).resolved_targets()
    assert not t.sidecar and not t.grafana_operator


