"""Reliability under faults: the operator killed at random, the API server restarted,
the broker stopped for several resync passes. Each test prints what it survived."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.env import devenv
from support.kube import apply, list_custom, meta, present
from support.operator import run_operator
from support.pipelines import broker_topic, condition, get_pipeline, pipeline
from support.wait import wait_until

PIPELINES = 50
KILLS = 12


def topic_ids(admin: Any, names: list[str]) -> dict[str, str]:
    from confluent_kafka import TopicCollection

    futures = admin.describe_topics(TopicCollection(names))
    return {name: str(f.result(timeout=30).topic_id) for name, f in futures.items()}


def _all_topics_ready(api: client.ApiClient, ns: str) -> list[str]:
    items = list_custom(client.CustomObjectsApi(api), "dashstream.io", "v1alpha1", ns,
                        "dashstreampipelines")
    waiting = [i["metadata"]["name"] for i in items
               if (condition(i, "TopicsReady") or {}).get("status") != "True"
               or (i.get("status") or {}).get("observedGeneration") != i["metadata"]["generation"]]
    return [] if waiting else [i["metadata"]["name"] for i in items]


def test_operator_sigkilled_at_random_while_50_pipelines_reconcile(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_admin: Any,
        kafka_bootstrap: str, crds_installed: list[str], artifacts_dir: Path) -> None:
    rng = random.Random(20261122)
    names = [f"r{i:02d}" for i in range(PIPELINES)]
    topics = {n: [f"{namespace}-{n}-ev", f"{namespace}-{n}-dlq"] for n in names}
    for n in names:
        apply(dyn, pipeline(n, namespace, kafka_bootstrap, [
            {"name": topics[n][0], "role": "events", "partitions": 2},
            {"name": topics[n][1], "role": "dlq"}]))
    first_ids: dict[str, str] = {}
    kills = []
    for _ in range(KILLS):
        with run_operator([namespace], artifacts_dir / "logs", resync=5.0) as op:
            delay = rng.uniform(0.5, 4.0)
            time.sleep(delay)  # a random moment of the operator's life, not a wait
            op.kill()
            kills.append(round(delay, 2))
        # Remember each topic's id as soon as it exists: a recreated topic gets a new one.
        new = [t for ts in topics.values() for t in ts
               if t not in first_ids and broker_topic(kafka_admin, t) is not None]
        if new:
            first_ids |= topic_ids(kafka_admin, new)
    print(f"SIGKILLed the operator {len(kills)} times, after {kills} s of life each")
    with run_operator([namespace], artifacts_dir / "logs", resync=5.0):
        _, took = wait_until(lambda: _all_topics_ready(kube_api, namespace), timeout=300,
                             interval=1, what=f"all {PIPELINES} pipelines TopicsReady")
        print(f"all {PIPELINES} pipelines TopicsReady {took:.1f}s after the last restart")
        apps = client.AppsV1Api(kube_api)

        def children_complete() -> bool:
            deps = apps.list_namespaced_deployment(namespace).items
            return len(deps) == 3 * PIPELINES

        wait_until(children_complete, timeout=120, interval=1, what="all Deployments")
    deps = apps.list_namespaced_deployment(namespace).items
    owners: dict[str, int] = {}
    for d in deps:
        owner = present(meta(d).owner_references)[0].uid
        owners[owner] = owners.get(owner, 0) + 1
    assert len(owners) == PIPELINES and set(owners.values()) == {3}, "duplicate/missing children"
    all_topics = [t for ts in topics.values() for t in ts]
    final_ids = topic_ids(kafka_admin, all_topics)
    recreated = [t for t, tid in first_ids.items() if final_ids.get(t) != tid]
    assert not recreated, f"topics recreated (data lost): {recreated}"
    for n in names:
        assert broker_topic(kafka_admin, topics[n][0])[0] == 2  # type: ignore[index]
    print(f"{len(all_topics)} topics present, {len(first_ids)} of them created before a kill "
          f"kept their topic id; {len(deps)} Deployments, 3 per pipeline, no duplicates")
    kafka_admin.delete_topics(all_topics, operation_timeout=30)


def test_api_server_restart(kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
                            kafka_admin: Any, kafka_bootstrap: str, crds_installed: list[str],
                            artifacts_dir: Path) -> None:
    topic = f"{namespace}-apirestart"
    with run_operator([namespace], artifacts_dir / "logs", resync=3.0) as op:
        apply(dyn, pipeline("p", namespace, kafka_bootstrap,
                            [{"name": topic, "role": "events", "partitions": 1}]))
        wait_until(lambda: broker_topic(kafka_admin, topic), timeout=60, what="topic")
        devenv("stop", "kube-apiserver")
        down = time.monotonic()
        devenv("start", "kube-apiserver")
        print(f"API server was down {time.monotonic() - down:.1f}s")
        # Changed as soon as the API server is back, before the operator's watch resumes.
        wait_until(lambda: apply(dyn, pipeline("p", namespace, kafka_bootstrap, [
            {"name": topic, "role": "events", "partitions": 4}])), timeout=60,
            what="apply after restart")
        changed = time.monotonic()
        wait_until(lambda: (broker_topic(kafka_admin, topic) or (0,))[0] == 4, timeout=90,
                   what="change made after the restart reconciled")
        wait_until(lambda: get_pipeline(kube_api, namespace, "p")["status"].get(
            "observedGeneration") == 2, timeout=60, what="status of generation 2")
        print(f"change reconciled {time.monotonic() - changed:.1f}s after it was made; "
              f"operator still running: {op.alive()}")
        assert op.alive()


def test_kafka_down_for_four_passes(kube_api: client.ApiClient, dyn: DynamicClient,
                                    namespace: str, kafka_bootstrap: str,
                                    crds_installed: list[str], artifacts_dir: Path) -> None:
    """An outage that outlasts several resync passes (each retrying and failing), then
    recovery. A short interval makes it several passes in seconds; outages of every
    length and timing also come from the exploration's broker-stop fault."""
    with run_operator([namespace], artifacts_dir / "logs", resync=1.5) as op:
        apply(dyn, pipeline("p", namespace, kafka_bootstrap,
                            [{"name": f"{namespace}-outage", "role": "events"}]))

        def reason() -> str:
            return (condition(get_pipeline(kube_api, namespace, "p"), "TopicsReady")
                    or {}).get("reason", "")

        wait_until(lambda: reason() == "TopicsReady", timeout=60, what="TopicsReady")
        devenv("stop", "kafka")
        stopped = time.monotonic()
        try:
            _, detected = wait_until(lambda: reason() == "KafkaUnavailable", timeout=30,
                                     what="KafkaUnavailable within 30 s")
            op.wait_passes(4)  # four passes, each retrying against the stopped broker
        finally:
            devenv("start", "kafka")
        back = time.monotonic()
        _, recovered = wait_until(lambda: reason() == "TopicsReady", timeout=30,
                                  what="recovery within 30 s")
        print(f"broker down {back - stopped:.0f}s: KafkaUnavailable after {detected:.1f}s, "
              f"TopicsReady {recovered:.1f}s after it returned, operator restarts: "
              f"{0 if op.alive() else 1}")
        assert op.alive()
