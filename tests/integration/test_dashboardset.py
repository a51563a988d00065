"""DashboardSet -> sidecar ConfigMaps and GrafanaDashboards, with the real operator process,
a real kube-apiserver and grafana-operator v5.18.0's own GrafanaDashboard CRD (issue 7)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.kube import apply, get_or_none
from support.operator import OperatorProcess, run_operator
from support.pipelines import condition
from support.wait import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CANONICAL = sorted((REPO / "dashboards").glob("*.json"))
DATA = REPO / "tests/data/dashboards"
GROUP, VERSION, PLURAL = "dashstream.io", "v1alpha1", "dashboardsets"
GD = ("grafana.integreatly.org/v1beta1", "GrafanaDashboard")
RESYNC = 3.0
LIMIT = 900 * 1024


@pytest.fixture
def operator(namespace: str, crds_installed: list[str], thirdparty_crds: list[str],
             artifacts_dir: Path) -> Iterator[OperatorProcess]:
    with run_operator([namespace], artifacts_dir / "logs", resync=RESYNC) as op:
        yield op


def dashboard_set(name: str, ns: str, dashboards: list[dict[str, Any]],
                  **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DashboardSet",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"dashboards": dashboards, **spec}}


def inline(path: Path, name: str | None = None) -> dict[str, Any]:
    return {"name": name or path.stem, "json": path.read_text(encoding="utf-8")}


def get_set(api: client.ApiClient, ns: str, name: str) -> dict[str, Any]:
    return cast(dict[str, Any], client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, name))


def entries(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in (obj.get("status") or {}).get("dashboards") or []}


def settled(api: client.ApiClient, ns: str, name: str) -> dict[str, Any]:
    """The set once the operator reported on its current generation."""
    obj = get_set(api, ns, name)
    status = obj.get("status") or {}
    current = status.get("observedGeneration") == obj["metadata"]["generation"]
    return obj if current and condition(obj, "Ready") else {}


def wait_settled(api: client.ApiClient, ns: str, name: str, ready: str | None = None,
                 timeout: float = 60) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        obj = settled(api, ns, name)
        if obj and ready is not None and condition(obj, "Ready")["status"] != ready:  # type: ignore[index]
            return {}
        return obj

    obj, waited = wait_until(check, timeout=timeout, what=f"DashboardSet {name} settled")
    print(f"{name}: settled after {waited:.1f}s")
    return obj


def configmap(dyn: DynamicClient, ns: str, name: str) -> dict[str, Any] | None:
    found = get_or_none(dyn, "v1", "ConfigMap", name, ns)
    return cast(dict[str, Any], found.to_dict()) if found is not None else None


def stored_json(dyn: DynamicClient, ns: str, name: str) -> bytes | None:
    """What Grafana's sidecar would read: data <uid>.json, or binaryData gunzipped."""
    cm = configmap(dyn, ns, name)
    if cm is None:
        return None
    if cm.get("data"):
        return str(next(iter(cm["data"].values()))).encode("utf-8")
    return gzip.decompress(base64.b64decode(next(iter(cm["binaryData"].values()))))


def grafana_dashboard(dyn: DynamicClient, ns: str, name: str) -> dict[str, Any] | None:
    found = get_or_none(dyn, *GD, name, ns)
    return cast(dict[str, Any], found.to_dict()) if found is not None else None


def gd_json(dyn: DynamicClient, ns: str, name: str) -> bytes | None:
    obj = grafana_dashboard(dyn, ns, name)
    if obj is None:
        return None
    spec = obj["spec"]
    if "json" in spec:
        return str(spec["json"]).encode("utf-8")
    return gzip.decompress(base64.b64decode(spec["gzipJson"]))


def versions(api: client.ApiClient, dyn: DynamicClient, ns: str) -> dict[str, str]:
    """resourceVersion of the sets and of every ConfigMap and GrafanaDashboard."""
    sets = cast(dict[str, Any], client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL))["items"]
    out = {f"dbs/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in sets}
    for prefix, (api_version, kind) in (("cm", ("v1", "ConfigMap")), ("gd", GD)):
        items = dyn.resources.get(api_version=api_version, kind=kind).get(namespace=ns).items
        out |= {f"{prefix}/{i.metadata.name}": i.metadata.resourceVersion for i in items}
    return out


def events(dyn: DynamicClient, ns: str, name: str) -> list[tuple[str, str]]:
    items = dyn.resources.get(api_version="v1", kind="Event").get(namespace=ns).items
    return [(e.type, e.reason) for e in items if e.involvedObject.name == name]


def sized_dashboard(uid: str, target: int, incompressible: bool = False) -> bytes:
    """A valid dashboard of about ``target`` bytes: repeated panels, or random text."""
    doc = json.loads((DATA / "small-valid.json").read_text())
    doc["uid"] = uid
    if incompressible:
        doc["description"] = base64.b64encode(os.urandom(target * 3 // 4)).decode()
    else:
        template = doc["panels"][0]

        def panels(n: int) -> list[dict[str, Any]]:
            return [{**template, "id": i + 1, "title": f"Events {i}",
                     "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)}}
                    for i in range(n)]

        doc["panels"] = panels(100)
        per_panel = len(json.dumps(doc, indent=2)) / 100
        doc["panels"] = panels(int(target / per_panel) + 1)
    return (json.dumps(doc, indent=2) + "\n").encode()


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
    assert ("Normal", "Synced") in events(dyn, namespace, "canonical")
    # Nothing of kopf's on the object: no finalizer, no spec copy in status (see handlers).
    assert not obj["metadata"].get("finalizers") and "kopf" not in obj["status"]


def test_unchanged_reapply_resyncs_and_restarts_write_nothing(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess, artifacts_dir: Path) -> None:
    body = dashboard_set("canonical", namespace, [inline(p) for p in CANONICAL],
                         folder="DashStream")
    apply(dyn, body)
    wait_settled(kube_api, namespace, "canonical", ready="True")
    time.sleep(1.0)  # let the last watch events of our own writes arrive
    before = versions(kube_api, dyn, namespace)
    apply(dyn, body)
    time.sleep(3 * RESYNC)  # three resync passes and the re-apply's events, if any
    after = versions(kube_api, dyn, namespace)
    print(f"{len(before)} objects, resourceVersions unchanged over {3 * RESYNC:.0f}s: "
          f"{before == after}")
    assert after == before
    operator.stop()
    with run_operator([namespace], artifacts_dir / "logs", resync=RESYNC):
        time.sleep(3 * RESYNC)  # start-up listing and resyncs of a fresh process
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
    assert max(cm_latency, delete_latency, gd_latency) < 5.0
    assert ("Normal", "DriftRepaired") in events(dyn, namespace, "drift")


# --- what is not synced, and why ----------------------------------------------------------


def test_invalid_dashboards_are_reported_and_not_synced(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    dashboards = [inline(DATA / f"{n}.json") for n in
                  ("small-valid", "broken-query", "unknown-metric")]
    apply(dyn, dashboard_set("mixed", namespace, dashboards))
    obj = wait_settled(kube_api, namespace, "mixed", ready="False")
    status = entries(obj)
    assert status["small-valid"]["synced"] is True
    broken, unknown = status["broken-query"], status["unknown-metric"]
    assert broken["synced"] is False and broken["errors"], broken
    assert "target A" in broken["errors"][0]
    assert unknown["synced"] is False and not unknown.get("errors")
    assert unknown["unknownMetrics"] == ["dashstream_exporter_widgets_frobnicated_total"]
    assert obj["status"]["dashboardsSynced"] == "1/3"
    assert condition(obj, "Valid")["reason"] == "InvalidDashboard"  # type: ignore[index]
    assert condition(obj, "MetricsResolved")["reason"] == "UnknownMetrics"  # type: ignore[index]
    assert condition(obj, "Synced")["status"] == "False"  # type: ignore[index]
    print("Synced:", condition(obj, "Synced")["message"])  # type: ignore[index]
    assert stored_json(dyn, namespace, "mixed-small-valid") is not None
    assert stored_json(dyn, namespace, "mixed-broken-query") is None
    assert stored_json(dyn, namespace, "mixed-unknown-metric") is None
    assert get_or_none(dyn, *GD, "mixed-unknown-metric", namespace) is None
    assert ("Warning", "InvalidDashboard") in events(dyn, namespace, "mixed")

    # unknownMetrics: Warn syncs it anyway and keeps saying so.
    apply(dyn, dashboard_set("mixed", namespace, dashboards,
                             validation={"unknownMetrics": "Warn"}))
    obj = wait_settled(kube_api, namespace, "mixed")
    assert entries(obj)["unknown-metric"]["synced"] is True
    assert condition(obj, "MetricsResolved")["status"] == "False"  # type: ignore[index]
    assert stored_json(dyn, namespace, "mixed-unknown-metric") is not None

    # A valid dashboard broken later keeps its last synced version in place.
    last_good = (DATA / "small-valid.json").read_bytes()
    broken_later = json.loads(last_good)
    broken_later["panels"][0]["targets"][0]["expr"] = "sum(rate(x[5m]"
    dashboards[0] = {"name": "small-valid", "json": json.dumps(broken_later)}
    apply(dyn, dashboard_set("mixed", namespace, dashboards,
                             validation={"unknownMetrics": "Warn"}))
    obj = wait_settled(kube_api, namespace, "mixed")
    assert entries(obj)["small-valid"]["synced"] is False
    assert "last synced version kept" in condition(obj, "Synced")["message"]  # type: ignore[index]
    assert stored_json(dyn, namespace, "mixed-small-valid") == last_good


def test_a_2mib_dashboard_is_stored_gzipped_and_an_incompressible_one_refused(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    big = sized_dashboard("dbs-test-big", 2 * 1024 * 1024)
    packed = base64.b64encode(gzip.compress(big)).decode()
    apply(dyn, dashboard_set("big", namespace, [{"name": "big", "gzipBase64": packed}]))
    noise = sized_dashboard("dbs-test-noise", 1_300_000, incompressible=True)
    assert len(gzip.compress(noise)) > LIMIT
    apply(dyn, dashboard_set("noise", namespace, [{"name": "noise", "json": noise.decode()}]))

    assert len(big) >= 2 * 1024 * 1024
    obj = wait_settled(kube_api, namespace, "big", ready="True")
    assert entries(obj)["big"]["bytes"] == len(big)
    cm = configmap(dyn, namespace, "big-big")
    assert cm is not None and not cm.get("data")
    assert list(cm["binaryData"]) == ["dbs-test-big.json.gz"]
    assert stored_json(dyn, namespace, "big-big") == big, "byte for byte after gunzip"
    gd = grafana_dashboard(dyn, namespace, "big-big")
    assert gd is not None and "json" not in gd["spec"] and gd_json(dyn, namespace, "big-big") == big
    assert ("Warning", "StoredGzipped") in events(dyn, namespace, "big")
    assert "gzipped" in condition(obj, "Synced")["message"]  # type: ignore[index]
    print(f"2 MiB dashboard: {len(big)} bytes, stored gzipped as "
          f"{len(base64.b64decode(cm['binaryData']['dbs-test-big.json.gz']))} bytes")

    obj = wait_settled(kube_api, namespace, "noise", ready="False")
    entry = entries(obj)["noise"]
    assert entry["synced"] is False and entry["errors"][0].startswith("TooLarge")
    assert condition(obj, "Synced")["reason"] == "TooLarge"  # type: ignore[index]
    assert stored_json(dyn, namespace, "noise-noise") is None
    print(f"incompressible dashboard: {len(noise)} bytes, {len(gzip.compress(noise))} "
          f"gzipped -> {entry['errors'][0][:80]}...")
    # Refused once, not retried: no further writes to the set.
    version = get_set(kube_api, namespace, "noise")["metadata"]["resourceVersion"]
    time.sleep(2 * RESYNC)
    assert get_set(kube_api, namespace, "noise")["metadata"]["resourceVersion"] == version
    assert [e for e in events(dyn, namespace, "noise") if e[1] == "TooLarge"] == [
        ("Warning", "TooLarge")]


def test_duplicate_uids_across_sets_the_older_set_wins(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess, artifacts_dir: Path) -> None:
    exporter, quality = (next(p for p in CANONICAL if p.stem == s)
                         for s in ("dashstream-exporter", "dashstream-quality"))
    apply(dyn, dashboard_set("first", namespace, [inline(exporter)]))
    wait_settled(kube_api, namespace, "first", ready="True")
    time.sleep(1.1)  # a later creationTimestamp for the second set
    apply(dyn, dashboard_set("second", namespace, [inline(exporter), inline(quality)]))

    def lost() -> dict[str, Any]:
        obj = settled(kube_api, namespace, "second")
        entry = entries(obj).get("dashstream-exporter") if obj else None
        return obj if entry and any("UidConflict" in e for e in entry.get("errors") or []) \
            else {}

    obj, _ = wait_until(lost, timeout=60, what="UidConflict reported")
    assert entries(obj)["dashstream-exporter"]["synced"] is False
    assert entries(obj)["dashstream-quality"]["synced"] is True
    assert condition(obj, "Synced")["reason"] == "UidConflict"  # type: ignore[index]
    print("UidConflict:", entries(obj)["dashstream-exporter"]["errors"][0])
    assert stored_json(dyn, namespace, "first-dashstream-exporter") == exporter.read_bytes()
    assert stored_json(dyn, namespace, "second-dashstream-exporter") is None
    assert entries(get_set(kube_api, namespace, "first"))["dashstream-exporter"]["synced"]
    # A restarted operator knows every claim before its first reconcile: no flapping.
    before = versions(kube_api, dyn, namespace)
    operator.stop()
    with run_operator([namespace], artifacts_dir / "logs", resync=RESYNC):
        time.sleep(2 * RESYNC)
        assert versions(kube_api, dyn, namespace) == before

        # The winner goes away: the other set takes the uid over.
        client.CustomObjectsApi(kube_api).delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "first")
        gone = time.monotonic()
        wait_until(lambda: stored_json(dyn, namespace, "second-dashstream-exporter")
                   == exporter.read_bytes(), timeout=30, what="second set takes the uid over")
        print(f"uid taken over {time.monotonic() - gone:.2f}s after the older set was deleted")
        wait_settled(kube_api, namespace, "second", ready="True")


def test_a_configmap_source_is_followed(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    core = client.CoreV1Api(kube_api)
    source = (DATA / "small-valid.json").read_bytes()
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="dashboard-src"),
        binary_data={"small.json.gz": base64.b64encode(gzip.compress(source)).decode()}))
    apply(dyn, dashboard_set("from-cm", namespace, [
        {"name": "small", "configMapKeyRef": {"name": "dashboard-src", "key": "small.json.gz"}}],
        targets={"sidecar": {}}))
    wait_settled(kube_api, namespace, "from-cm", ready="True")
    assert stored_json(dyn, namespace, "from-cm-small") == source
    assert get_or_none(dyn, *GD, "from-cm-small", namespace) is None  # sidecar only

    changed = json.loads(source)
    changed["title"] = "Changed in the source ConfigMap"
    new = (json.dumps(changed, indent=2) + "\n").encode()
    core.patch_namespaced_config_map("dashboard-src", namespace, {
        "binaryData": {"small.json.gz": base64.b64encode(gzip.compress(new)).decode()}})
    _, waited = wait_until(lambda: stored_json(dyn, namespace, "from-cm-small") == new,
                           timeout=15, what="source change synced")
    print(f"source ConfigMap change synced after {waited:.2f}s")


def test_an_instance_selector_change_recreates_the_grafana_dashboard(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    """grafana-operator's CRD forbids changing instanceSelector in place (CEL)."""
    path = DATA / "small-valid.json"
    apply(dyn, dashboard_set("sel", namespace, [inline(path, "small")],
                             targets={"grafanaOperator": {}}))
    wait_settled(kube_api, namespace, "sel", ready="True")
    assert get_or_none(dyn, "v1", "ConfigMap", "sel-small", namespace) is None
    before = grafana_dashboard(dyn, namespace, "sel-small")
    selector = {"matchLabels": {"dashboards": "team-a"}}
    apply(dyn, dashboard_set("sel", namespace, [inline(path, "small")],
                             targets={"grafanaOperator": {"instanceSelector": selector}}))

    def reselected() -> dict[str, Any]:
        gd = grafana_dashboard(dyn, namespace, "sel-small") or {}
        return gd if gd and gd["spec"]["instanceSelector"] == selector else {}

    gd, _ = wait_until(reselected, timeout=30, what="GrafanaDashboard with the new selector")
    assert before is not None and gd["metadata"]["uid"] != before["metadata"]["uid"]
    wait_settled(kube_api, namespace, "sel", ready="True")
    assert ("Normal", "Recreated") in events(dyn, namespace, "sel")


def test_recording_rules_of_the_namespace_count_as_known_metrics(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    apply(dyn, dashboard_set("rec", namespace, [inline(DATA / "unknown-metric.json")]))
    obj = wait_settled(kube_api, namespace, "rec", ready="False")
    assert condition(obj, "MetricsResolved")["reason"] == "UnknownMetrics"  # type: ignore[index]
    apply(dyn, {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AlertRuleSet",
                "metadata": {"name": "recording", "namespace": namespace},
                "spec": {"groups": [{"name": "widgets", "rules": [{
                    "record": "dashstream_exporter_widgets_frobnicated_total",
                    "expr": "sum(dashstream_exporter_messages_failed_total)"}]}]}})
    added = time.monotonic()
    wait_until(lambda: stored_json(dyn, namespace, "rec-unknown-metric") is not None,
               timeout=30, what="dashboard synced once the recording rule exists")
    print(f"recording rule declared -> dashboard synced in {time.monotonic() - added:.2f}s")
    obj = wait_settled(kube_api, namespace, "rec", ready="True")
    assert condition(obj, "MetricsResolved")["status"] == "True"  # type: ignore[index]
