#!/usr/bin/env python3
"""`make demo`: the operator working end to end on the local environment.

Installs the CRDs, starts the operator (in the background, stopped by `make env-down`),
applies a DashStreamPipeline (and, when present, the canonical AlertRuleSet and
DashboardSet), waits for what the operator reports, and prints where to look.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DEV = REPO / ".dev"
NS = os.environ.get("DASHSTREAM_DEMO_NAMESPACE", "dashstream-demo")
KUBECTL = os.environ.get("KUBECTL", "kubectl")
PIDFILE = DEV / "run/operator-demo.pid"
LOG = DEV / "logs/operator-demo.log"

# Written into .dev/env.sh by `make env-up` (scripts/env/images.py names the images).
WORKLOADS_IMAGE = os.environ.get("DASHSTREAM_WORKLOADS_IMAGE", "")


def step(msg: str) -> None:
    print(f"\n==> {msg}", flush=True)


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    res = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True)
    if check and res.returncode != 0:
        sys.exit(f"kubectl {' '.join(args)} failed:\n{res.stderr}")
    return res.stdout


def operator_running() -> bool:
    try:
        pid = int(PIDFILE.read_text())
        return "dashstream_operator" in Path(f"/proc/{pid}/cmdline").read_text()
    except (OSError, ValueError):
        return False


def start_operator() -> None:
    if operator_running():
        print(f"operator already running (pid {PIDFILE.read_text()}), log {LOG}")
        return
    LOG.parent.mkdir(parents=True, exist_ok=True)
    PIDFILE.parent.mkdir(parents=True, exist_ok=True)
    # The servers run as pods on the local node, from the image `make images` imported.
    env = {**os.environ, "DASHSTREAM_DEFAULT_IMAGE": WORKLOADS_IMAGE}
    with open(LOG, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dashstream_operator.main", "--namespace", NS,
             "--liveness", "http://127.0.0.1:18080/healthz"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    PIDFILE.write_text(str(proc.pid))
    print(f"operator started (pid {proc.pid}), log {LOG}")


def pipeline_doc() -> dict[str, Any]:
    return {
        "apiVersion": "dashstream.io/v1alpha1", "kind": "DashStreamPipeline",
        "metadata": {"name": "demo", "namespace": NS},
        "spec": {
            # The broker's listener the pods reach (the node's gateway); this host too.
            "kafka": {"bootstrapServers": os.environ.get("DASHSTREAM_POD_KAFKA_BOOTSTRAP")
                      or os.environ["KAFKA_BOOTSTRAP_SERVERS"]},
            "topics": [
                {"name": "dashstream-quality", "role": "events", "partitions": 3,
                 "config": {"retention.ms": "604800000"}},
                {"name": "dashstream-quality-dlq", "role": "dlq",
                 "config": {"retention.ms": "2592000000"}},
            ],
            "monitoring": {"serviceMonitor": {"interval": "15s",
                                              "labels": {"release": "kube-prometheus"}}},
            # The local node is tainted so that only pods which ask may run there.
            "scheduling": {"tolerations": [{"key": "dashstream.dev/node",
                                            "operator": "Exists"}]},
        },
    }


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def wait_for(what: str, check: Any, timeout: float = 90) -> Any:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = check()
        if value:
            print(f"{what}: after {time.monotonic() - start:.1f}s")
            return value
        time.sleep(0.5)
    sys.exit(f"{what}: not reached in {timeout:.0f}s; see {LOG}")


def main() -> int:
    if not WORKLOADS_IMAGE:
        sys.exit("DASHSTREAM_WORKLOADS_IMAGE is not set: run `make demo` (it brings the "
                 "environment up, writes .dev/env.sh and builds the images)")
    step("Installing the CRDs (ours, generated from the models; ServiceMonitor et al.)")
    kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    thirdparty = os.environ.get("DASHSTREAM_THIRDPARTY_CRDS")
    if thirdparty:
        kubectl("apply", "--server-side", "-f", thirdparty)
    kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    kubectl("create", "namespace", NS, check=False)

    step(f"Starting the operator for namespace {NS}")
    start_operator()

    step("Applying a DashStreamPipeline")
    kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(pipeline_doc()))

    def topics_ready() -> bool:
        obj = json.loads(kubectl("get", "dsp", "demo", "-n", NS, "-o", "json"))
        return condition(obj, "TopicsReady").get("status") == "True"

    wait_for("topics created and observed on the broker", topics_ready)
    wait_for("Deployments, Services, ConfigMaps and ServiceMonitors applied",
             lambda: len(kubectl("get", "deploy", "-n", NS, "-o", "name").split()) == 3)

    def ready() -> bool:
        obj = json.loads(kubectl("get", "dsp", "demo", "-n", NS, "-o", "json"))
        return condition(obj, "Ready").get("status") == "True"

    wait_for("the three servers Ready as pods on the local node (pipeline Ready)", ready,
             timeout=180)
    sets = [p for p in (REPO / "manifests/examples").glob("*.yaml")
            if p.name.startswith(("alertruleset", "dashboardset"))]
    for path in sets:
        step(f"Applying {path.relative_to(REPO)}")
        kubectl("apply", "--server-side", "-n", NS, "-f", str(path))

    step("What the operator reports")
    print(kubectl("get", "dashstream", "-n", NS))
    print(kubectl("get", "deploy,svc,cm,servicemonitors", "-n", NS,
                  "-l", "app.kubernetes.io/managed-by=dashstream-operator"))
    print(kubectl("get", "pods", "-n", NS, "-o", "wide"))
    viewer = kubectl("get", "svc", "demo-websocket-server", "-n", NS, "-o",
                     "jsonpath={.spec.clusterIP}:{.spec.ports[0].port}")
    obj = json.loads(kubectl("get", "dsp", "demo", "-n", NS, "-o", "json"))
    for t in obj["status"].get("topics", []):
        print(f"  topic {t['name']}: {t.get('partitions')} partitions, ready={t['ready']}")
    for c in obj["status"].get("conditions", []):
        print(f"  {c['type']:16s} {c['status']:6s} {c['reason']}: {c.get('message', '')[:90]}")

    step("Summary")
    print(f"""  running: etcd, kube-apiserver, kube-controller-manager, Kafka, and the node
           (containerd, kubelet, kube-scheduler, kube-proxy): make env-status
           the operator (pid {PIDFILE.read_text()}, log {LOG})
           the three servers as pods, image {WORKLOADS_IMAGE}
  viewer:  http://{viewer}/  (the websocket-server's Service, from this host)
  look:    source .dev/env.sh
           kubectl get dashstream -n {NS}
           kubectl describe dsp demo -n {NS}
           dashstream render -f <(kubectl get dsp demo -n {NS} -o yaml)
  stop:    make env-down""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
