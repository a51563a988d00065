"""`Selected`: does any Prometheus pick up the ServiceMonitors and PrometheusRules we
generate? Judged by the operator, checked against a real prometheus-operator's own
output (the scrape jobs in the Prometheus configuration it generates, and the rule
files it mounts), with the kube-prometheus-stack ``release`` label convention."""

from __future__ import annotations

import base64
import contextlib
import gzip
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from integration.test_alertruleset import CM_ONLY, get_ars, ruleset
from support.events import wait_for_events
from support.kube import apply
from support.operator import OperatorProcess, run_operator
from support.pipelines import condition, get_pipeline, pipeline
from support.wait import wait_until

KPS = {"release": "kube-prometheus-stack"}
MON = "monitoring.coreos.com"
COMPONENTS = ("websocket-server", "prometheus-exporter", "quality-monitor")


@pytest.fixture
def operator(namespace: str, crds_installed: list[str], prometheus_operator: str,
             artifacts_dir: Path, dyn: DynamicClient) -> Iterator[OperatorProcess]:
    # A resync pass far away: whatever changes below comes from watch events.
    with run_operator([namespace], artifacts_dir / "logs", resync=600.0) as op:
        yield op
    # Gone before the next test: a Prometheus selecting only this namespace would make
    # every other namespace's monitors NotSelected while the namespace is deleted.
    res = dyn.resources.get(api_version=f"{MON}/v1", kind="Prometheus")
    with contextlib.suppress(NotFoundError):
        res.delete(namespace=namespace, name="k8s")
    wait_until(lambda: not res.get(namespace=namespace).items, timeout=30,
               what="the test's Prometheus deleted")


def _prometheus(ns: str, monitor_labels: dict[str, str]) -> dict[str, Any]:
    only_here = {"matchLabels": {"kubernetes.io/metadata.name": ns}}
    return {"apiVersion": f"{MON}/v1", "kind": "Prometheus",
            "metadata": {"name": "k8s", "namespace": ns},
            "spec": {"serviceMonitorSelector": {"matchLabels": monitor_labels},
                     "serviceMonitorNamespaceSelector": only_here,
                     "ruleSelector": {"matchLabels": KPS}, "ruleNamespaceSelector": only_here}}


def _scrape_jobs(core: client.CoreV1Api, ns: str) -> set[str] | None:
    """The scrape jobs in the configuration prometheus-operator generated for k8s."""
    try:
        secret = core.read_namespaced_secret("prometheus-k8s", ns)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    text = gzip.decompress(base64.b64decode((secret.data or {})["prometheus.yaml.gz"])).decode()
    return set(re.findall(r"job_name: (\S+)", text))


def _rule_files(core: client.CoreV1Api, ns: str) -> set[str]:
    try:
        cm = core.read_namespaced_config_map("prometheus-k8s-rulefiles-0", ns)
    except client.ApiException as exc:
        if exc.status == 404:
            return set()
        raise
    return set(cm.data or {})


def _monitoring(api: client.ApiClient, ns: str, reason: str) -> dict[str, Any] | None:
    cond = condition(get_pipeline(api, ns, "p"), "MonitoringReady")
    return cond if cond and cond["reason"] == reason else None


def test_selected_follows_labels_and_selectors_as_prometheus_operator_does(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        kafka_bootstrap: str, operator: OperatorProcess) -> None:
    core = client.CoreV1Api(kube_api)
    ns = namespace
    apply(dyn, _prometheus(ns, KPS))
    topic = f"{ns}-events"
    body = pipeline("p", ns, kafka_bootstrap, [{"name": topic, "role": "events"}],
                    monitoring={"serviceMonitor": {"labels": {"release": "prom"}}})
    apply(dyn, body)

    # 1. The wrong release label: NotSelected, naming the Prometheus and both labels.
    cond, took = wait_until(lambda: _monitoring(kube_api, ns, "NotSelected"), timeout=60,
                            what="MonitoringReady NotSelected")
    assert cond["status"] == "False"
    # (Other Prometheus objects of the cluster, if any, are named after ours.)
    assert cond["message"].startswith(
        f"ServiceMonitors {', '.join(f'p-{c}' for c in COMPONENTS)} are selected by no "
        "Prometheus: ")
    assert f"Prometheus {ns}/k8s wants release=kube-prometheus-stack; the ServiceMonitor " \
        "has release=prom" in cond["message"]
    print(f"NotSelected after {took:.1f}s: {cond['message']}")
    wait_for_events(kube_api, ns, "p", ("Warning", "NotSelected"))
    table = subprocess.run(["kubectl", "get", "dsp", "-n", ns], check=True,
                           capture_output=True, text=True).stdout
    print(table)
    assert re.search(r"^NAME .* MONITORING ", table, re.M) and " NotSelected " in table

    # prometheus-operator agrees: once it has rendered a control ServiceMonitor created
    # after ours, ours are still not in its configuration.
    apply(dyn, {"apiVersion": f"{MON}/v1", "kind": "ServiceMonitor",
                "metadata": {"name": "control", "namespace": ns, "labels": KPS},
                "spec": {"selector": {"matchLabels": {"app": "control"}},
                         "endpoints": [{"port": "metrics"}]}})
    jobs, _ = wait_until(lambda: (j := _scrape_jobs(core, ns)) and
                         f"serviceMonitor/{ns}/control/0" in j and j,
                         timeout=60, what="prometheus-operator renders the control monitor")
    assert not [j for j in jobs if j.startswith(f"serviceMonitor/{ns}/p-")], jobs

    # 2. The label fixed: Selected, and the real operator scrapes all three.
    body["spec"]["monitoring"]["serviceMonitor"]["labels"] = KPS
    apply(dyn, body)
    cond, took = wait_until(lambda: _monitoring(kube_api, ns, "Selected"), timeout=30,
                            what="MonitoringReady Selected")
    assert cond["status"] == "True"
    assert cond["message"].endswith(f"selected by Prometheus {ns}/k8s")
    ours = {f"serviceMonitor/{ns}/p-{c}/0" for c in COMPONENTS}
    _, jobs_took = wait_until(lambda: ours <= (_scrape_jobs(core, ns) or set()), timeout=60,
                              what="prometheus-operator configures our three monitors")
    print(f"Selected after {took:.1f}s; in prometheus-operator's configuration "
          f"{jobs_took:.1f}s later")

    # 3. The Prometheus's selector changes: seen through the watch, not a resync pass.
    apply(dyn, _prometheus(ns, {"release": "other"}))
    cond, took = wait_until(lambda: _monitoring(kube_api, ns, "NotSelected"), timeout=30,
                            what="NotSelected after the Prometheus selector changed")
    assert "wants release=other; the ServiceMonitor has release=kube-prometheus-stack" in \
        cond["message"]
    assert operator.metrics().get("dashstream_operator_resync_passes_total", 0.0) == 0.0
    print(f"Prometheus selector change reflected after {took:.1f}s, with no resync pass")
    wait_until(lambda: not ours & (_scrape_jobs(core, ns) or set()), timeout=60,
               what="prometheus-operator drops our monitors too")


def test_prometheusrule_selected_or_not(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        operator: OperatorProcess) -> None:
    core = client.CoreV1Api(kube_api)
    ns = namespace
    apply(dyn, _prometheus(ns, KPS))
    targets = {**CM_ONLY, "prometheusRule": {"name": "dashstream", "labels": KPS}}
    apply(dyn, ruleset("rules", ns, targets=targets))

    def selected(reason: str) -> dict[str, Any] | None:
        obj = get_ars(kube_api, ns, "rules")
        cond = next((c for c in (obj.get("status") or {}).get("conditions") or []
                     if c["type"] == "Selected"), None)
        return obj if cond and cond["reason"] == reason else None

    obj, _ = wait_until(lambda: selected("Selected"), timeout=60, what="Selected")
    assert next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")["status"] == \
        "True"
    files, took = wait_until(lambda: {f for f in _rule_files(core, ns)
                                      if f.startswith(f"{ns}-dashstream-")}, timeout=60,
                             what="prometheus-operator mounts our rules")
    print(f"rule file in prometheus-operator's ConfigMap {took:.1f}s later: {sorted(files)}")

    targets["prometheusRule"]["labels"] = {"release": "prom"}
    apply(dyn, ruleset("rules", ns, targets=targets))
    obj, _ = wait_until(lambda: selected("NotSelected"), timeout=30, what="NotSelected")
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NotSelected")
    assert ready["message"].startswith("PrometheusRule dashstream is selected by no "
                                       "Prometheus: ")
    assert f"Prometheus {ns}/k8s wants release=kube-prometheus-stack; the PrometheusRule " \
        "has release=prom" in ready["message"]
    wait_until(lambda: not {f for f in _rule_files(core, ns) if f.startswith(f"{ns}-dash")},
               timeout=60, what="prometheus-operator unmounts our rules")
