"""A broker outage is quiet and bounded: one Event per pipeline per transition, no
status write while nothing changes, librdkafka's lines in the JSON log, /healthz
staying 200 with 100 pipelines, and SIGTERM honoured while Kafka calls hang."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.env import devenv
from support.events import events_by_object
from support.kube import apply, list_custom
from support.operator import run_operator
from support.pipelines import condition, pipeline
from support.wait import wait_until

PIPELINES = 100
OFF = {"websocketServer": {"enabled": False}, "prometheusExporter": {"enabled": False},
       "qualityMonitor": {"enabled": False}}


def _reasons(api: client.ApiClient, ns: str) -> dict[str, str]:
    items = list_custom(client.CustomObjectsApi(api), "dashstream.io", "v1alpha1", ns,
                        "dashstreampipelines")
    return {i["metadata"]["name"]: (condition(i, "TopicsReady") or {}).get("reason", "")
            for i in items}


def _versions(api: client.ApiClient, ns: str) -> dict[str, str]:
    items = list_custom(client.CustomObjectsApi(api), "dashstream.io", "v1alpha1", ns,
                        "dashstreampipelines")
    return {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in items}


def _healthz(port: int | None) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        return int(r.status)


def test_a_broker_outage_is_quiet(kube_api: client.ApiClient, dyn: DynamicClient,
                                  namespace: str, kafka_bootstrap: str,
                                  crds_installed: list[str], artifacts_dir: Path) -> None:
    names = [f"p{i:03d}" for i in range(PIPELINES)]
    logs = artifacts_dir / "logs"
    with run_operator([namespace], logs, resync=2.0):
        for name in names:
            apply(dyn, pipeline(name, namespace, kafka_bootstrap,
                                [{"name": f"{namespace}-{name}", "role": "events"}],
                                components=OFF))
        wait_until(lambda: set(_reasons(kube_api, namespace).values()) == {"TopicsReady"}
                   and len(_reasons(kube_api, namespace)) == PIPELINES, timeout=300,
                   interval=1, what=f"{PIPELINES} pipelines TopicsReady")
    devenv("stop", "kafka")
    try:
        # (Re)started during the outage.
        with run_operator([namespace], logs, resync=2.0) as op:
            op.expect_errors()  # none: an outage is a condition, not an error
            _, took = wait_until(lambda: set(_reasons(kube_api, namespace).values()) == {
                "KafkaUnavailable"}, timeout=180, interval=1,
                what="every pipeline KafkaUnavailable")
            print(f"{PIPELINES} pipelines KafkaUnavailable {took:.1f}s after the start")
            before = _versions(kube_api, namespace)
            health = []
            for _ in range(5):  # five passes with the broker still down
                op.wait_passes(1, timeout=180)
                health.append(_healthz(op.port))
            after = _versions(kube_api, namespace)
            changed = [n for n in names if before[n] != after[n]]
            print(f"5 passes during the outage: {len(changed)} pipelines changed their "
                  f"resourceVersion; /healthz {health}")
            assert not changed, f"status churn during the outage: {changed[:5]}"
            assert health == [200] * 5
            op.proc.send_signal(15)
            stop = time.monotonic()
            op.proc.wait(timeout=5)
            print(f"SIGTERM honoured in {time.monotonic() - stop:.1f}s during the outage")
            text = op.log()
    finally:
        devenv("start", "kafka")
    raw = [line for line in text.splitlines() if "|FAIL|" in line or line.startswith("%")]
    assert not raw, f"librdkafka lines bypassed the logger: {raw[:3]}"
    routed = [json.loads(line) for line in text.splitlines()
              if line.startswith("{") and "librdkafka:" in line]
    print(f"{len(routed)} librdkafka lines in the JSON log, e.g. "
          f"{routed[0]['message'][:120] if routed else None}")
    assert routed, "no librdkafka line reached the operator's logger"
    with run_operator([namespace], logs, resync=2.0):
        wait_until(lambda: set(_reasons(kube_api, namespace).values()) == {"TopicsReady"},
                   timeout=180, interval=1, what="recovery")
        per_pipeline: dict[str, list[tuple[str | None, str | None]]] = {}

        def counted(type_: str, reason: str) -> set[int]:
            return {per_pipeline.get(n, []).count((type_, reason)) for n in names}

        def both_seen() -> bool:
            per_pipeline.update(events_by_object(kube_api, namespace))
            return counted("Warning", "KafkaUnavailable") == {1} and \
                counted("Normal", "KafkaAvailable") == {1}

        wait_until(both_seen, timeout=60, interval=1,
                   what="one KafkaUnavailable and one KafkaAvailable Event per pipeline")
        print(f"Events per pipeline: KafkaUnavailable {counted('Warning', 'KafkaUnavailable')}"
              f", KafkaAvailable {counted('Normal', 'KafkaAvailable')}")
