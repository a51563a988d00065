"""The broker goes away and comes back: status says so, the operator recovers by itself."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.env import devenv
from support.kube import apply
from support.operator import run_operator
from support.pipelines import condition, get_pipeline, pipeline
from support.wait import wait_until


def test_kafka_outage_reported_and_recovered(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_bootstrap: str,
        crds_installed: list[str], artifacts_dir: Path) -> None:
    topic = f"outage-{namespace}"
    with run_operator([namespace], artifacts_dir / "logs", resync=3.0) as op:
        apply(dyn, pipeline("p", namespace, kafka_bootstrap, [{"name": topic, "role": "events"}]))

        def cond(reason: str) -> dict[str, Any]:
            c = condition(get_pipeline(kube_api, namespace, "p"), "TopicsReady")
            return c if c and c["reason"] == reason else {}

        wait_until(lambda: cond("TopicsReady"), timeout=60, what="TopicsReady")
        devenv("stop", "kafka")
        stopped = time.monotonic()
        try:
            c, waited = wait_until(lambda: cond("KafkaUnavailable"), timeout=60,
                                   what="KafkaUnavailable")
            print(f"KafkaUnavailable reported {waited:.1f}s after the broker stopped: "
                  f"{c['message']}")
            assert condition(get_pipeline(kube_api, namespace, "p"), "Ready")["status"] == "False"  # type: ignore[index]
        finally:
            devenv("start", "kafka")
        restarted = time.monotonic()
        _, waited = wait_until(lambda: cond("TopicsReady"), timeout=60, what="recovery")
        print(f"Ready again {waited:.1f}s after the broker returned "
              f"(outage {restarted - stopped:.0f}s); operator pid unchanged: {op.alive()}")
        assert op.alive(), "the operator exited during the outage"
        assert op.proc.returncode is None
