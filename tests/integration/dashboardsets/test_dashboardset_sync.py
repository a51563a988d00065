"""DashboardSet -> sidecar ConfigMaps and GrafanaDashboards, with the real operator process,
a real kube-apiserver and grafana-operator v5.18.0's own GrafanaDashboard CRD:
the canonical dashboards, no-op resyncs, hand edits put back."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.dashboardsets import (
    CANONICAL,
    GD,
    RESYNC,
    configmap,
    dashboard_set,
    entries,
    gd_json,
    grafana_dashboard,
    inline,
    stored_json,
    versions,
    wait_settled,
)
from support.events import wait_for_events
from support.kube import apply
from support.operator import OperatorProcess, run_operator
from support.pipelines import condition
from support.wait import wait_until

# --- the canonical dashboards ------------------------------------------------------------


def test_canonical_dashboards_become_sidecar_configmaps_and_grafana_dashboards(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    body = dashboard_set("canonical", namespace, [inline(p) for p in CANONICAL],
                         folder="DashStream")
    body["metadata"]["labels"] = {"app.kubernetes.io/instance": "argocd-app"}  # tracking label
    apply(dyn, body)
    obj = wait_settled(kube_api, namespace, "canonical", ready="True")
    assert obj["status"]["dashboardsSynced"] == f"{len(CANONICAL)}/{len(CANONICAL)}"
    for cond in ("Valid", "MetricsResolved", "Synced"):
        assert condition(obj, cond)["status"] == "True", cond  # type: ignore[index]
    for path in CANONICAL:
        source = path.read_bytes()
        uid = json.loads(source)["uid"]
        entry = entries(obj)[path.stem]
        assert entry["synced"] and entry["uid"] == uid and entry["bytes"] == len(source)
        assert entry["panels"] > 0 and not entry.get("errors")
        cm = configmap(dyn, namespace, f"canonical-{path.stem}")
        assert cm is not None
        labels = cm["metadata"]["labels"]
        assert labels["grafana_dashboard"] == "1"
        assert labels["dashstream.io/dashboardset"] == "canonical"
        assert labels["app.kubernetes.io/instance"] == "canonical"  # not copied from the CR
        assert cm["metadata"]["annotations"]["grafana_folder"] == "DashStream"
        assert list(cm["data"]) == [f"{uid}.json"]
        assert cm["data"][f"{uid}.json"].encode("utf-8") == source, "byte for byte"
        owner = cm["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == (
            "DashboardSet", "canonical", True)
        gd = grafana_dashboard(dyn, namespace, f"canonical-{path.stem}")
        assert gd is not None
        assert gd["spec"]["json"].encode("utf-8") == source
        assert gd["spec"]["folder"] == "DashStream" and gd["spec"]["instanceSelector"] == {}
        assert "grafana_dashboard" not in gd["metadata"]["labels"]
    out = subprocess.run([os.environ.get("KUBECTL", "kubectl"), "get", "dbs", "-n", namespace],
                         capture_output=True, text=True, check=True).stdout
    print(out)
    assert "canonical" in out and "3/3" in out
    wait_for_events(kube_api, namespace, "canonical", ("Normal", "Synced"))
    # Nothing of kopf's on the object: no finalizer, no spec copy in status (see handlers).
    assert not obj["metadata"].get("finalizers") and "kopf" not in obj["status"]


def test_unchanged_reapply_resyncs_and_restarts_write_nothing(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess, artifacts_dir: Path) -> None:
    body = dashboard_set("canonical", namespace, [inline(p) for p in CANONICAL],
                         folder="DashStream")
    apply(dyn, body)
    wait_settled(kube_api, namespace, "canonical", ready="True")
    operator.wait_passes(2)  # the last watch events of our own writes have passed
    before = versions(kube_api, dyn, namespace)
    apply(dyn, body)
    operator.wait_passes(3)  # three passes after the re-apply
    after = versions(kube_api, dyn, namespace)
    print(f"{len(before)} objects, resourceVersions unchanged over {3 * RESYNC:.0f}s: "
          f"{before == after}")
    assert after == before
    operator.stop()
    with run_operator([namespace], artifacts_dir / "logs", resync=RESYNC) as fresh:
        fresh.wait_passes(3)  # start-up listing and resyncs of a fresh process
        assert versions(kube_api, dyn, namespace) == before, "a restart wrote something"


def test_hand_edits_are_put_back_within_5s(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    core = client.CoreV1Api(kube_api)
    path = CANONICAL[0]
    source, uid = path.read_bytes(), json.loads(path.read_bytes())["uid"]
    apply(dyn, dashboard_set("drift", namespace, [inline(path)], folder="DashStream"))
    wait_settled(kube_api, namespace, "drift", ready="True")
    name = f"drift-{path.stem}"

    core.patch_namespaced_config_map(name, namespace, {
        "data": {f"{uid}.json": '{"uid": "hijacked"}'},
        "metadata": {"annotations": {"grafana_folder": "Elsewhere"}}})
    edited = time.monotonic()

    def put_back() -> bool:
        cm = configmap(dyn, namespace, name) or {}
        folder = cm.get("metadata", {}).get("annotations", {}).get("grafana_folder")
        return stored_json(dyn, namespace, name) == source and folder == "DashStream"

    wait_until(put_back, timeout=15, interval=0.05, what="ConfigMap put back")
    cm_latency = time.monotonic() - edited

    core.delete_namespaced_config_map(name, namespace)
    deleted = time.monotonic()
    wait_until(lambda: stored_json(dyn, namespace, name) == source, timeout=15, interval=0.05,
               what="deleted ConfigMap re-created")
    delete_latency = time.monotonic() - deleted

    res = dyn.resources.get(api_version=GD[0], kind=GD[1])
    res.patch(name=name, namespace=namespace, body={"spec": {"json": "{}"}},
              content_type="application/merge-patch+json")
    gd_edited = time.monotonic()
    wait_until(lambda: gd_json(dyn, namespace, name) == source, timeout=15, interval=0.05,
               what="GrafanaDashboard put back")
    gd_latency = time.monotonic() - gd_edited
    print(f"repair latency: ConfigMap edit {cm_latency:.2f}s, ConfigMap deletion "
          f"{delete_latency:.2f}s, GrafanaDashboard edit {gd_latency:.2f}s")
    wait_for_events(kube_api, namespace, "drift", ("Normal", "DriftRepaired"))


