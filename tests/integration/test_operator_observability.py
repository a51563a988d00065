"""The operator's own /healthz, /metrics, Events and JSON logs."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from prometheus_client.parser import text_string_to_metric_families

from support.kube import apply
from support.operator import run_operator
from support.pipelines import condition_true, pipeline
from support.wait import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = s.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"
            out[key] = s.value
    return out


def test_metrics_health_and_logs(kube_api: client.ApiClient, dyn: DynamicClient,
                                 namespace: str, kafka_bootstrap: str,
                                 crds_installed: list[str], artifacts_dir: Path) -> None:
    port = free_port()
    with run_operator([namespace], artifacts_dir / "logs", resync=2.0,
                      liveness=f"http://127.0.0.1:{port}/healthz") as op:
        wait_until(lambda: urllib.request.urlopen(
            f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200,
            timeout=30, what="/healthz answers 200")
        apply(dyn, pipeline("obs", namespace, kafka_bootstrap,
                            [{"name": f"obs-{namespace}", "role": "events"}]))
        wait_until(lambda: condition_true(kube_api, namespace, "obs", "TopicsReady"),
                   timeout=60, what="TopicsReady")
        metrics, _ = wait_until(
            lambda: (m := scrape(port)).get(
                "dashstream_operator_resync_objects{}", 0) >= 1 and m,
            timeout=30, what="a resync pass counted")
        ok = sum(v for k, v in metrics.items() if k.startswith(
            "dashstream_operator_reconciles_total{kind=DashStreamPipeline,result=success"))
        timed = metrics["dashstream_operator_reconcile_duration_seconds_count"
                        "{kind=DashStreamPipeline}"]
        print(f"reconciles counted: {ok:.0f}; duration samples: {timed:.0f}")
        assert ok >= 1 and timed >= 1
        # JSON log lines carry the object's namespace/name.
        lines = [json.loads(line) for line in op.log().splitlines() if line.startswith("{")]
        about = [rec for rec in lines if rec.get("object", {}).get("name") == "obs"]
        assert about and all(rec["object"]["namespace"] == namespace for rec in about)
