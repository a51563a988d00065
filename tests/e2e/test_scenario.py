"""The scenario a user would recognise, end to end on real parts.

helm install (with the canonical AlertRuleSet and DashboardSet) -> apply the example
DashStreamPipeline -> topics in Kafka, Deployments/Services/ServiceMonitors, rule and
dashboard ConfigMaps -> the operator and the three servers run as local processes
with the args, env and ports taken from the rendered Deployments (test_in_cluster.py
runs them as pods instead) ->
a real Prometheus scrapes them where the ServiceMonitors say and loads the synced rule
file -> an injected sequence gap raises dashstream_sequence_gaps_total and makes the
SequenceGapsDetected expression return a series -> the viewer shows live events ->
deleting the CRs removes the children and keeps the Retain topics.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from dashstream_operator.render import resolve_container_env
from integration.workloads.servers import free_port
from support.env import REPO
from support.kube import apply, list_custom, meta, name_of, present
from support.pipelines import broker_topic, condition_true
from support.scenario import (
    injected_gap_fires_alert,
    process,
    rule_file_from_configmap,
    run,
    start_prometheus,
    viewer_shows_live_events,
)
from support.scenario import set_ready as synced
from support.wait import wait_until

RELEASE = "dso"


def container_of(apps: client.AppsV1Api, ns: str, name: str) -> tuple[dict[str, Any], Any]:
    dep = apps.read_namespaced_deployment(name, ns)
    raw = apps.api_client.sanitize_for_serialization(dep)
    return raw["spec"]["template"]["spec"]["containers"][0], dep


def start_from_deployment(stack: ExitStack, apps: client.AppsV1Api, core: client.CoreV1Api,
                          ns: str, name: str, logs: Path, extra_args: tuple[str, ...] = (),
                          ) -> dict[str, Any]:
    """Run what the Deployment would run: its args, its resolved env, its ports."""
    ctr, _ = container_of(apps, ns, name)
    configmaps = {name_of(c): c.data or {} for c in core.list_namespaced_config_map(ns).items}
    env = {**os.environ, **resolve_container_env(ctr, configmaps, {})}
    cmd = [*(ctr.get("command") or []), *(ctr.get("args") or []), *extra_args]
    exe = shutil.which(cmd[0]) or cmd[0]
    stack.enter_context(process([exe, *cmd[1:]], env, logs / f"{name}.log"))
    return ctr


def scrape_jobs(custom: client.CustomObjectsApi, core: client.CoreV1Api, ns: str,
                ports: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Scrape jobs exactly as the ServiceMonitors describe them (job = Service name, as
    prometheus-operator names it), pointed at the local processes' ports."""
    jobs = []
    for sm in list_custom(custom, "monitoring.coreos.com", "v1", ns, "servicemonitors"):
        selector = sm["spec"]["selector"]["matchLabels"]
        sel = ",".join(f"{k}={v}" for k, v in selector.items())
        for svc in core.list_namespaced_service(ns, label_selector=sel).items:
            for ep in sm["spec"]["endpoints"]:
                port = ports[name_of(svc)][ep["port"]]
                jobs.append({"job_name": name_of(svc),
                             "scrape_interval": ep.get("interval", "30s"),
                             "metrics_path": ep.get("path", "/metrics"),
                             "static_configs": [{"targets": [f"127.0.0.1:{port}"],
                                                 "labels": {"namespace": ns}}]})
    return jobs


def test_user_scenario(kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
                       kafka_admin: Any, kafka_bootstrap: str, crds_installed: list[str],
                       thirdparty_crds: list[str], artifacts_dir: Path) -> None:
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    custom = client.CustomObjectsApi(kube_api)
    logs = artifacts_dir / "e2e"
    logs.mkdir(parents=True, exist_ok=True)
    helm = os.environ.get("HELM", "helm")
    run(helm, "install", RELEASE, str(REPO / "charts/dashstream-operator"), "-n", namespace,
        "--skip-crds", "--set", f"watchNamespaces={{{namespace}}}",
        "--set", "defaultAlertRules.enabled=true", "--set", "defaultDashboards.enabled=true")
    with ExitStack() as stack:
        # --- the operator, with the args of the Deployment helm rendered ---------------
        op_dep = next(d for d in apps.list_namespaced_deployment(namespace).items
                      if present(meta(d).labels).get("app.kubernetes.io/name")
                      == "dashstream-operator")
        ctr = apps.api_client.sanitize_for_serialization(op_dep)["spec"]["template"]["spec"][
            "containers"][0]
        op_port = free_port()
        args = [a if not a.startswith("--liveness=") else
                f"--liveness=http://127.0.0.1:{op_port}/healthz" for a in ctr["args"]]
        env = {**os.environ, **{e["name"]: e.get("value", "") for e in ctr.get("env") or []
                                if "value" in e},
               "POD_NAMESPACE": namespace}  # the Deployment's fieldRef: its Lease's namespace
        stack.enter_context(process([sys.executable, "-m", "dashstream_operator.main", *args],
                                    env, logs / "operator.log"))

        # --- the example pipeline, pointed at our broker, scraped every 2 s -----------
        doc = yaml.safe_load((REPO / "manifests/examples/pipeline-minimal.yaml").read_text())
        doc["metadata"]["namespace"] = namespace
        doc["spec"]["kafka"]["bootstrapServers"] = kafka_bootstrap
        events, dlq = f"{namespace}-quality", f"{namespace}-quality-dlq"
        doc["spec"]["topics"] = [{"name": events, "role": "events", "partitions": 3},
                                 {"name": dlq, "role": "dlq"}]
        doc["spec"]["monitoring"] = {"serviceMonitor": {"interval": "2s"}}
        apply(dyn, doc)
        name = doc["metadata"]["name"]
        wait_until(lambda: condition_true(kube_api, namespace, name, "TopicsReady"),
                   timeout=90, what="TopicsReady")
        assert broker_topic(kafka_admin, events)[0] == 3  # type: ignore[index]
        comps = ("websocket-server", "prometheus-exporter", "quality-monitor")
        wait_until(lambda: all(custom.get_namespaced_custom_object(
            "monitoring.coreos.com", "v1", namespace, "servicemonitors", f"{name}-{c}")
            for c in comps), timeout=60, what="ServiceMonitors")

        wait_until(lambda: synced(custom, namespace, "alertrulesets", "dashstream"),
                   timeout=90, what="rules Ready")
        wait_until(lambda: synced(custom, namespace, "dashboardsets", "dashstream"),
                   timeout=90, what="dashboards Ready")
        dash_cms = [c for c in core.list_namespaced_config_map(
            namespace, label_selector="grafana_dashboard=1").items]
        assert len(dash_cms) == 3
        rule_file = rule_file_from_configmap(
            core, namespace, "dashstream",
            Path(tempfile.mkdtemp(prefix="dashstream-e2e-")) / "rules.yaml")

        # --- the three servers, as their Deployments describe them --------------------
        ports: dict[str, dict[str, int]] = {}
        for comp in comps:
            extra = ("--fault-injection",) if comp == "quality-monitor" else ()
            ctr = start_from_deployment(stack, apps, core, namespace, f"{name}-{comp}", logs,
                                        extra)
            ports[f"{name}-{comp}"] = {p["name"]: p["containerPort"] for p in ctr["ports"]}
        # --- a real Prometheus, configured from the ServiceMonitors -------------------
        prom_port = start_prometheus(stack, scrape_jobs(custom, core, namespace, ports),
                                     rule_file, logs)
        qm_port = ports[f"{name}-quality-monitor"]["metrics"]
        injected_gap_fires_alert(prom_port, rule_file, f"http://127.0.0.1:{qm_port}")
        # --- the viewer shows live events --------------------------------------------
        ws_port = ports[f"{name}-websocket-server"]["http"]
        viewer_shows_live_events(f"http://127.0.0.1:{ws_port}", logs,
                                 artifacts_dir / "e2e-viewer.png")

    # --- deleting the CRs: children go, Retain topics stay ---------------------------
    for plural, obj in (("dashstreampipelines", name), ("alertrulesets", "dashstream"),
                        ("dashboardsets", "dashstream")):
        custom.delete_namespaced_custom_object("dashstream.io", "v1alpha1", namespace, plural, obj)
    wait_until(lambda: not [d for d in apps.list_namespaced_deployment(namespace).items
                            if name_of(d).startswith(f"{name}-")]
               and not core.list_namespaced_config_map(
                   namespace, label_selector="grafana_dashboard=1").items,
               timeout=60, what="children removed")
    assert broker_topic(kafka_admin, events) is not None, "a Retain topic was deleted"
    run(helm, "uninstall", RELEASE, "-n", namespace)
    kafka_admin.delete_topics([events, dlq], operation_timeout=30)
