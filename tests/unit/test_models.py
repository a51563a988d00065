"""The API models: defaults resolved in code, errors that name the field, round trips."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashstream_operator.models import (
    DEFAULT_TOPICS,
    AlertRuleSetSpec,
    AlertRuleSetStatus,
    DashboardSetSpec,
    DashStreamPipelineSpec,
    DashStreamPipelineStatus,
    SpecError,
    merge_condition,
)

MINIMAL_PIPELINE: dict[str, Any] = {"spec": {"kafka": {"bootstrapServers": "kafka:9092"}}}

COMPLETE_PIPELINE: dict[str, Any] = {
    "spec": {
        "kafka": {
            "bootstrapServers": "kafka-0.kafka:9093,kafka-1.kafka:9093",
            "securityProtocol": "SASL_SSL",
            "sasl": {
                "mechanism": "SCRAM-SHA-512",
                "usernameSecretRef": {"name": "kafka-user", "key": "username"},
                "passwordSecretRef": {"name": "kafka-user", "key": "password"},
            },
            "tls": {
                "caSecretRef": {"name": "kafka-ca", "key": "ca.crt"},
                "certSecretRef": {"name": "kafka-client", "key": "tls.crt"},
                "keySecretRef": {"name": "kafka-client", "key": "tls.key"},
            },
        },
        "topics": [
            {
                "name": "quality",
                "role": "events",
                "partitions": 3,
                "replicationFactor": 3,
                "config": {"retention.ms": "604800000", "cleanup.policy": "delete"},
            },
            {"name": "quality-dlq", "role": "dlq"},
            {"name": "quality.archive"},
        ],
        "topicDeletionPolicy": "Delete",
        "components": {
            "websocketServer": {
                "replicas": 2,
                "image": "images.example/dashstream:1.0",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": 1}},
                "settings": {"REPLAY_BUFFER_SIZE": "1000"},
            },
            "prometheusExporter": {"enabled": False},
            "qualityMonitor": {"replicas": 0},
        },
        "monitoring": {
            "serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prom"}}
        },
    }
}

COMPLETE_RULES: dict[str, Any] = {
    "spec": {
        "groups": [
            {
                "name": "dashstream",
                "interval": "1m",
                "limit": 10,
                "rules": [
                    {
                        "alert": "ServiceDown",
                        "expr": "up == 0",
                        "for": "5m",
                        "keep_firing_for": "1m",
                        "labels": {"severity": "critical"},
                        "annotations": {"summary": "{{ $labels.job }} is down"},
                    },
                    {"record": "job:up:sum", "expr": "sum by (job) (up)"},
                ],
            }
        ],
        "targets": {
            "configMap": {"name": "rules", "key": "dashstream.yaml", "labels": {"a": "b"}},
            "prometheusRule": {"enabled": True, "labels": {"release": "prom"}},
        },
        "validation": {
            "components": ["prometheus-exporter"],
            "unknownMetrics": "Warn",
            "requiredLabels": ["severity", "team"],
        },
    }
}

COMPLETE_DASHBOARDS: dict[str, Any] = {
    "spec": {
        "dashboards": [
            {"name": "quality", "json": '{"uid": "q", "title": "Quality", "panels": []}'},
            {"name": "infra", "gzipBase64": "H4sIAAAAAAAAA6uuBQBDv6ajAgAAAA=="},
            {"name": "exporter", "configMapKeyRef": {"name": "dash", "key": "exporter.json"}},
        ],
        "folder": "DashStream",
        "datasource": "Prometheus",
        "targets": {
            "sidecar": {"labelKey": "grafana_dashboard", "labelValue": "1"},
            "grafanaOperator": {
                "instanceSelector": {"matchLabels": {"dashboards": "grafana"}},
                "allowCrossNamespaceImport": True,
            },
        },
        "validation": {"components": ["all"], "unknownMetrics": "Reject"},
    }
}


def with_spec(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    body["spec"].update(changes)
    return body


def spec_error(parse: Any, body: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse(body)
    return info.value


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


# --- errors name the field ------------------------------------------------------------


@pytest.mark.parametrize(
    ("topics", "field", "text"),
    [
        ([{"name": "a", "role": "events", "partitions": 0}], "spec.topics[0].partitions",
         "greater than or equal to 1"),
        ([{"name": "a b", "role": "events"}], "spec.topics[0].name", "pattern"),
        ([{"name": "a" * 250, "role": "events"}], "spec.topics[0].name", "249"),
        ([{"name": "..", "role": "events"}], "spec.topics[0].name", "'..'"),
        ([{"name": "__consumer_offsets", "role": "events"}], "spec.topics[0].name", "reserved"),
        ([{"name": "a", "role": "events"}, {"name": "a"}], "spec.topics", "unique"),
        ([{"name": "a", "role": "events"}, {"name": "b", "role": "events"}], "spec.topics",
         "exactly one topic must have role 'events'"),
        ([{"name": "a"}], "spec.topics", "exactly one topic must have role 'events'"),
        ([{"name": "a", "role": "events"}, {"name": "b", "role": "dlq"},
          {"name": "c", "role": "dlq"}], "spec.topics", "at most one"),
        ([{"name": "a", "role": "events", "partitions": "3"}], "spec.topics[0].partitions",
         "integer"),
        ([{"name": "a", "role": "events", "config": {"retention.ms": 5}}],
         "spec.topics[0].config.retention.ms", "string"),
        ([{"name": "a", "role": "events", "bogus": 1}], "spec.topics[0].bogus", "not permitted"),
        ([{"name": "a", "role": "archive"}], "spec.topics[0].role", "events"),
        ([], "spec.topics", "at least 1"),
    ],
)
def test_invalid_topics_name_the_field(topics: Any, field: str, text: str) -> None:
    err = spec_error(DashStreamPipelineSpec.from_body, with_spec(MINIMAL_PIPELINE, topics=topics))
    assert field in err.fields, str(err)
    assert text in str(err)
    assert isinstance(err, ValueError)


@pytest.mark.parametrize(
    ("kafka", "field", "text"),
    [
        ({}, "spec.kafka.bootstrapServers", "required"),
        ({"bootstrapServers": "no-port"}, "spec.kafka.bootstrapServers", "pattern"),
        ({"bootstrapServers": "k:1", "securityProtocol": "SASL_SSL"}, "spec.kafka", "kafka.sasl"),
        ({"bootstrapServers": "k:1", "securityProtocol": "TLS"}, "spec.kafka.securityProtocol",
         "PLAINTEXT"),
        ({"bootstrapServers": "k:1", "tls": {"certSecretRef": {"name": "a", "key": "b"}}},
         "spec.kafka.tls", "keySecretRef"),
        ({"bootstrapServers": "k:1", "securityProtocol": "PLAINTEXT", "tls": {}}, "spec.kafka",
         "kafka.tls"),
    ],
)
def test_invalid_kafka_names_the_field(kafka: Any, field: str, text: str) -> None:
    err = spec_error(DashStreamPipelineSpec.from_body, with_spec(MINIMAL_PIPELINE, kafka=kafka))
    assert field in err.fields, str(err)
    assert text in str(err)


def test_missing_spec_and_every_error_is_listed() -> None:
    assert spec_error(DashStreamPipelineSpec.from_body, {}).fields == ["spec"]
    body = with_spec(
        MINIMAL_PIPELINE,
        topics=[{"name": "a", "role": "events", "partitions": 0}],
        components={"websocketServer": {"replicas": -1, "resources": {"requests": {"cpu": "x"}}}},
    )
    err = spec_error(DashStreamPipelineSpec.from_body, body)
    assert set(err.fields) == {
        "spec.topics[0].partitions",
        "spec.components.websocketServer.replicas",
        "spec.components.websocketServer.resources.requests.cpu",
    }
    assert "quantity" in str(err)


@pytest.mark.parametrize(
    ("spec", "field", "text"),
    [
        ({"groups": [], "groupsFrom": {"configMapKeyRef": {"name": "a", "key": "b"}}}, "spec",
         "exactly one of spec.groups and spec.groupsFrom"),
        ({}, "spec", "exactly one of spec.groups and spec.groupsFrom"),
        ({"groups": [{"name": "g", "rules": [{"alert": "A", "record": "b", "expr": "up"}]}]},
         "spec.groups[0].rules[0]", "exactly one of alert and record"),
        ({"groups": [{"name": "g", "rules": [{"record": "b", "expr": "up", "for": "5m"}]}]},
         "spec.groups[0].rules[0]", "alerting rules only"),
        ({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up", "for": "5x"}]}]},
         "spec.groups[0].rules[0].for", "pattern"),
        ({"groups": [{"name": "g", "rules": [{"alert": "A"}]}]}, "spec.groups[0].rules[0].expr",
         "required"),
        ({"groups": [{"name": "g", "rules": []}]}, "spec.groups[0].rules", "at least 1"),
        ({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up"}]}],
          "validation": {"components": ["grafana"]}}, "spec.validation.components[0]",
         "websocket-server"),
    ],
)
def test_invalid_alert_rule_sets_name_the_field(spec: Any, field: str, text: str) -> None:
    err = spec_error(AlertRuleSetSpec.from_body, {"spec": spec})
    assert field in err.fields, str(err)
    assert text in str(err)


@pytest.mark.parametrize(
    ("dashboards", "field", "text"),
    [
        ([{"name": "a", "json": "{}", "gzipBase64": "H4sI"}], "spec.dashboards[0]",
         "exactly one of json, gzipBase64 and configMapKeyRef"),
        ([{"name": "a"}], "spec.dashboards[0]", "exactly one of"),
        ([{"name": "Bad_Name", "json": "{}"}], "spec.dashboards[0].name", "pattern"),
        ([], "spec.dashboards", "at least 1"),
    ],
)
def test_invalid_dashboard_sets_name_the_field(dashboards: Any, field: str, text: str) -> None:
    err = spec_error(DashboardSetSpec.from_body, {"spec": {"dashboards": dashboards}})
    assert field in err.fields, str(err)
    assert text in str(err)


# --- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (DashStreamPipelineSpec, MINIMAL_PIPELINE),
        (DashStreamPipelineSpec, COMPLETE_PIPELINE),
        (AlertRuleSetSpec, COMPLETE_RULES),
        (DashboardSetSpec, COMPLETE_DASHBOARDS),
    ],
)
def test_spec_round_trips_to_the_same_body(model: Any, body: dict[str, Any]) -> None:
    # Nothing is added on the way back (no defaults written into objects) and the
    # rule-file keys keep their Prometheus spelling ("for", "keep_firing_for").
    assert model.from_body(body).to_wire() == body["spec"]


def test_status_round_trip_and_lenient_read() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    status = DashStreamPipelineStatus(
        observed_generation=2,
        conditions=merge_condition([], "Ready", "True", "TopicsReady", "", 2, now),
        topics_ready="2/2",
    )
    wire = status.to_wire()
    assert wire["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert wire["topicsReady"] == "2/2"
    body = {"status": {**wire, "kopf": {"progress": {}}, "fromANewerOperator": 1}}
    again = DashStreamPipelineStatus.from_body(body)
    assert again.condition("Ready") == status.condition("Ready")
    assert again.kopf == {"progress": {}}
    assert DashStreamPipelineStatus.from_body({}).conditions is None
    assert AlertRuleSetStatus.from_body({"status": {"rulesValid": "3/4"}}).rules_valid == "3/4"


def test_condition_reason_must_be_camel_case() -> None:
    with pytest.raises(SpecError) as info:
        DashStreamPipelineStatus.from_body(
            {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "not ok",
                                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
        )
    assert "status.conditions[0].reason" in info.value.fields


def test_merge_condition_moves_transition_time_only_on_status_change() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    t1 = t0 + timedelta(minutes=5)
    conds = merge_condition([], "TopicsReady", "False", "KafkaUnavailable", "down", 1, t0)
    conds = merge_condition(conds, "Ready", "False", "KafkaUnavailable", "down", 1, t0)
    same = merge_condition(conds, "TopicsReady", "False", "KafkaUnavailable", "still", 2, t1)
    assert same[0].last_transition_time == t0
    assert (same[0].message, same[0].observed_generation) == ("still", 2)
    flipped = merge_condition(same, "TopicsReady", "True", "TopicsReady", "", 2, t1)
    assert flipped[0].last_transition_time == t1
    assert flipped[1] == conds[1]  # other conditions untouched
    # An unchanged observation yields an identical list, so no status write is needed.
    unchanged = merge_condition(conds, "TopicsReady", "False", "KafkaUnavailable", "down", 1, t1)
    assert unchanged == conds
