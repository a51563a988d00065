"""The user scenario with everything in-cluster, from images: the operator and the three
servers run as pods on the local node (kubelet + containerd, `make env-up`) from the
images `make images` builds, as they would on kind or any cluster.

helm install (operator image, tolerations, kube-prometheus-stack's release label on the
operator's ServiceMonitor and the default AlertRuleSet's PrometheusRule) -> the example
pipeline with the node's toleration and the same label -> topics created by the operator
pod -> the three servers' pods Ready (their readiness follows the Kafka connection) ->
a Prometheus run by the real prometheus-operator, selecting by that label as
kube-prometheus-stack's does: the pipeline's MonitoringReady and the rules' Selected say
Selected, and it scrapes the servers and the operator -> a gap injected through the
quality-monitor's Service (kube-proxy) makes SequenceGapsDetected true in it -> every
panel of the canonical dashboards returns data from it (or is incident-only) -> the
viewer, opened at the websocket-server's Service address, shows live events -> replicas
stream everything -> an upgrade to an image that cannot start leaves the pipeline not
Ready (the old pod still Ready) until it is rolled back -> the viewer token from a Secret
makes /ws refuse clients without it -> meanwhile the gap alert's `for` ran out: it
reaches the critical webhook through a real Alertmanager with the shipped routing ->
deleting the CRs removes Deployments and pods and keeps the Retain topics.
"""

from __future__ import annotations

import base64
import http.client
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from integration.workloads.servers import free_port
from support import prometheus_stack
from support.alerting import Webhooks, routing_for, start_alertmanager, webhook_receiver
from support.env import REPO, require_env
from support.kube import apply, get_custom, name_of, present
from support.pipelines import broker_topic, condition, condition_true, get_pipeline
from support.replicas import holes, pod_urls, span, viewers
from support.scenario import injected_gap_fires_alert, prom_query, run, viewer_shows_live_events
from support.scenario import set_ready as synced
from support.wait import wait_until

RELEASE = "dsi"
LEASE_SECONDS = 8
# Never present on the node, and containerd resolves every registry to a closed port.
BROKEN_IMAGE = "dashstream.local/no-such-image:dev"
NODE_TAINT = "dashstream.dev/node"
COMPONENTS = ("websocket-server", "prometheus-exporter", "quality-monitor")
SCRAPE_INTERVAL = "2s"
KPS_RELEASE = "kube-prometheus-stack"
HINT = "run `make images` (it builds both images without Docker and imports them)"


def node_with_images(core: client.CoreV1Api, images: set[str]) -> str | None:
    """The Ready node holding both images (the kubelet reports what containerd has with
    its next node status update, up to a minute after an import)."""
    for node in core.list_node().items:
        status = present(node.status)
        names = {n for img in status.images or [] for n in img.names or []}
        ready = any(c.type == "Ready" and c.status == "True" for c in present(status.conditions))
        if ready and images <= names:
            return name_of(node)
    return None


def lease_identity(api: client.ApiClient, ns: str) -> str:
    try:
        lease: Any = client.CoordinationV1Api(api).read_namespaced_lease(
            f"{RELEASE}-dashstream-operator", ns)
    except client.ApiException:
        return ""
    return str(lease.spec.holder_identity or "")


def lease_holder(api: client.ApiClient, ns: str) -> str | None:
    """The pod holding the operator's Lease (its identity is "<pod>_<random>")."""
    return lease_identity(api, ns).rsplit("_", 1)[0] or None


def operator_pid(pod: str) -> int:
    """The operator process of ``pod`` on the local node (its HOSTNAME is the pod name)."""
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
            env = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"dashstream-operator" in cmd and f"HOSTNAME={pod}".encode() in env:
            return int(proc.name)
    raise AssertionError(f"no operator process of pod {pod} on this node")


def replicas_stream_everything(apps: client.AppsV1Api, core: client.CoreV1Api,
                               dyn: DynamicClient, doc: dict[str, Any], ns: str,
                               name: str) -> None:
    """Three websocket-server replicas: a viewer on each pod receives every event of
    every partition, in order; scaled to one, a viewer of a removed pod reconnects with
    its cursor and misses nothing (the remaining pod read every partition too)."""
    deployment = f"{name}-websocket-server"
    doc["spec"]["components"]["websocketServer"] = {"replicas": 3}
    apply(dyn, doc)
    wait_until(lambda: present(apps.read_namespaced_deployment(deployment, ns).status
                               ).ready_replicas == 3, timeout=120, what="3 replicas ready")
    urls, _ = wait_until(lambda: len(u := pod_urls(core, ns, name)) == 3 and u,
                         timeout=60, what="the 3 pods running")
    clients = viewers(urls)
    try:
        wait_until(lambda: all(len(span(v.snapshot().events)) == 3 and
                               min(last - first for first, last in
                                   span(v.snapshot().events).values()) >= 5
                               for v in clients.values()), timeout=90,
                   what="each viewer: 5 events or more of every partition")
        for pod, viewer in clients.items():
            got = viewer.snapshot()
            assert holes(got.events) == {}, (pod, holes(got.events))
        print("3 websocket-server replicas: each pod's viewer got every event of all 3 "
              "partitions, in order: " + ", ".join(
                  f"{pod[-5:]} {len(v.snapshot().events)}" for pod, v in clients.items()))
        doc["spec"]["components"]["websocketServer"] = {"replicas": 1}
        apply(dyn, doc)
        left, _ = wait_until(lambda: len(u := pod_urls(core, ns, name)) == 1
                             and present(apps.read_namespaced_deployment(
                                 deployment, ns).status).replicas == 1
                             and u, timeout=120, what="scaled to 1")
        survivor = next(iter(left))
        gone = next(pod for pod in clients if pod != survivor)
        before = clients[gone].snapshot().events
        cursor = ",".join(f"{p}:{last}" for p, (_, last) in sorted(span(before).items()))
        resumed = viewers(left, f"?since={cursor}")[survivor]
        try:
            wait_until(lambda: len(resumed.snapshot().events) >= 5, timeout=60,
                       what="the reconnected viewer resumes")
            after = resumed.snapshot()
            assert after.hello and after.hello["replay"]["source"] == "memory", after.hello
            assert holes(before + after.events) == {}, holes(before + after.events)
        finally:
            resumed.close()
        print(f"scaled to 1: the viewer of {gone} reconnected to {survivor} with its cursor "
              f"and missed nothing ({len(after.events)} events replayed and live)")
    finally:
        for viewer in clients.values():
            viewer.close()
    del doc["spec"]["components"]["websocketServer"]
    apply(dyn, doc)


def available(apps: client.AppsV1Api, ns: str, name: str) -> bool:
    replicas = present(apps.read_namespaced_deployment(name, ns).status).available_replicas
    return replicas is not None and replicas >= 1


def reason_is(custom: client.CustomObjectsApi, ns: str, plural: str, name: str,
              type_: str, reason: str) -> bool:
    obj = get_custom(custom, "dashstream.io", "v1alpha1", ns, plural, name)
    return (condition(obj, type_) or {}).get("reason") == reason


def targets_up(prom: str, ns: str) -> list[str]:
    """The jobs of the namespace's targets, once each is up (what prometheus-operator
    generated from the ServiceMonitors the Prometheus selects)."""
    def up() -> list[str] | None:
        found = prom_query(prom, f'up{{namespace="{ns}"}}')
        jobs = [s["metric"]["job"] for s in found if s["value"][1] == "1"]
        return jobs if found and len(jobs) == len(found) and len(jobs) >= 4 else None

    jobs, _ = wait_until(up, timeout=60, what="the ServiceMonitors' targets up")
    return jobs


def rule_expr(custom: client.CustomObjectsApi, ns: str, alert: str) -> str:
    """An alert's expression, read from the PrometheusRule the AlertRuleSet synced."""
    rule = get_custom(custom, "monitoring.coreos.com", "v1", ns, "prometheusrules",
                      "dashstream")
    return str(next(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]
                    if r.get("alert") == alert))


def gap_alert_delivered(hooks: Webhooks, namespace: str) -> None:
    """The injected gap's SequenceGapsDetected reaches the critical receiver, with its
    severity, summary and a runbook that exists in docs/runbooks/."""
    alerts, took = wait_until(
        lambda: [a for a in hooks.alerts("/critical")
                 if a["labels"]["alertname"] == "SequenceGapsDetected"
                 and a["labels"]["namespace"] == namespace], timeout=90,
        what="SequenceGapsDetected delivered to the critical webhook")
    alert = alerts[0]
    print(f"SequenceGapsDetected at the critical receiver {took:.1f}s after the gap: "
          f"{alert['labels']}, summary {alert['annotations']['summary']!r}")
    assert alert["labels"]["severity"] == "critical" and alert["annotations"]["summary"]
    runbook = alert["annotations"]["runbook_url"].split("/blob/main/", 1)[1]
    assert (REPO / runbook).is_file(), runbook
    assert not hooks.alerts("/warnings") or all(
        a["labels"]["severity"] == "warning" for a in hooks.alerts("/warnings"))


def dashboards_return_data(prom: str, seconds: float, scrape_interval: str) -> None:
    """`dashstream dashboards check` of the canonical dashboards against the Prometheus
    that scraped the scenario: every panel returns data or declares itself incident-only
    (with the reason)."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dashstream")), "dashboards", "check",
         "--prometheus", prom, "--since", f"{math.ceil(seconds)}s",
         "--scrape-interval", scrape_interval, str(REPO / "dashboards")],
        capture_output=True, text=True, timeout=120)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr


def service_url(core: client.CoreV1Api, ns: str, name: str, port_name: str) -> str:
    spec = present(core.read_namespaced_service(name, ns).spec)
    port = next(p.port for p in present(spec.ports) if p.name == port_name)
    return f"http://{spec.cluster_ip}:{port}"


def ws_handshake(base_url: str, token: str | None = None) -> int:
    """The status a WebSocket upgrade of /ws gets (101 switches, 401 refuses)."""
    parsed = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=5)
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request("GET", "/ws", headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def test_in_cluster_scenario(kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
                             kafka_admin: Any, crds_installed: list[str],
                             thirdparty_crds: list[str], artifacts_dir: Path,
                             request: pytest.FixtureRequest) -> None:
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    custom = client.CustomObjectsApi(kube_api)
    pod_bootstrap = require_env("DASHSTREAM_POD_KAFKA_BOOTSTRAP")
    operator_image = require_env("DASHSTREAM_OPERATOR_IMAGE")
    workloads_image = require_env("DASHSTREAM_WORKLOADS_IMAGE")
    node, _ = wait_until(lambda: node_with_images(core, {operator_image, workloads_image}),
                         timeout=90, what=f"a Ready node with {operator_image} and "
                         f"{workloads_image} ({HINT})")
    logs = artifacts_dir / "e2e-in-cluster"
    logs.mkdir(parents=True, exist_ok=True)
    helm = os.environ.get("HELM", "helm")
    op_repo, op_tag = operator_image.rsplit(":", 1)
    wl_repo, wl_tag = workloads_image.rsplit(":", 1)
    run(helm, "install", RELEASE, str(REPO / "charts/dashstream-operator"), "-n", namespace,
        "--skip-crds", "--wait", "--timeout", "180s",
        "--set", f"watchNamespaces={{{namespace}}}",
        "--set", f"image.repository={op_repo}", "--set", f"image.tag={op_tag}",
        "--set", f"workloadImage.repository={wl_repo}", "--set", f"workloadImage.tag={wl_tag}",
        "--set", f"tolerations[0].key={NODE_TAINT}", "--set", "tolerations[0].operator=Exists",
        "--set", "defaultAlertRules.enabled=true", "--set", "defaultDashboards.enabled=true",
        # kube-prometheus-stack's convention: its Prometheus selects by the release label.
        "--set", f"defaultAlertRules.targets.prometheusRule.labels.release={KPS_RELEASE}",
        "--set", "serviceMonitor.enabled=true",
        "--set", f"serviceMonitor.labels.release={KPS_RELEASE}",
        "--set", f"leaderElection.leaseSeconds={LEASE_SECONDS}")
    op_pods = core.list_namespaced_pod(
        namespace, label_selector="app.kubernetes.io/name=dashstream-operator").items
    assert [present(p.spec).node_name for p in op_pods] == [node, node]
    leading, _ = wait_until(lambda: lease_holder(kube_api, namespace), timeout=60,
                            what="one operator replica holds the Lease")
    print(f"operator pods {sorted(name_of(p) for p in op_pods)} Ready on {node} "
          f"({present(op_pods[0].spec).containers[0].image}); {leading} leads")
    # `helm test`: a pod from the operator image calls /healthz by the Service's cluster
    # DNS name (CoreDNS of the local node).
    # (No --logs: the hook pod is deleted on success before helm could read them.)
    tested = run(helm, "test", RELEASE, "-n", namespace, "--timeout", "120s")
    assert "Phase:          Succeeded" in tested, tested
    print("helm test: " + ", ".join(" ".join(line.split()) for line in tested.splitlines()
                                    if line.startswith(("TEST SUITE", "Phase"))))

    # --- kube-prometheus-stack's Prometheus, run by the real prometheus-operator: created
    # now, it starts while the operator fails over below and discovers the servers as
    # they come. Deleted even if the test fails: a Prometheus that selects only this
    # namespace would make other tests' monitors NotSelected while it is deleted.
    gateway, am_port = pod_bootstrap.rsplit(":", 1)[0], free_port()
    request.addfinalizer(partial(prometheus_stack.delete, dyn, kube_api, namespace))
    prometheus_stack.create(dyn, namespace, f"{gateway}:{am_port}", SCRAPE_INTERVAL,
                            [{"key": NODE_TAINT, "operator": "Exists"}])

    # --- the example pipeline, reached by the pods at the broker's pod listener -------
    doc = yaml.safe_load((REPO / "manifests/examples/pipeline-minimal.yaml").read_text())
    doc["metadata"]["namespace"] = namespace
    name = doc["metadata"]["name"]
    doc["spec"]["kafka"]["bootstrapServers"] = pod_bootstrap
    events, dlq = f"{namespace}-quality", f"{namespace}-quality-dlq"
    doc["spec"]["topics"] = [{"name": events, "role": "events", "partitions": 3},
                             {"name": dlq, "role": "dlq"}]
    doc["spec"]["monitoring"] = {"serviceMonitor": {"interval": SCRAPE_INTERVAL,
                                                    "labels": {"release": KPS_RELEASE}}}
    doc["spec"]["scheduling"] = {"tolerations": [{"key": NODE_TAINT, "operator": "Exists"}]}
    doc["spec"]["components"] = {"qualityMonitor": {
        "settings": {"QUALITY_MONITOR_FAULT_INJECTION": "true"}}}
    # The leader's process is SIGKILLed (a crash: the Lease is not released) just before
    # the pipeline is created: the standby takes over when the Lease expires.
    held = lease_identity(kube_api, namespace)
    os.kill(operator_pid(leading), signal.SIGKILL)
    apply(dyn, doc)
    assert lease_identity(kube_api, namespace) == held, "the killed leader released the Lease"
    _, took = wait_until(lambda: condition_true(kube_api, namespace, name, "TopicsReady"),
                         timeout=LEASE_SECONDS + 10, what="TopicsReady after the failover")
    now_leading = lease_holder(kube_api, namespace)
    print(f"leader pod {leading} killed: pipeline TopicsReady {took:.1f}s later, reconciled "
          f"by {now_leading} (lease {LEASE_SECONDS} s)")
    assert now_leading and now_leading != leading
    assert broker_topic(kafka_admin, events)[0] == 3  # type: ignore[index]
    _, took = wait_until(lambda: all(available(apps, namespace, f"{name}-{c}")
                                     for c in COMPONENTS), timeout=240,
                         what="the three servers' Deployments available")
    pods = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/instance="
                                    f"{name}").items
    print(f"{len(pods)} server pods Ready {took:.1f}s later: "
          + ", ".join(f"{name_of(p)}@{present(p.status).pod_ip}" for p in pods))
    assert {present(p.spec).containers[0].image for p in pods} == {workloads_image}
    wait_until(lambda: condition_true(kube_api, namespace, name, "Ready"),
               timeout=60, what="pipeline Ready")
    wait_until(lambda: synced(custom, namespace, "alertrulesets", "dashstream"), timeout=90,
               what="rules Ready")
    wait_until(lambda: synced(custom, namespace, "dashboardsets", "dashstream"), timeout=90,
               what="dashboards Ready")
    with ExitStack() as stack:
        # --- kube-prometheus-stack as users run it: a Prometheus run by the real
        # prometheus-operator selects our ServiceMonitors and PrometheusRule by the release
        # label and alerts through a real Alertmanager (the shipped routing) to webhooks --
        hooks = stack.enter_context(webhook_receiver())
        work = Path(tempfile.mkdtemp(prefix="dashstream-e2e-ic-"))
        start_alertmanager(stack, routing_for(hooks, work), logs, host=gateway, port=am_port)
        stack.callback(prometheus_stack.delete, dyn, kube_api, namespace)  # pods gone below
        prom = prometheus_stack.ready(kube_api, namespace)
        scraping_since = time.time()
        for kind, obj, ctype in (("dashstreampipelines", name, "MonitoringReady"),
                                 ("alertrulesets", "dashstream", "Selected")):
            wait_until(partial(reason_is, custom, namespace, kind, obj, ctype, "Selected"),
                       timeout=30, what=f"{kind}/{obj}: {ctype} Selected")
        jobs = targets_up(prom, namespace)
        print(f"the real Prometheus scrapes {sorted(jobs)} "
              f"{time.time() - scraping_since:.1f}s after it answered")
        operator_job = f"{RELEASE}-dashstream-operator"  # the chart's own ServiceMonitor
        assert set(jobs) == {f"{name}-{c}" for c in COMPONENTS} | {operator_job}, jobs
        injected_gap_fires_alert(prom, rule_expr(custom, namespace, "SequenceGapsDetected"),
                                 service_url(core, namespace, f"{name}-quality-monitor",
                                             "metrics"))
        # The websocket-server's lag monitor publishes its gauges after its first poll
        # (its own interval); the lag panels have data from then on.
        wait_until(lambda: prom_query(prom, f'websocket_kafka_consumer_lag{{namespace='
                                            f'"{namespace}"}}'),
                   timeout=60, what="the websocket-server's first lag poll scraped")
        dashboards_return_data(prom, time.time() - scraping_since, SCRAPE_INTERVAL)
        # The rule's `for: 1m` runs out while the next phases run; the alert is checked
        # at the receiver after them.
        # --- the viewer, served by the websocket-server pod through its Service -----------
        viewer_shows_live_events(service_url(core, namespace, f"{name}-websocket-server", "http"),
                                 logs, artifacts_dir / "e2e-in-cluster-viewer.png")

        replicas_stream_everything(apps, core, dyn, doc, namespace, name)

        # --- a broken upgrade is not Ready: the old pod serves on, the status says why ---
        doc["spec"]["components"]["websocketServer"] = {"image": BROKEN_IMAGE}
        apply(dyn, doc)
        cond, took = wait_until(lambda: (c := condition(get_pipeline(kube_api, namespace, name),
                                                        "WorkloadsReady")) and
                                c["status"] == "False" and c, timeout=60,
                                what="WorkloadsReady=False for the broken upgrade")
        print(f"broken websocket-server image: WorkloadsReady {cond['reason']} after "
              f"{took:.1f}s: {cond['message']}")
        assert cond["reason"] == "ReplicasUnavailable"
        assert "websocket-server 1/1 ready (rollout: 1 old replicas still running)" in \
            cond["message"]
        assert not condition_true(kube_api, namespace, name, "Ready")
        del doc["spec"]["components"]["websocketServer"]
        apply(dyn, doc)
        _, took = wait_until(lambda: condition_true(kube_api, namespace, name, "Ready"),
                             timeout=120, what="pipeline Ready again after the rollback")
        print(f"rolled back: Ready again after {took:.1f}s")

        # --- the viewer token from a Secret: /ws refuses without it, upgrades with it ------
        token = secrets.token_hex(16)
        core.create_namespaced_secret(namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name="viewer-token"), string_data={"token": token}))
        doc["spec"]["components"]["websocketServer"] = {
            "authTokenSecretRef": {"name": "viewer-token", "key": "token"}}
        apply(dyn, doc)
        ws = service_url(core, namespace, f"{name}-websocket-server", "http")
        _, took = wait_until(lambda: condition_true(kube_api, namespace, name, "Ready")
                             and ws_handshake(ws) == 401, timeout=120,
                             what="Ready with /ws refusing a client without the token")
        # Waited for, not read once: the old pod's endpoint leaves kube-proxy's rules a moment
        # after the rollout is complete, and a connection sent there times out.
        wait_until(lambda: ws_handshake(ws, token) == 101, timeout=30,
                   what="/ws upgrades a client with the token")
        print(f"token from Secret viewer-token: /ws 401 without it, 101 with it ({took:.1f}s)")


        gap_alert_delivered(hooks, namespace)

    # --- deleting the CRs: Deployments and their pods go, Retain topics stay ---------
    for plural, obj in (("dashstreampipelines", name), ("alertrulesets", "dashstream"),
                        ("dashboardsets", "dashstream")):
        custom.delete_namespaced_custom_object("dashstream.io", "v1alpha1", namespace, plural, obj)
    _, took = wait_until(lambda: not core.list_namespaced_pod(
        namespace, label_selector=f"app.kubernetes.io/instance={name}").items,
        timeout=120, what="server pods gone")
    print(f"CRs deleted: server pods gone after {took:.1f}s; topic {events} kept (Retain)")
    assert broker_topic(kafka_admin, events) is not None, "a Retain topic was deleted"
    run(helm, "uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "120s")
    wait_until(lambda: not core.list_namespaced_pod(namespace).items, timeout=120,
               what="operator pod gone")
    kafka_admin.delete_topics([events, dlq], operation_timeout=30)
