"""The generated CRDs in a real kube-apiserver: what it accepts, what it refuses, and why.

Every rejection must name the field, so a GitOps user sees in the failed sync what to
fix. Objects are created with server-side field validation Strict (as ``kubectl``
does by default), so unknown fields are refused instead of silently pruned.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from typing import Any, cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.env import require_env
from support.kube import get_custom, present
from support.model_samples import COMPLETE_KAFKA
from support.wait import wait_until

GROUP, VERSION = "dashstream.io", "v1alpha1"
PLURALS = {
    "DashStreamPipeline": "dashstreampipelines",
    "AlertRuleSet": "alertrulesets",
    "DashboardSet": "dashboardsets",
}

MINIMAL: dict[str, Any] = {"kafka": {"bootstrapServers": "kafka:9092"}}
COMPLETE: dict[str, Any] = {
    "kafka": COMPLETE_KAFKA,
    "topics": [
        {"name": "quality", "role": "events", "partitions": 3, "replicationFactor": 1,
         "config": {"retention.ms": "604800000", "cleanup.policy": "delete"}},
        {"name": "quality-dlq", "role": "dlq", "config": {"retention.ms": "2592000000"}},
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
        "qualityMonitor": {"replicas": 1},
    },
    "monitoring": {"serviceMonitor": {"enabled": True, "interval": "15s",
                                      "labels": {"release": "prometheus"}}},
}


@pytest.fixture
def objects(kube_api: client.ApiClient, crds_installed: list[str]) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube_api)


def body(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name},
            "spec": spec}


def create(api: client.CustomObjectsApi, ns: str, kind: str, spec: dict[str, Any],
           name: str = "x") -> dict[str, Any]:
    return cast(dict[str, Any], api.create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURALS[kind], body(kind, name, spec), field_validation="Strict"))


def rejection(api: client.CustomObjectsApi, ns: str, kind: str, spec: dict[str, Any]) -> str:
    """The API server's message for an object it must refuse."""
    with pytest.raises(ApiException) as info:
        create(api, ns, kind, spec)
    assert info.value.status in (400, 422), info.value.body
    message: str = json.loads(present(info.value.body, "error body"))["message"]
    return message


def pipeline(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(MINIMAL)
    spec.update(changes)
    return spec


# --- accepted -------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [MINIMAL, COMPLETE], ids=["minimal", "complete-tls-sasl"])
def test_valid_pipelines_are_accepted_and_stored_as_written(
    objects: client.CustomObjectsApi, namespace: str, spec: dict[str, Any]
) -> None:
    created = create(objects, namespace, "DashStreamPipeline", spec)
    # No schema defaults: the stored spec is exactly what was applied (Argo CD stays Synced).
    assert created["spec"] == spec


def test_status_is_structural_but_keeps_kopf_progress(
    objects: client.CustomObjectsApi, namespace: str
) -> None:
    create(objects, namespace, "DashStreamPipeline", MINIMAL, name="p")
    status = {
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled",
                        "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z",
                        "observedGeneration": 1}],
        "topics": [{"name": "dashstream-quality", "partitions": 1, "replicationFactor": 1,
                    "ready": True}],
        "topicsReady": "2/2",
        "componentsReady": "3/3",
        "kopf": {"progress": {"reconcile": {"retries": 1}}},
        "undeclared": "pruned",
    }
    got = cast(dict[str, Any], objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "dashstreampipelines", "p", {"status": status}))
    assert got["status"]["kopf"] == status["kopf"]
    assert "undeclared" not in got["status"]
    assert got["status"]["topicsReady"] == "2/2"

    kubectl = require_env("KUBECTL")
    out = subprocess.run([kubectl, "get", "dashstream", "-n", namespace], check=True,
                         capture_output=True, text=True, env=os.environ).stdout
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "READY", "REASON", "TOPICS", "COMPONENTS", "MONITORING",
                              "AGE"]
    assert row.split()[:5] == ["dashstreampipeline.dashstream.io/p", "True", "Reconciled",
                               "2/2", "3/3"]


# --- refused, naming the field --------------------------------------------------------

LONG = "a" * 250


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (pipeline(topics=[{"name": "q", "role": "events", "partitions": 0}]),
         ["spec.topics[0].partitions", "greater than or equal to 1"]),
        (pipeline(topics=[{"name": "bad name", "role": "events"}]),
         ["spec.topics[0].name", "should match '^[a-zA-Z0-9._-]+$'"]),
        (pipeline(topics=[{"name": LONG, "role": "events"}]),
         ["spec.topics[0].name", "may not be more than 249"]),
        (pipeline(topics=[{"name": "..", "role": "events"}]),
         ["spec.topics[0].name", "topic name must not be '.' or '..'"]),
        (pipeline(topics=[{"name": "__consumer_offsets", "role": "events"}]),
         ["spec.topics[0].name", "reserved for Kafka internal topics"]),
        (pipeline(topics=[{"name": "q", "role": "events"}, {"name": "q", "role": "dlq"}]),
         ["spec.topics[1]", "Duplicate value", "topic names must be unique within the pipeline"]),
        (pipeline(topics=[{"name": "a", "role": "events"}, {"name": "b", "role": "events"}]),
         ["spec.topics", "exactly one topic must have role 'events'"]),
        (pipeline(topics=[{"name": "a", "role": "dlq"}]),
         ["spec.topics", "exactly one topic must have role 'events'"]),
        (pipeline(topics=[{"name": "q", "role": "events", "partitions": "3"}]),
         ["spec.topics[0].partitions", "must be of type integer"]),
        (pipeline(topics=[{"name": "q", "role": "events", "config": {"retention.ms": 1}}]),
         ["spec.topics[0].config.retention.ms", "must be of type string"]),
        (pipeline(topicDeletionPolicy="Forget"),
         ["spec.topicDeletionPolicy", "Unsupported value"]),
        ({"kafka": {"bootstrapServers": 9092}},
         ["spec.kafka.bootstrapServers", "must be of type string"]),
        ({"topics": [{"name": "q", "role": "events"}]}, ["spec.kafka", "Required value"]),
        (pipeline(kafka={"bootstrapServers": "k:9092", "securityProtocol": "SASL_SSL"}),
         ["spec.kafka.sasl", "needs kafka.sasl"]),
        (pipeline(components={"websocketServer": {"resources": {"requests": {"cpu": "lots"}}}}),
         ["spec.components.websocketServer.resources.requests.cpu", "should match"]),
        (pipeline(monitoring={"serviceMonitor": {"interval": "soon"}}),
         ["spec.monitoring.serviceMonitor.interval", "should match"]),
    ],
    ids=["partitions-0", "bad-name", "250-chars", "dotdot", "internal", "duplicate",
         "two-events", "no-events", "partitions-string", "config-int", "policy-enum",
         "bootstrap-int", "no-kafka", "sasl-missing", "bad-quantity", "bad-interval"],
)
def test_invalid_pipelines_are_refused_naming_the_field(
    objects: client.CustomObjectsApi, namespace: str, spec: dict[str, Any],
    expected: list[str],
) -> None:
    message = rejection(objects, namespace, "DashStreamPipeline", spec)
    for text in expected:
        assert text in message, message


def test_unknown_fields_are_refused_with_strict_validation(
    objects: client.CustomObjectsApi, namespace: str
) -> None:
    spec = pipeline(topics=[{"name": "q", "role": "events", "partitons": 3}], extra=True)
    message = rejection(objects, namespace, "DashStreamPipeline", spec)
    assert 'unknown field "spec.topics[0].partitons"' in message, message
    assert 'unknown field "spec.extra"' in message, message


# --- partitions only grow -------------------------------------------------------------


def test_partitions_can_grow_but_never_shrink(
    objects: client.CustomObjectsApi, namespace: str
) -> None:
    topics = [{"name": "q", "role": "events", "partitions": 1}, {"name": "d", "role": "dlq"}]
    create(objects, namespace, "DashStreamPipeline", pipeline(topics=topics), name="p")

    def set_partitions(value: int | None) -> dict[str, Any]:
        obj = get_custom(objects, GROUP, VERSION, namespace, "dashstreampipelines", "p")
        if value is None:
            obj["spec"]["topics"][0].pop("partitions")
        else:
            obj["spec"]["topics"][0]["partitions"] = value
        return cast(dict[str, Any], objects.replace_namespaced_custom_object(
            GROUP, VERSION, namespace, "dashstreampipelines", "p", obj))

    assert set_partitions(3)["spec"]["topics"][0]["partitions"] == 3
    for lower in (2, None):  # removing the field would silently mean "back to 1"
        with pytest.raises(ApiException) as info:
            set_partitions(lower)
        assert info.value.status == 422
        message = json.loads(present(info.value.body, "error body"))["message"]
        assert "spec.topics[0].partitions" in message, message
        assert "partitions cannot be decreased" in message, message
    # The other topic gained partitions from nothing: allowed (1 is the default).
    obj = get_custom(objects, GROUP, VERSION, namespace, "dashstreampipelines", "p")
    obj["spec"]["topics"][1]["partitions"] = 2
    objects.replace_namespaced_custom_object(GROUP, VERSION, namespace,
                                             "dashstreampipelines", "p", obj)


# --- AlertRuleSet and DashboardSet ----------------------------------------------------

RULES = [{"name": "dashstream", "rules": [
    {"alert": "ServiceDown", "expr": "up == 0", "for": "5m", "keep_firing_for": "1m",
     "labels": {"severity": "critical"}, "annotations": {"summary": "{{ $labels.job }} down"}},
    {"record": "job:up:sum", "expr": "sum by (job) (up)"},
]}]


def test_alert_rule_sets(objects: client.CustomObjectsApi, namespace: str) -> None:
    spec = {"groups": RULES,
            "targets": {"configMap": {"labels": {"a": "b"}},
                        "prometheusRule": {"labels": {"release": "prometheus"}}},
            "validation": {"components": ["all"], "unknownMetrics": "Warn"}}
    assert create(objects, namespace, "AlertRuleSet", spec)["spec"] == spec
    ref = {"configMapKeyRef": {"name": "rules", "key": "dashstream.yaml"}}
    create(objects, namespace, "AlertRuleSet", {"groupsFrom": ref}, name="from-cm")

    both = rejection(objects, namespace, "AlertRuleSet", {"groups": RULES, "groupsFrom": ref})
    assert "set exactly one of spec.groups and spec.groupsFrom" in both, both
    neither = rejection(objects, namespace, "AlertRuleSet", {"targets": {}})
    assert "set exactly one of spec.groups and spec.groupsFrom" in neither, neither
    bad_rule = {"groups": [{"name": "g", "rules": [
        {"record": "r", "expr": "up", "for": "5m"}, {"alert": "A", "record": "b", "expr": "up"},
    ]}]}
    message = rejection(objects, namespace, "AlertRuleSet", bad_rule)
    assert "spec.groups[0].rules[0]" in message and "alerting rules only" in message, message
    assert "spec.groups[0].rules[1]" in message and "exactly one of alert and record" in message


def test_dashboard_sets(objects: client.CustomObjectsApi, namespace: str) -> None:
    spec = {"dashboards": [{"name": "quality", "json": "{\"uid\": \"q\"}"},
                           {"name": "infra", "configMapKeyRef": {"name": "d", "key": "i.json"}}],
            "folder": "DashStream", "datasource": "Prometheus",
            "targets": {"sidecar": {"labelValue": "1"},
                        "grafanaOperator": {"instanceSelector": {"matchLabels": {"a": "b"}}}}}
    assert create(objects, namespace, "DashboardSet", spec)["spec"] == spec
    gz = "H4sIAAAAAAAAA6uuBQBDv6ajAgAAAA=="
    two = {"dashboards": [{"name": "q", "json": "{}", "gzipBase64": gz}]}
    message = rejection(objects, namespace, "DashboardSet", two)
    assert "spec.dashboards[0]" in message, message
    assert "set exactly one of json, gzipBase64 and configMapKeyRef" in message, message


# --- kubectl explain ------------------------------------------------------------------


def test_kubectl_explain_shows_the_model_descriptions(crds_installed: list[str]) -> None:
    kubectl = require_env("KUBECTL")

    def explain() -> str:
        # The OpenAPI document is republished shortly after a CRD changes.
        out = subprocess.run([kubectl, "explain", "dsp.spec.topics"], capture_output=True,
                             text=True, env=os.environ)
        return out.stdout if "Kafka topics this pipeline owns" in out.stdout else ""

    text, _ = wait_until(explain, timeout=60, what="kubectl explain dsp.spec.topics")
    assert "Number of partitions. Can be increased, never decreased." in text
    assert "enum: events, dlq" in text
