"""DashboardSet: what is not synced and why (invalid, oversized, duplicate uids), sources
followed, instance selector changes, recording rules as known metrics."""

from __future__ import annotations

import base64
import gzip
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.dashboardsets import (
    CANONICAL,
    DATA,
    GD,
    GROUP,
    LIMIT,
    PLURAL,
    RESYNC,
    VERSION,
    configmap,
    dashboard_set,
    entries,
    gd_json,
    get_set,
    grafana_dashboard,
    inline,
    settled,
    sized_dashboard,
    stored_json,
    versions,
    wait_settled,
)
from support.events import event_list, wait_for_events
from support.kube import apply, get_or_none
from support.operator import OperatorProcess, run_operator
from support.pipelines import condition
from support.wait import wait_until

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
    wait_for_events(kube_api, namespace, "mixed", ("Warning", "InvalidDashboard"))

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
    wait_for_events(kube_api, namespace, "big", ("Warning", "StoredGzipped"))
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
    wait_for_events(kube_api, namespace, "noise", ("Warning", "TooLarge"))
    # Refused once, not retried: no further writes to the set and no second Event.
    version = get_set(kube_api, namespace, "noise")["metadata"]["resourceVersion"]
    operator.wait_passes(2)
    assert get_set(kube_api, namespace, "noise")["metadata"]["resourceVersion"] == version
    assert [e for e in event_list(kube_api, namespace, "noise") if e[1] == "TooLarge"] == [
        ("Warning", "TooLarge")]


def test_duplicate_uids_across_sets_the_older_set_wins(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess, artifacts_dir: Path) -> None:
    exporter, quality = (next(p for p in CANONICAL if p.stem == s)
                         for s in ("dashstream-exporter", "dashstream-quality"))
    apply(dyn, dashboard_set("first", namespace, [inline(exporter)]))
    wait_settled(kube_api, namespace, "first", ready="True")
    # creationTimestamp has one-second resolution: the second set must be younger by it.
    created = get_set(kube_api, namespace, "first")["metadata"]["creationTimestamp"]
    wait_until(lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") > created,
               timeout=5, interval=0.05, what="a later second than first's creation")
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
    with run_operator([namespace], artifacts_dir / "logs", resync=RESYNC) as fresh:
        fresh.wait_passes(2)
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
    wait_for_events(kube_api, namespace, "sel", ("Normal", "Recreated"))


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
