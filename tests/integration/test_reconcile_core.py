"""The reconcile core against the real API server and broker: what the CR declares is
what the cluster runs — removed fields leave, foreign objects are never taken, a child
lost in a watch gap comes back, and a converged operator writes nothing."""

from __future__ import annotations

import copy
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.env import devenv, etcd_compact, etcd_delete
from support.events import event_list, wait_for_events
from support.kube import apply, get_or_none, meta
from support.operator import OperatorProcess, run_operator
from support.pipelines import condition, condition_true, get_pipeline, pipeline
from support.wait import wait_until

RESYNC = 2.0
WS_ONLY = {"prometheusExporter": {"enabled": False}, "qualityMonitor": {"enabled": False}}


@pytest.fixture
def operator(namespace: str, crds_installed: list[str], artifacts_dir: Path,
             ) -> Iterator[OperatorProcess]:
    with run_operator([namespace], artifacts_dir / "logs", resync=RESYNC) as op:
        yield op


def _ws_pipeline(name: str, namespace: str, bootstrap: str, settings: dict[str, str],
                 tolerations: list[dict[str, Any]], limits: dict[str, str]) -> dict[str, Any]:
    return pipeline(name, namespace, bootstrap, [{"name": f"{name}-{namespace}",
                                                  "role": "events"}],
                    components={**WS_ONLY, "websocketServer": {
                        "settings": settings, "resources": {"limits": limits}}},
                    scheduling={"tolerations": tolerations})


def _pod_spec(apps: client.AppsV1Api, namespace: str, name: str) -> Any:
    return apps.read_namespaced_deployment(name, namespace).spec.template.spec


def test_removed_fields_leave_the_cluster(kube_api: client.ApiClient, dyn: DynamicClient,
                                          namespace: str, kafka_bootstrap: str,
                                          operator: OperatorProcess) -> None:
    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)
    both = {"WEBSOCKET_BUFFER_SIZE": "500", "WEBSOCKET_CLIENT_QUEUE_SIZE": "200"}
    tolerations = [{"key": "dashstream.io/removed", "operator": "Exists",
                    "effect": "NoSchedule"}]
    body = _ws_pipeline("rm", namespace, kafka_bootstrap, both, tolerations,
                        {"cpu": "500m", "memory": "256Mi"})
    apply(dyn, body)
    wait_until(lambda: (core.read_namespaced_config_map("rm-websocket-server", namespace)
                        .data or {}).get("WEBSOCKET_CLIENT_QUEUE_SIZE"), timeout=60,
               what="the settings ConfigMap with both keys")
    spec, _ = wait_until(lambda: _pod_spec(apps, namespace, "rm-websocket-server"),
                         timeout=30, what="the Deployment")
    assert [t.key for t in spec.tolerations or []] == ["dashstream.io/removed"]
    assert spec.containers[0].resources.limits == {"cpu": "500m", "memory": "256Mi"}

    removed = _ws_pipeline("rm", namespace, kafka_bootstrap,
                           {"WEBSOCKET_BUFFER_SIZE": "500"}, [], {"cpu": "500m"})
    apply(dyn, removed)
    start = time.monotonic()
    wait_until(lambda: "WEBSOCKET_CLIENT_QUEUE_SIZE" not in (
        core.read_namespaced_config_map("rm-websocket-server", namespace).data or {}),
        timeout=30, what="the removed settings key gone from the ConfigMap")
    took_cm = time.monotonic() - start

    def pod_spec_updated() -> bool:
        s = _pod_spec(apps, namespace, "rm-websocket-server")
        return not s.tolerations and s.containers[0].resources.limits == {"cpu": "500m"}

    wait_until(pod_spec_updated, timeout=30, what="toleration and memory limit gone")
    took_dep = time.monotonic() - start
    print(f"settings key gone after {took_cm:.2f}s; toleration and memory limit gone "
          f"after {took_dep:.2f}s")
    data = core.read_namespaced_config_map("rm-websocket-server", namespace).data
    assert data == {"WEBSOCKET_BUFFER_SIZE": "500"}


def test_a_foreign_object_with_a_childs_name_is_never_taken(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_bootstrap: str,
        operator: OperatorProcess) -> None:
    core = client.CoreV1Api(kube_api)
    mine = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="core-b-websocket-server"),
        data={"mine": "precious"}))
    svc = core.create_namespaced_service(namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name="core-b-websocket-server"),
        spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=1234)],
                                  selector={"app": "users-own"})))
    before = {"cm": kube_api.sanitize_for_serialization(mine),
              "svc": kube_api.sanitize_for_serialization(svc)}
    apply(dyn, pipeline("core-b", namespace, kafka_bootstrap,
                        [{"name": f"core-b-{namespace}", "role": "events"}],
                        components=WS_ONLY))
    cond, took = wait_until(lambda: (c := condition(get_pipeline(
        kube_api, namespace, "core-b"), "WorkloadsReady")) and c["reason"] == "ChildConflict"
        and c, timeout=60, what="WorkloadsReady ChildConflict")
    print(f"ChildConflict after {took:.1f}s: {cond['message']}")
    assert "ConfigMap/core-b-websocket-server exists" in cond["message"]
    assert "Service/core-b-websocket-server exists" in cond["message"]
    ready = condition(get_pipeline(kube_api, namespace, "core-b"), "Ready") or {}
    assert (ready.get("status"), ready.get("reason")) == ("False", "ChildConflict")
    wait_for_events(kube_api, namespace, "core-b", ("Warning", "ChildConflict"))
    # The Deployment (no conflict) is made; the foreign objects are byte for byte theirs.
    wait_until(lambda: get_or_none(dyn, "apps/v1", "Deployment", "core-b-websocket-server",
                                   namespace), timeout=30, what="the Deployment")

    def unchanged() -> None:
        now = {"cm": kube_api.sanitize_for_serialization(
                   core.read_namespaced_config_map("core-b-websocket-server", namespace)),
               "svc": kube_api.sanitize_for_serialization(
                   core.read_namespaced_service("core-b-websocket-server", namespace))}
        assert now == before, "a foreign object was changed"

    operator.wait_passes(2)
    unchanged()
    events = event_list(kube_api, namespace, "core-b").count(("Warning", "ChildConflict"))
    assert events == 1, f"{events} ChildConflict Events for one conflict"
    client.CustomObjectsApi(kube_api).delete_namespaced_custom_object(
        "dashstream.io", "v1alpha1", namespace, "dashstreampipelines", "core-b")
    wait_until(lambda: get_or_none(dyn, "apps/v1", "Deployment", "core-b-websocket-server",
                                   namespace) is None, timeout=60,
               what="the pipeline's own Deployment garbage-collected")
    unchanged()
    print("foreign ConfigMap and Service survived the pipeline's deletion, unchanged")


def test_a_child_deleted_in_a_watch_gap_is_recreated_within_one_pass(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_bootstrap: str,
        operator: OperatorProcess) -> None:
    """The operator is frozen (SIGSTOP) while the API server is down and the child is
    deleted in etcd itself, whose history is then compacted: the restarted API server's
    caches never held the child, its watches can only resume with 410 Gone and relist, so
    no DELETED event can ever reach the operator, and only the resync pass's refresh can
    notice."""
    core = client.CoreV1Api(kube_api)
    apply(dyn, pipeline("gap", namespace, kafka_bootstrap,
                        [{"name": f"gap-{namespace}", "role": "events"}], components=WS_ONLY))
    wait_until(lambda: core.read_namespaced_service("gap-websocket-server", namespace),
               timeout=60, what="the Service")
    operator.wait_passes(1)
    operator.proc.send_signal(signal.SIGSTOP)
    try:
        devenv("stop", "kube-apiserver")
        assert etcd_delete("services/specs", namespace, "gap-websocket-server") == 1
        etcd_compact()
        devenv("start", "kube-apiserver")
        assert get_or_none(dyn, "v1", "Service", "gap-websocket-server", namespace) is None
    finally:
        operator.proc.send_signal(signal.SIGCONT)
    deleted = time.monotonic()
    at_resume = operator.passes_now()
    svc, _ = wait_until(lambda: core.read_namespaced_service("gap-websocket-server",
                                                             namespace),
                        timeout=60, what="the Service re-created")
    passes = operator.passes() - at_resume
    print(f"Service re-created {time.monotonic() - deleted:.1f}s after the operator resumed, "
          f"{passes} resync passes later (uid {meta(svc).uid})")
    assert passes <= 2, "not repaired by the first pass that started after the gap"
    assert "1 Service(s) no watch reported gone or changed were dropped" in operator.log(), \
        "the Service came back without the refresh noticing it gone"


def metadata_requests(operator: OperatorProcess) -> float:
    return operator.metrics().get("dashstream_operator_kafka_metadata_requests_total", 0.0)


def test_no_op_passes_write_nothing(kube_api: client.ApiClient, dyn: DynamicClient,
                                    namespace: str, kafka_bootstrap: str,
                                    operator: OperatorProcess) -> None:
    apply(dyn, pipeline("idle", namespace, kafka_bootstrap,
                        [{"name": f"idle-{namespace}", "role": "events"}], components=WS_ONLY))
    others = [f"idle-{i}" for i in range(3)]  # more pipelines on the same Kafka cluster
    for name in others:
        apply(dyn, pipeline(name, namespace, kafka_bootstrap,
                            [{"name": f"{name}-{namespace}", "role": "events"}],
                            components={**WS_ONLY, "websocketServer": {"enabled": False}}))
    wait_until(lambda: all(condition_true(kube_api, namespace, n, "TopicsReady")
                           for n in ["idle", *others]), timeout=60, what="TopicsReady")
    operator.wait_passes(2)  # converged: every child applied, status written

    def versions() -> dict[str, str]:
        out = {"pipeline": get_pipeline(kube_api, namespace, "idle")["metadata"][
            "resourceVersion"]}
        for kind, api_version in (("ConfigMap", "v1"), ("Service", "v1"),
                                  ("Deployment", "apps/v1")):
            obj = get_or_none(dyn, api_version, kind, "idle-websocket-server", namespace)
            out[kind] = obj.metadata.resourceVersion
        return out

    before, writes, listings = versions(), operator.writes(), metadata_requests(operator)
    start = operator.passes()
    passes = operator.wait_passes(3)
    after = versions()
    listed = metadata_requests(operator) - listings
    print(f"{passes} passes; resourceVersions {before} -> {after}; "
          f"writes {writes} -> {operator.writes()}; {listed:.0f} Kafka topic listings "
          f"for {passes - start} passes over {len(others) + 1} pipelines on one cluster")
    # One listing per pass for every pipeline on the connection (a pass may have
    # started between the two reads), not one per pipeline.
    assert listed <= passes - start + 1
    # Deployments move their status on their own (no node runs these pods); only the
    # objects the operator writes are compared, and its own write counter.
    assert {k: v for k, v in after.items() if k != "Deployment"} == \
        {k: v for k, v in before.items() if k != "Deployment"}
    assert operator.writes() == writes


def test_alertruleset_rule_removed_leaves_the_configmap(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    core = client.CoreV1Api(kube_api)
    rule = {"alert": "A", "expr": "up == 0", "labels": {"severity": "warning"},
            "annotations": {"summary": "s", "runbook_url": "https://example.org/r"}}
    body: dict[str, Any] = {
        "apiVersion": "dashstream.io/v1alpha1", "kind": "AlertRuleSet",
        "metadata": {"name": "rules", "namespace": namespace},
        "spec": {"groups": [{"name": "g", "rules": [rule, {**rule, "alert": "Removed"}]}],
                 "targets": {"configMap": {"name": "rules-cm"}}}}
    apply(dyn, body)
    wait_until(lambda: "Removed" in "".join((core.read_namespaced_config_map(
        "rules-cm", namespace).data or {}).values()), timeout=60, what="both rules synced")
    smaller = copy.deepcopy(body)
    smaller["spec"]["groups"][0]["rules"] = [rule]
    apply(dyn, smaller)
    _, took = wait_until(lambda: "Removed" not in "".join((core.read_namespaced_config_map(
        "rules-cm", namespace).data or {}).values()), timeout=30, what="the rule gone")
    print(f"removed rule gone from the ConfigMap after {took:.2f}s")


def test_alertruleset_never_takes_a_users_configmap(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    core = client.CoreV1Api(kube_api)
    users = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="users-rules"), data={"mine": "precious"}))
    body = {"apiVersion": "dashstream.io/v1alpha1", "kind": "AlertRuleSet",
            "metadata": {"name": "takes", "namespace": namespace},
            "spec": {"groups": [{"name": "g", "rules": [
                {"alert": "A", "expr": "up == 0", "labels": {"severity": "warning"}}]}],
                "targets": {"configMap": {"name": "users-rules"}}}}
    apply(dyn, body)

    def synced() -> dict[str, Any] | None:
        obj = client.CustomObjectsApi(kube_api).get_namespaced_custom_object(
            "dashstream.io", "v1alpha1", namespace, "alertrulesets", "takes")
        return condition(dict(obj), "Synced")  # type: ignore[call-overload]

    cond, _ = wait_until(lambda: (c := synced()) and c["reason"] == "ChildConflict" and c,
                         timeout=60, what="Synced ChildConflict")
    print(f"AlertRuleSet: {cond['message']}")
    client.CustomObjectsApi(kube_api).delete_namespaced_custom_object(
        "dashstream.io", "v1alpha1", namespace, "alertrulesets", "takes")
    operator.wait_passes(2)
    kept = core.read_namespaced_config_map("users-rules", namespace)
    assert kept.data == {"mine": "precious"}
    assert meta(kept).resource_version == meta(users).resource_version
    assert not meta(kept).owner_references


def test_namespace_deletion_with_a_sasl_delete_policy_pipeline_completes(
        kube_api: client.ApiClient, dyn: DynamicClient, kafka_bootstrap: str,
        crds_installed: list[str], artifacts_dir: Path) -> None:
    """The namespace takes the SASL Secret first; the finalizer then must not wait for
    credentials that will never come back."""
    core = client.CoreV1Api(kube_api)
    ns = f"t-nsdel-{int(time.time() * 1000) % 10**8}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=ns, labels={"dashstream.io/test": "true"})))
    with run_operator([ns], artifacts_dir / "logs", resync=RESYNC) as op:
        core.create_namespaced_secret(ns, client.V1Secret(
            metadata=client.V1ObjectMeta(name="kafka-user"),
            string_data={"username": "u", "password": "p"}))
        ref = {"name": "kafka-user"}
        apply(dyn, pipeline("sasl", ns, kafka_bootstrap, [{"name": f"{ns}-sasl",
                                                           "role": "events"}],
                            kafka={"bootstrapServers": kafka_bootstrap,
                                   "securityProtocol": "SASL_PLAINTEXT",
                                   "sasl": {"mechanism": "PLAIN",
                                            "usernameSecretRef": {**ref, "key": "username"},
                                            "passwordSecretRef": {**ref, "key": "password"}}},
                            topicDeletionPolicy="Delete", components={
                                **WS_ONLY, "websocketServer": {"enabled": False}}))
        wait_until(lambda: get_pipeline(kube_api, ns, "sasl")["metadata"].get("finalizers"),
                   timeout=60, what="the topic-deletion finalizer")
        wait_until(lambda: (get_pipeline(kube_api, ns, "sasl").get("status") or {}).get(
            "conditions"), timeout=60, what="a first status")
        # The broker speaks no SASL here: the admin client never gets an answer.
        op.expect_errors(r"cannot delete topics yet", r"failed temporarily",
                         r"Handler .pipeline-delete-topics. failed")
        core.delete_namespace(ns)
        start = time.monotonic()

        def gone() -> bool:
            try:
                core.read_namespace(ns)
            except client.ApiException as exc:
                return exc.status == 404
            return False

        _, took = wait_until(gone, timeout=60, interval=0.5, what="the namespace gone")
        print(f"namespace {ns} gone {took:.1f}s after its deletion "
              f"({time.monotonic() - start:.1f}s)")
        assert "the Kafka credentials are gone" in op.log()
