"""Properties of render_pipeline_children over generated pipelines."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashstream_operator.models import DashStreamPipelineSpec
from dashstream_operator.render import (
    PIPELINE_LABEL,
    SECRET_SETTINGS,
    SETTINGS_HASH_ANNOTATION,
    child_labels,
    pipeline_label_value,
    render_pipeline_children,
    resolve_container_env,
    restricted_violations,
)
from dashstream_workloads.settings import load, settings_for
from unit.render.strategies import CANARY, pipeline_bodies

IMAGE = "default/image:1"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _render(body: dict[str, Any], crd: bool = True) -> list[dict[str, Any]]:
    meta = body["metadata"]
    spec = DashStreamPipelineSpec.from_body(body)
    return render_pipeline_children(meta["name"], meta["namespace"], meta["uid"], spec,
                                    default_image=IMAGE, servicemonitor_crd=crd)


def _of_kind(children: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c for c in children if c["kind"] == kind]


def _hashes(children: list[dict[str, Any]]) -> dict[str, str]:
    return {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"][
        SETTINGS_HASH_ANNOTATION] for d in _of_kind(children, "Deployment")}


CHILD_KINDS = (("v1", "ConfigMap"), ("apps/v1", "Deployment"), ("v1", "Service"),
               ("monitoring.coreos.com/v1", "ServiceMonitor"))


@FAST
@given(pipeline_bodies(), st.booleans())
def test_structure_ownership_and_determinism(body: dict[str, Any], crd: bool) -> None:
    children = _render(body, crd)
    assert children == _render(copy.deepcopy(body), crd)  # pure
    json.dumps(children)  # plain data only
    name, uid = body["metadata"]["name"], body["metadata"]["uid"]
    spec = DashStreamPipelineSpec.from_body(body)
    enabled = {c.name for c in spec.resolved_components() if c.enabled}
    sm = spec.resolved_service_monitor()
    for child in children:
        meta = child["metadata"]
        assert (child["apiVersion"], child["kind"]) in CHILD_KINDS
        assert set(child) <= {"apiVersion", "kind", "metadata", "spec", "data"}  # no status
        assert set(meta) <= {"name", "namespace", "labels", "annotations", "ownerReferences"}
        assert DNS_1035.match(meta["name"]) and len(meta["name"]) <= 63
        assert all(LABEL_VALUE.match(v) and len(v) <= 63 for v in meta["labels"].values())
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "dashstream-operator"
        assert meta["labels"][PIPELINE_LABEL] == pipeline_label_value(name)
        assert meta["labels"]["app.kubernetes.io/component"] in enabled
        [owner] = meta["ownerReferences"]
        assert owner["uid"] == uid and owner["controller"] and owner["blockOwnerDeletion"]
    comps_rendered = {c["metadata"]["labels"]["app.kubernetes.io/component"] for c in children}
    assert comps_rendered == enabled
    per_kind = {k: len(_of_kind(children, k)) for _, k in CHILD_KINDS}
    n = len(enabled)
    with_sm = crd and sm.enabled
    assert per_kind == {"ConfigMap": n, "Deployment": n, "Service": n,
                        "ServiceMonitor": n if with_sm else 0}
    for svc in _of_kind(children, "Service"):
        annotated = "prometheus.io/scrape" in (svc["metadata"].get("annotations") or {})
        assert annotated == (not with_sm)


@FAST
@given(pipeline_bodies())
def test_every_pod_passes_restricted(body: dict[str, Any]) -> None:
    for deployment in _of_kind(_render(body), "Deployment"):
        assert restricted_violations(deployment) == []
        for mount in deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]:
            assert mount["name"] == "tmp" or mount["readOnly"] is True


@FAST
@given(pipeline_bodies())
def test_secrets_only_as_references(body: dict[str, Any]) -> None:
    children = _render(body)
    assert CANARY not in json.dumps(children)
    for cm in _of_kind(children, "ConfigMap"):
        assert not set(cm.get("data", {})) & SECRET_SETTINGS
    sasl = body["spec"]["kafka"].get("sasl")
    for deployment in _of_kind(children, "Deployment"):
        env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0][
            "env"]}
        for var, field in (("KAFKA_SASL_USERNAME", "usernameSecretRef"),
                           ("KAFKA_SASL_PASSWORD", "passwordSecretRef")):
            if sasl is None:
                assert var not in env
            else:
                assert env[var] == {"name": var, "valueFrom": {"secretKeyRef": sasl[field]}}
        assert all("value" not in e for e in env.values() if e["name"] in SECRET_SETTINGS)


@FAST
@given(pipeline_bodies())
def test_labels_never_copied_from_the_pipeline(body: dict[str, Any]) -> None:
    children = _render(body)
    unlabelled = copy.deepcopy(body)
    unlabelled["metadata"]["labels"] = {}
    unlabelled["metadata"]["annotations"] = {"argocd.argoproj.io/tracking-id": "x"}
    assert _render(unlabelled) == children
    for child in children:
        labels = child["metadata"]["labels"]
        ours = child_labels(body["metadata"]["name"], labels["app.kubernetes.io/component"])
        extra = set(labels) - set(ours)
        # Only ServiceMonitors carry extra labels, and only the CR's monitoring labels.
        sm_labels = (((body["spec"].get("monitoring") or {}).get("serviceMonitor") or {})
                     .get("labels") or {})
        assert extra <= (set(sm_labels) if child["kind"] == "ServiceMonitor" else set())
        for key, value in body["metadata"]["labels"].items():
            if key not in ours and key not in sm_labels:
                assert labels.get(key) != value


@FAST
@given(pipeline_bodies())
def test_rendered_env_is_what_the_servers_accept(body: dict[str, Any]) -> None:
    children = _render(body)
    spec = DashStreamPipelineSpec.from_body(body)
    configmaps = {c["metadata"]["name"]: c.get("data", {}) for c in _of_kind(children, "ConfigMap")}
    secrets: dict[str, dict[str, str]] = {}
    kafka = body["spec"]["kafka"]
    for ref in [v for k, v in (kafka.get("sasl") or {}).items() if k.endswith("Ref")]:
        secrets.setdefault(ref["name"], {})[ref["key"]] = "from-secret"
    for deployment in _of_kind(children, "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        comp = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        explicit = {e["name"] for e in container["env"]}
        assert explicit <= {s.name for s in settings_for(comp)}
        env = resolve_container_env(container, configmaps, secrets)
        user_keys = set(configmaps[deployment["metadata"]["name"]])
        try:
            values = load(comp, env)
        except ValueError as exc:
            # Only a bad value the user typed into settings may fail, never ours.
            assert str(exc).split("=", 1)[0] in user_keys, exc
            continue
        assert values["KAFKA_TOPIC"] == spec.events_topic()
        assert values["KAFKA_BROKERS"] == kafka["bootstrapServers"]
        port = container["ports"][0]
        host_var, port_var = (("WEBSOCKET_HOST", "WEBSOCKET_PORT") if comp == "websocket-server"
                              else ("METRICS_HOST", "METRICS_PORT"))
        assert values[host_var] == "0.0.0.0"
        assert values[port_var] == port["containerPort"]
        assert container["args"][0].startswith("dashstream-")


def _deep_set(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return out


BASE = {"apiVersion": "dashstream.io/v1alpha1", "kind": "DashStreamPipeline",
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {"kafka": {"bootstrapServers": "kafka:9092"},
                 "components": {"prometheusExporter": {"settings": {"LOG_LEVEL": "INFO"}}}}}
EXPORTER = ("spec", "components", "prometheusExporter")


def test_hash_ignores_everything_but_settings() -> None:
    before = _hashes(_render(BASE))
    for path, value in [
        ((*EXPORTER, "replicas"), 3),
        ((*EXPORTER, "image"), "other:2"),
        ((*EXPORTER, "resources"), {"limits": {"memory": "1Gi"}}),
        (("spec", "monitoring"), {"serviceMonitor": {"interval": "5s", "labels": {"a": "b"}}}),
        (("metadata", "labels"), {"team": "x"}),
        (("metadata", "uid"), "another-uid"),
        ((*EXPORTER, "settings", "API_TOKEN"), "ignored-secret-looking-key"),
    ]:
        assert _hashes(_render(_deep_set(BASE, path, value))) == before, path


def test_hash_changes_with_each_setting() -> None:
    before = _hashes(_render(BASE))
    exporter = "p-prometheus-exporter"
    for path, value in [
        ((*EXPORTER, "settings", "LOG_LEVEL"), "DEBUG"),
        ((*EXPORTER, "settings", "PROMETHEUS_SESSION_TIMEOUT_SECS"), "30"),
        (("spec", "kafka", "bootstrapServers"), "kafka:9093"),
        (("spec", "topics"), [{"name": "other", "role": "events"}]),
    ]:
        after = _hashes(_render(_deep_set(BASE, path, value)))
        assert after[exporter] != before[exporter], path
    # A change to one component's settings rolls only that component.
    after = _hashes(_render(_deep_set(BASE, (*EXPORTER, "settings", "LOG_LEVEL"), "DEBUG")))
    assert {k for k in after if after[k] != before[k]} == {exporter}


def test_hash_covers_secret_references_not_values() -> None:
    sasl = {"mechanism": "PLAIN", "usernameSecretRef": {"name": "s", "key": "u"},
            "passwordSecretRef": {"name": "s", "key": "p"}}
    one = _hashes(_render(_deep_set(BASE, ("spec", "kafka", "sasl"), sasl)))
    sasl2 = {**sasl, "passwordSecretRef": {"name": "s2", "key": "p"}}
    two = _hashes(_render(_deep_set(BASE, ("spec", "kafka", "sasl"), sasl2)))
    assert one != two


def test_pipeline_label_is_the_prune_key() -> None:
    children = _render(BASE)
    assert {c["metadata"]["labels"][PIPELINE_LABEL] for c in children} == {"p"}
    assert {c["metadata"]["labels"]["app.kubernetes.io/managed-by"] for c in children} == {
        "dashstream-operator"}
