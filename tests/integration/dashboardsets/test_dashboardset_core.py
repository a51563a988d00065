"""DashboardSets on the shared reconcile core: a dashboard removed from the spec leaves
the cluster, a user's object with a child's name is never taken, and a paused set is
left alone until resumed."""

from __future__ import annotations

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.dashboardsets import (
    CANONICAL,
    configmap,
    dashboard_set,
    get_set,
    grafana_dashboard,
    inline,
    wait_settled,
)
from support.kube import apply, meta
from support.operator import OperatorProcess
from support.pipelines import condition
from support.wait import wait_until


def test_a_dashboard_removed_from_the_spec_leaves_the_cluster(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    first, second = CANONICAL[0], CANONICAL[1]
    apply(dyn, dashboard_set("two", namespace, [inline(first), inline(second)]))
    wait_settled(kube_api, namespace, "two", ready="True")
    gone = f"two-{second.stem}"
    assert configmap(dyn, namespace, gone) is not None
    assert grafana_dashboard(dyn, namespace, gone) is not None
    apply(dyn, dashboard_set("two", namespace, [inline(first)]))
    _, took = wait_until(lambda: configmap(dyn, namespace, gone) is None and
                         grafana_dashboard(dyn, namespace, gone) is None,
                         timeout=30, what="the removed dashboard's children gone")
    print(f"removed dashboard's ConfigMap and GrafanaDashboard gone after {took:.2f}s")
    assert configmap(dyn, namespace, f"two-{first.stem}") is not None


def test_a_users_configmap_with_a_childs_name_is_never_taken(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    core = client.CoreV1Api(kube_api)
    board = CANONICAL[0]
    users = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=f"mine-{board.stem}"), data={"mine": "precious"}))
    apply(dyn, dashboard_set("mine", namespace, [inline(board)]))

    def conflict() -> dict[str, str] | None:
        cond = condition(get_set(kube_api, namespace, "mine"), "Synced")
        return cond if cond and cond["reason"] == "ChildConflict" else None

    cond, took = wait_until(conflict, timeout=60, what="Synced ChildConflict")
    print(f"DashboardSet ChildConflict after {took:.1f}s: {cond['message']}")
    assert f"ConfigMap/mine-{board.stem} exists" in cond["message"]
    client.CustomObjectsApi(kube_api).delete_namespaced_custom_object(
        "dashstream.io", "v1alpha1", namespace, "dashboardsets", "mine")
    operator.wait_passes(2)
    kept = core.read_namespaced_config_map(f"mine-{board.stem}", namespace)
    assert kept.data == {"mine": "precious"}
    assert meta(kept).resource_version == meta(users).resource_version


def test_a_paused_set_is_left_alone_until_resumed(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    board = CANONICAL[0]
    body = dashboard_set("held", namespace, [inline(board)])
    apply(dyn, body)
    wait_settled(kube_api, namespace, "held", ready="True")
    body["metadata"]["annotations"] = {"dashstream.io/paused": "true"}
    apply(dyn, body)
    wait_until(lambda: (condition(get_set(kube_api, namespace, "held"), "ReconcilePaused")
                        or {}).get("status") == "True", timeout=30, what="ReconcilePaused")
    client.CoreV1Api(kube_api).delete_namespaced_config_map(f"held-{board.stem}", namespace)
    operator.wait_passes(2)
    assert configmap(dyn, namespace, f"held-{board.stem}") is None, "repaired while paused"
    del body["metadata"]["annotations"]
    apply(dyn, body)
    _, took = wait_until(lambda: configmap(dyn, namespace, f"held-{board.stem}"),
                         timeout=30, what="re-created once resumed")
    print(f"resumed: ConfigMap re-created after {took:.2f}s")
    wait_until(lambda: condition(get_set(kube_api, namespace, "held"),
                                 "ReconcilePaused") is None,
               timeout=30, what="ReconcilePaused dropped")
