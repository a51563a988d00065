"""DashStreamPipeline -> Deployments, Services, ConfigMaps, ServiceMonitors (real operator)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.events import wait_for_events
from support.kube import KubeObject, apply, get_custom, meta, name_of, present
from support.operator import OperatorProcess, run_operator
from support.pipelines import condition, get_pipeline, pipeline
from support.wait import wait_until

COMPONENTS = ("websocket-server", "prometheus-exporter", "quality-monitor")


@pytest.fixture
def operator(namespace: str, crds_installed: list[str], thirdparty_crds: list[str],
             artifacts_dir: Path) -> Iterator[OperatorProcess]:
    with run_operator([namespace], artifacts_dir / "logs", resync=3.0) as op:
        yield op


def _secure_pipeline(ns: str, bootstrap: str, topic: str) -> dict[str, Any]:
    obj = pipeline("secure", ns, bootstrap, [{"name": topic, "role": "events"},
                                              {"name": f"{topic}-dlq", "role": "dlq"}],
                   monitoring={"serviceMonitor": {"interval": "15s",
                                                  "labels": {"release": "kps"}}})
    obj["metadata"]["labels"] = {"app.kubernetes.io/instance": "argocd-app"}  # tracking label
    obj["spec"]["kafka"].update(
        securityProtocol="SASL_PLAINTEXT",
        sasl={"mechanism": "SCRAM-SHA-512",
              "usernameSecretRef": {"name": "kafka-creds", "key": "username"},
              "passwordSecretRef": {"name": "kafka-creds", "key": "password"}})
    return obj


def _edit_sm_interval(custom: client.CustomObjectsApi, ns: str, name: str, value: str) -> None:
    sm = get_custom(custom, "monitoring.coreos.com", "v1", ns, "servicemonitors", name)
    endpoints = sm["spec"]["endpoints"]
    endpoints[0]["interval"] = value
    custom.patch_namespaced_custom_object("monitoring.coreos.com", "v1", ns, "servicemonitors",
                                          name, {"spec": {"endpoints": endpoints}})


def _children_ready(apps: client.AppsV1Api, core: client.CoreV1Api, ns: str) -> bool:
    deps = {name_of(d) for d in apps.list_namespaced_deployment(ns).items}
    svcs = {name_of(s) for s in core.list_namespaced_service(ns).items}
    return all(f"secure-{c}" in deps and f"secure-{c}" in svcs for c in COMPONENTS)


def test_children_rendered_applied_repaired_and_collected(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_bootstrap: str,
        operator: OperatorProcess) -> None:
    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)
    custom = client.CustomObjectsApi(kube_api)
    canary = f"canary-{secrets.token_hex(12)}"
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="kafka-creds"),
        data={"username": base64.b64encode(b"dashstream").decode(),
              "password": base64.b64encode(canary.encode()).decode()}))
    # SASL against a PLAINTEXT broker fails the topic part; the workload part must not care.
    apply(dyn, _secure_pipeline(namespace, kafka_bootstrap, f"wl-{namespace}"))
    _, waited = wait_until(lambda: _children_ready(apps, core, namespace), timeout=60,
                           what="Deployments and Services")
    print(f"children applied {waited:.1f}s after the pipeline")
    owner_uid = get_pipeline(kube_api, namespace, "secure")["metadata"]["uid"]

    for comp in COMPONENTS:
        dep = apps.read_namespaced_deployment(f"secure-{comp}", namespace)
        refs = meta(dep).owner_references
        assert refs and refs[0].uid == owner_uid and refs[0].controller
        labels = meta(dep).labels
        assert labels is not None
        assert labels["app.kubernetes.io/component"] == comp
        assert labels["app.kubernetes.io/managed-by"] == "dashstream-operator"
        assert labels["app.kubernetes.io/instance"] == "secure", "tracking label copied"
        pod = present(present(dep.spec).template.spec)
        assert pod.security_context and pod.security_context.run_as_non_root
        ctr = pod.containers[0]
        sc = present(ctr.security_context)
        assert sc.allow_privilege_escalation is False
        assert sc.capabilities and sc.capabilities.drop == ["ALL"]
        assert sc.read_only_root_filesystem
        assert ctr.readiness_probe and ctr.readiness_probe.http_get
        assert ctr.readiness_probe.http_get.path == "/health"
        env = {e.name: e for e in ctr.env or []}
        source = present(env["KAFKA_SASL_PASSWORD"].value_from)
        assert source.secret_key_ref and source.secret_key_ref.name == "kafka-creds"
        assert env["KAFKA_SECURITY_PROTOCOL"].value == "SASL_PLAINTEXT"
        sm = get_custom(custom, "monitoring.coreos.com", "v1", namespace, "servicemonitors",
                        f"secure-{comp}")
        assert sm["metadata"]["labels"]["release"] == "kps"
        assert sm["spec"]["endpoints"][0]["interval"] == "15s"

    status_obj, _ = wait_until(lambda: condition(get_pipeline(kube_api, namespace, "secure"),
                                                 "WorkloadsReady"), timeout=30, what="status")
    assert status_obj["status"] == "False" and status_obj["reason"] == "ReplicasUnavailable"
    mon = condition(get_pipeline(kube_api, namespace, "secure"), "MonitoringReady")
    # No Prometheus object exists in the test cluster (or not even its CRD): said, not failed.
    assert mon and (mon["status"], mon["reason"]) == ("True", "SelectionUnknown")
    assert mon["message"].startswith("3 ServiceMonitors applied; "), mon

    # --- drift: hand edits of owned fields, and a deleted child, are put back --------
    name = "secure-websocket-server"
    edits = {
        "image": lambda: apps.patch_namespaced_deployment(name, namespace, {"spec": {"template": {
            "spec": {"containers": [{"name": "websocket-server", "image": "evil:1"}]}}}}),
        "replicas": lambda: apps.patch_namespaced_deployment(name, namespace,
                                                             {"spec": {"replicas": 7}}),
        "label": lambda: apps.patch_namespaced_deployment(name, namespace, {"metadata": {
            "labels": {"app.kubernetes.io/part-of": "other"}}}),
        "servicemonitor interval": lambda: _edit_sm_interval(custom, namespace, name, "99s"),
        "deleted service": lambda: core.delete_namespaced_service(name, namespace),
    }

    def restored() -> bool:
        dep = apps.read_namespaced_deployment(name, namespace)
        sm = get_custom(custom, "monitoring.coreos.com", "v1", namespace, "servicemonitors", name)
        core.read_namespaced_service(name, namespace)
        spec = present(dep.spec)
        return (spec.replicas == 1
                and present(spec.template.spec).containers[0].image != "evil:1"
                and (meta(dep).labels or {})["app.kubernetes.io/part-of"] == "dashstream"
                and sm["spec"]["endpoints"][0]["interval"] == "15s")

    latencies = []
    for what, edit in edits.items():
        edit()
        _, took = wait_until(restored, timeout=5, interval=0.05, what=f"{what} put back")
        latencies.append(took)
        print(f"hand edit of {what}: put back after {took:.2f}s")
    print(f"drift repair: max {max(latencies):.2f}s over {len(latencies)} edits")

    # --- the secret value never leaves the Secret ------------------------------------
    found = []
    for kind, items in (
        ("ConfigMap", core.list_namespaced_config_map(namespace).items),
        ("Deployment", apps.list_namespaced_deployment(namespace).items),
        ("Service", core.list_namespaced_service(namespace).items),
        ("Event", core.list_namespaced_event(namespace).items),
    ):
        for item in items:
            if canary in json.dumps(kube_api.sanitize_for_serialization(item)):
                found.append(f"{kind}/{name_of(item)}")
    if canary in json.dumps(get_pipeline(kube_api, namespace, "secure")):
        found.append("DashStreamPipeline/secure")
    if canary in operator.log():
        found.append("operator log")
    assert not found, f"secret value leaked into {found}"

    # --- deleting the pipeline: children garbage-collected ---------------------------
    custom.delete_namespaced_custom_object("dashstream.io", "v1alpha1", namespace,
                                           "dashstreampipelines", "secure")
    _, took = wait_until(lambda: not apps.list_namespaced_deployment(namespace).items
                         and not [s for s in core.list_namespaced_service(namespace).items
                                  if name_of(s).startswith("secure-")],
                         timeout=60, what="children garbage-collected")
    print(f"children garbage-collected {took:.1f}s after the pipeline was deleted")


def test_unchanged_pipeline_writes_nothing(kube_api: client.ApiClient, dyn: DynamicClient,
                                           namespace: str, kafka_bootstrap: str,
                                           operator: OperatorProcess) -> None:
    apps = client.AppsV1Api(kube_api)
    core = client.CoreV1Api(kube_api)
    body = pipeline("quiet", namespace, kafka_bootstrap, [{"name": f"q-{namespace}",
                                                           "role": "events"}])
    apply(dyn, body)

    def settled() -> dict[str, str | None]:
        obj = get_pipeline(kube_api, namespace, "quiet")
        topics = condition(obj, "TopicsReady")
        if not (topics and topics["status"] == "True") or len(
                apps.list_namespaced_deployment(namespace).items) < 3:
            return {}
        versions = {f"Deployment/{name_of(d)}": meta(d).resource_version
                    for d in apps.list_namespaced_deployment(namespace).items}
        versions |= {f"ConfigMap/{name_of(c)}": meta(c).resource_version
                     for c in core.list_namespaced_config_map(namespace).items}
        versions["pipeline"] = obj["metadata"]["resourceVersion"]
        return versions

    wait_until(settled, timeout=60, what="pipeline settled")
    # The deployment controller updates Deployment status while it rolls out, and the
    # pipeline's status follows what it reports: settled is when two whole resync passes
    # left every version as it was.
    seen: list[dict[str, str | None]] = []

    def unchanged_over_two_passes() -> bool:
        seen.append(settled())
        operator.wait_passes(2)
        seen.append(settled())
        return seen[-1] == seen[-2]

    wait_until(unchanged_over_two_passes, timeout=90, interval=0, what="no writes")
    before = seen[-1]
    apply(dyn, body)  # the same CR again
    operator.wait_passes(3)  # three resync passes later nothing has been written
    after = settled()
    changed = sorted(k for k in before if before[k] != after.get(k))
    print(f"objects rewritten by 3 no-op resyncs and a re-apply: {changed or 'none'}")
    assert not changed


def test_disabled_component_children_are_deleted(kube_api: client.ApiClient,
                                                 dyn: DynamicClient, namespace: str,
                                                 kafka_bootstrap: str,
                                                 operator: OperatorProcess) -> None:
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    body = pipeline("trim", namespace, kafka_bootstrap, [{"name": f"trim-{namespace}",
                                                          "role": "events"}])
    apply(dyn, body)
    wait_until(lambda: len(apps.list_namespaced_deployment(namespace).items) == 3, timeout=60,
               what="3 Deployments")
    # generation moves only when a spec is written (status updates by the deployment
    # controller do not move it).
    keep = {name_of(d): meta(d).generation
            for d in apps.list_namespaced_deployment(namespace).items
            if not name_of(d).endswith("quality-monitor")}
    body["spec"]["components"] = {"qualityMonitor": {"enabled": False}}
    apply(dyn, body)

    def children() -> list[KubeObject]:
        return [*apps.list_namespaced_deployment(namespace).items,
                *core.list_namespaced_service(namespace).items,
                *core.list_namespaced_config_map(namespace).items]

    _, took = wait_until(
        lambda: not [o for o in children() if name_of(o) == "trim-quality-monitor"],
        timeout=30, what="quality-monitor children deleted")
    print(f"disabled component's Deployment, Service and ConfigMap deleted after {took:.2f}s")
    after = {name_of(d): meta(d).generation
             for d in apps.list_namespaced_deployment(namespace).items}
    assert after == keep, "the other components' Deployments were rewritten"
    wait_until(lambda: get_pipeline(kube_api, namespace, "trim")["status"].get(
        "componentsReady", "").endswith("/2"), timeout=30, what="status counts 2 components")


def test_refused_child_is_reported_and_retried(kube_api: client.ApiClient, dyn: DynamicClient,
                                               namespace: str, kafka_bootstrap: str,
                                               operator: OperatorProcess) -> None:
    """A quota that admits one Service: the other two are refused by the API server; the
    pipeline says so (ApplyFailed) instead of failing silently, and recovers by itself."""
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_resource_quota(namespace, client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="one-service"),
        spec=client.V1ResourceQuotaSpec(hard={"services": "1"})))
    wait_until(lambda: (present(core.read_namespaced_resource_quota(
        "one-service", namespace).status).hard or {}).get("services") == "1", timeout=30,
               what="quota computed by the controller manager")
    apply(dyn, pipeline("quota", namespace, kafka_bootstrap,
                        [{"name": f"quota-{namespace}", "role": "events"}]))
    cond, took = wait_until(lambda: (c := condition(get_pipeline(kube_api, namespace, "quota"),
                                                    "WorkloadsReady")) and
                            c["reason"] == "ApplyFailed" and c, timeout=60, what="ApplyFailed")
    print(f"ApplyFailed reported after {took:.1f}s: {cond['message'][:160]}")
    assert "exceeded quota" in cond["message"]
    wait_for_events(kube_api, namespace, "quota", ("Warning", "ApplyFailed"))
    core.delete_namespaced_resource_quota("one-service", namespace)
    _, took = wait_until(lambda: len([s for s in core.list_namespaced_service(namespace).items
                                      if name_of(s).startswith("quota-")]) == 3,
                         timeout=60, what="all Services once the quota is gone")
    print(f"all 3 Services applied {took:.1f}s after the quota was removed")
    wait_until(lambda: (condition(get_pipeline(kube_api, namespace, "quota"),
                                  "WorkloadsReady") or {}).get("reason") == "ReplicasUnavailable",
               timeout=30, what="WorkloadsReady back to the truth")
