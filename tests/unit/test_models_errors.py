"""The API models: errors that name the field, round trips, conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashstream_operator.models import (
    AlertRuleSetSpec,
    AlertRuleSetStatus,
    DashboardSetSpec,
    DashStreamPipelineSpec,
    DashStreamPipelineStatus,
    SpecError,
    merge_condition,
)
from support.model_samples import (
    COMPLETE_DASHBOARDS,
    COMPLETE_PIPELINE,
    COMPLETE_RULES,
    MINIMAL_PIPELINE,
    spec_error,
    with_spec,
)

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
