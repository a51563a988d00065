"""A Prometheus run by the real prometheus-operator in a test namespace, configured as
kube-prometheus-stack configures its own: it selects ServiceMonitors and PrometheusRules
by the Helm release's ``release`` label, and sends its alerts to an Alertmanager."""

from __future__ import annotations

import base64
import contextlib
import urllib.request
from typing import Any

import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from support.env import require_env
from support.kube import apply, present
from support.wait import wait_until

RELEASE_LABEL = {"release": "kube-prometheus-stack"}
FIX = "run `make env-up ENV_PARTS=prometheus-operator` (the test targets do)"


def objects(ns: str, alertmanager: str, scrape_interval: str, tolerations: list[dict[str, str]],
            ) -> list[dict[str, Any]]:
    """The ServiceAccount and RBAC its service discovery needs, the Alertmanager address
    (``host:port``) as an additional alerting config, and the Prometheus itself."""
    discovery = [{"apiGroups": [""], "resources": ["services", "endpoints", "pods"],
                  "verbs": ["get", "list", "watch"]},
                 {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                  "verbs": ["get", "list", "watch"]}]
    meta = {"name": "prometheus", "namespace": ns}
    am = yaml.safe_dump([{"static_configs": [{"targets": [alertmanager]}]}])
    selector = {"matchLabels": RELEASE_LABEL}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
         "rules": discovery},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "prometheus"},
         "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": ns}]},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "alertmanagers",
                                                             "namespace": ns},
         "data": {"alertmanagers.yaml": base64.b64encode(am.encode()).decode()}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
         "metadata": {"name": "k8s", "namespace": ns},
         "spec": {"image": require_env("DASHSTREAM_PROMETHEUS_IMAGE", FIX),
                  "version": require_env("DASHSTREAM_PROMETHEUS_VERSION", FIX),
                  "serviceAccountName": "prometheus", "tolerations": tolerations,
                  # kube-prometheus-stack's pod security context: what the "restricted"
                  # Pod Security level of the test namespaces requires.
                  "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                      "runAsGroup": 65534, "fsGroup": 65534,
                                      "seccompProfile": {"type": "RuntimeDefault"}},
                  "serviceMonitorSelector": selector, "ruleSelector": selector,
                  "scrapeInterval": scrape_interval, "evaluationInterval": scrape_interval,
                  "additionalAlertManagerConfigs": {"name": "alertmanagers",
                                                    "key": "alertmanagers.yaml"}}},
    ]


def create(dyn: DynamicClient, ns: str, alertmanager: str, scrape_interval: str,
           tolerations: list[dict[str, str]]) -> None:
    """Apply it (prometheus-operator starts its pod; ``ready`` waits for it)."""
    require_env("DASHSTREAM_PROMETHEUS_OPERATOR_URL", FIX)
    for obj in objects(ns, alertmanager, scrape_interval, tolerations):
        apply(dyn, obj)


def ready(api: client.ApiClient, ns: str) -> str:
    """Wait until its pod answers; returns its URL (the pod's address, which this host
    reaches on the node's bridge)."""
    core = client.CoreV1Api(api)

    def answering() -> str | None:
        try:
            pod = core.read_namespaced_pod("prometheus-k8s-0", ns)
        except client.ApiException:
            return None
        ip = present(pod.status).pod_ip
        if not ip:
            return None
        try:
            with urllib.request.urlopen(f"http://{ip}:9090/-/ready", timeout=2) as r:
                return f"http://{ip}:9090" if r.status == 200 else None
        except OSError:
            return None

    try:
        url, took = wait_until(answering, timeout=120, what="the Prometheus pod answers")
    except Exception:
        for previous in (True, False):  # why it does not answer, before the namespace goes
            with contextlib.suppress(client.ApiException):
                print(f"--- prometheus container log (previous={previous}):\n" +
                      core.read_namespaced_pod_log("prometheus-k8s-0", ns, container="prometheus",
                                                   previous=previous, tail_lines=30))
        raise
    print(f"Prometheus k8s (prometheus-operator's StatefulSet) ready at {url} after "
          f"{took:.1f}s")
    return url


def delete(dyn: DynamicClient, api: client.ApiClient, ns: str) -> None:
    res = dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="Prometheus")
    with contextlib.suppress(NotFoundError):
        res.delete(name="k8s", namespace=ns)
    core = client.CoreV1Api(api)
    wait_until(lambda: not core.list_namespaced_pod(
        ns, label_selector="app.kubernetes.io/name=prometheus").items, timeout=120,
        what="the Prometheus pod gone")
