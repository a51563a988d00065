"""DashStreamPipeline -> Kafka topics, with the real operator, API server and broker."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.events import wait_for_events
from support.kube import apply, list_custom
from support.operator import OperatorProcess, run_operator
from support.pipelines import broker_topic, condition, get_pipeline, pipeline
from support.wait import wait_until

RESYNC = 3.0


@pytest.fixture
def operator(namespace: str, crds_installed: list[str], artifacts_dir: Path,
             ) -> Iterator[OperatorProcess]:
    with run_operator([namespace], artifacts_dir / "logs", resync=RESYNC) as op:
        yield op


def uniq(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def ready(api: client.ApiClient, ns: str, name: str, want: str = "True") -> dict[str, Any]:
    """TopicsReady for the current generation (Ready also needs running pods, which a
    control plane without kubelet never has: see test_workloads.py)."""
    obj = get_pipeline(api, ns, name)
    cond = condition(obj, "TopicsReady")
    gen_ok = (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]
    return obj if cond and cond["status"] == want and gen_ok else {}


def reason_is(api: client.ApiClient, ns: str, name: str, cond_type: str,
              reason: str) -> dict[str, Any]:
    cond = condition(get_pipeline(api, ns, name), cond_type)
    return cond if cond and cond["reason"] == reason else {}


def test_topics_created_as_declared_and_ready(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_admin: Any,
        kafka_bootstrap: str, operator: OperatorProcess) -> None:
    events, dlq, extra = uniq("ev"), uniq("dlq"), uniq("extra")
    apply(dyn, pipeline("p1", namespace, kafka_bootstrap, [
        {"name": events, "role": "events", "partitions": 3,
         "config": {"retention.ms": "604800000"}},
        {"name": dlq, "role": "dlq", "config": {"retention.ms": "2592000000",
                                                "cleanup.policy": "delete"}},
        {"name": extra, "partitions": 2, "config": {"max.message.bytes": "2097152"}},
    ]))
    obj, waited = wait_until(lambda: ready(kube_api, namespace, "p1"), timeout=60,
                             what="pipeline TopicsReady=True")
    print(f"pipeline TopicsReady after {waited:.1f}s")
    assert broker_topic(kafka_admin, events)[0] == 3  # type: ignore[index]
    assert broker_topic(kafka_admin, events)[1]["retention.ms"] == "604800000"  # type: ignore[index]
    parts, cfg = broker_topic(kafka_admin, dlq)  # type: ignore[misc]
    assert parts == 1 and cfg["retention.ms"] == "2592000000" and cfg["cleanup.policy"] == "delete"
    parts, cfg = broker_topic(kafka_admin, extra)  # type: ignore[misc]
    assert parts == 2 and cfg["max.message.bytes"] == "2097152"
    status = obj["status"]
    assert status["topicsReady"] == "3/3"
    assert {t["name"]: t["partitions"] for t in status["topics"]} == {events: 3, dlq: 1, extra: 2}
    assert condition(obj, "TopicsReady")["status"] == "True"  # type: ignore[index]
    out = subprocess.run([os.environ.get("KUBECTL", "kubectl"), "get", "dsp", "-n", namespace],
                         capture_output=True, text=True, check=True).stdout
    print(out)
    assert "p1" in out and "3/3" in out and "ReplicasUnavailable" in out


def test_partitions_grow_and_decrease_is_refused(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_admin: Any,
        kafka_bootstrap: str, operator: OperatorProcess, topic_factory: Any) -> None:
    from kubernetes.dynamic.exceptions import UnprocessibleEntityError

    events = uniq("grow")
    apply(dyn, pipeline("p", namespace, kafka_bootstrap,
                        [{"name": events, "role": "events", "partitions": 1}]))
    wait_until(lambda: ready(kube_api, namespace, "p"), timeout=60, what="Ready")
    apply(dyn, pipeline("p", namespace, kafka_bootstrap,
                        [{"name": events, "role": "events", "partitions": 3}]))
    wait_until(lambda: (broker_topic(kafka_admin, events) or (0,))[0] == 3, timeout=60,
               what="3 partitions on the broker")
    wait_until(lambda: ready(kube_api, namespace, "p"), timeout=60, what="Ready after grow")
    with pytest.raises(UnprocessibleEntityError) as rejected:
        apply(dyn, pipeline("p", namespace, kafka_bootstrap,
                            [{"name": events, "role": "events", "partitions": 2}]))
    assert "partitions cannot be decreased" in str(rejected.value.body)
    # Bypass admission: a topic that already has 3 partitions in Kafka, declared with 2
    # by a new pipeline (no oldSelf to compare with).
    existing = topic_factory("pre", partitions=3)
    apply(dyn, pipeline("q", namespace, kafka_bootstrap,
                        [{"name": existing, "role": "events", "partitions": 2}]))
    cond, _ = wait_until(lambda: reason_is(kube_api, namespace, "q", "TopicsReady",
                                           "PartitionDecreaseRefused"),
                         timeout=60, what="PartitionDecreaseRefused")
    assert "cannot remove partitions" in cond["message"]
    assert broker_topic(kafka_admin, existing)[0] == 3  # type: ignore[index]
    assert operator.alive()


def test_out_of_band_changes_are_put_back(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_admin: Any,
        kafka_bootstrap: str, operator: OperatorProcess) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    events, dlq = uniq("drift"), uniq("drift-dlq")
    apply(dyn, pipeline("p", namespace, kafka_bootstrap, [
        {"name": events, "role": "events", "config": {"retention.ms": "86400000"}},
        {"name": dlq, "role": "dlq"}]))
    wait_until(lambda: ready(kube_api, namespace, "p"), timeout=60, what="Ready")
    res = ConfigResource(ResourceType.TOPIC, events, incremental_configs=[
        ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
    kafka_admin.incremental_alter_configs([res])[res].result(timeout=10)
    kafka_admin.delete_topics([dlq])[dlq].result(timeout=10)
    _, waited = wait_until(
        lambda: (broker_topic(kafka_admin, events) or (0, {}))[1].get("retention.ms")
        == "86400000" and broker_topic(kafka_admin, dlq) is not None,
        timeout=30, what="config and deleted topic restored")
    print(f"config and deleted topic restored {waited:.1f}s after the out-of-band change "
          f"(resync interval {RESYNC}s)")
    wait_until(lambda: ready(kube_api, namespace, "p"), timeout=30, what="Ready again")


def test_a_config_key_removed_from_the_spec_returns_to_the_default(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_admin: Any,
        kafka_bootstrap: str, operator: OperatorProcess) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    events = uniq("keys")
    declared = {"retention.ms": "86400000", "cleanup.policy": "compact"}
    apply(dyn, pipeline("k", namespace, kafka_bootstrap,
                        [{"name": events, "role": "events", "config": declared}]))
    obj = wait_until(lambda: ready(kube_api, namespace, "k"), timeout=60, what="Ready")[0]
    assert obj["status"]["topics"][0]["managedConfig"] == ["cleanup.policy", "retention.ms"]
    # A key someone else sets on the topic is theirs: it must survive the removal below.
    res = ConfigResource(ResourceType.TOPIC, events, incremental_configs=[
        ConfigEntry("segment.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    kafka_admin.incremental_alter_configs([res])[res].result(timeout=10)
    apply(dyn, pipeline("k", namespace, kafka_bootstrap,
                        [{"name": events, "role": "events",
                          "config": {"retention.ms": "86400000"}}]))
    _, waited = wait_until(
        lambda: (broker_topic(kafka_admin, events) or (0, {}))[1].get("cleanup.policy")
        == "delete", timeout=30, what="cleanup.policy back to the broker default")
    obj = wait_until(lambda: ready(kube_api, namespace, "k"), timeout=30, what="Ready")[0]
    print(f"removed key reset {waited:.1f}s after the spec change; managedConfig "
          f"{obj['status']['topics'][0]['managedConfig']}")
    assert obj["status"]["topics"][0]["managedConfig"] == ["retention.ms"]
    configs = broker_topic(kafka_admin, events)[1]  # type: ignore[index]
    assert configs["segment.ms"] == "3600000" and configs["retention.ms"] == "86400000"


def test_invalid_config_and_conflicts_are_reported(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_admin: Any,
        kafka_bootstrap: str, operator: OperatorProcess) -> None:
    bad, shared = uniq("badcfg"), uniq("shared")
    apply(dyn, pipeline("bad", namespace, kafka_bootstrap, [
        {"name": bad, "role": "events", "config": {"retention.ms": "not-a-number"}}]))
    cond, _ = wait_until(lambda: reason_is(kube_api, namespace, "bad", "TopicsReady",
                                           "InvalidTopicConfig"), timeout=60,
                         what="InvalidTopicConfig")
    assert bad in cond["message"]
    apply(dyn, pipeline("first", namespace, kafka_bootstrap,
                        [{"name": shared, "role": "events"}]))
    wait_until(lambda: ready(kube_api, namespace, "first"), timeout=60, what="first Ready")
    # creationTimestamp has one-second resolution: "second" must be younger by it, or the
    # two claims tie and the tie-break (not age) decides.
    created = get_pipeline(kube_api, namespace, "first")["metadata"]["creationTimestamp"]
    wait_until(lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") > created,
               timeout=5, interval=0.05, what="a later second than first's creation")
    apply(dyn, pipeline("second", namespace, kafka_bootstrap,
                        [{"name": shared, "role": "events", "partitions": 4}]))
    cond, _ = wait_until(lambda: reason_is(kube_api, namespace, "second", "TopicsReady",
                                           "TopicConflict"), timeout=60, what="TopicConflict")
    assert f"{namespace}/first" in cond["message"]
    assert broker_topic(kafka_admin, shared)[0] == 1  # type: ignore[index]  # untouched
    assert ready(kube_api, namespace, "first")  # the older claim keeps working
    wait_for_events(kube_api, namespace, "second", ("Warning", "TopicConflict"))


def test_deletion_policies(kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
                           kafka_admin: Any, kafka_bootstrap: str,
                           operator: OperatorProcess, topic_factory: Any) -> None:
    keep, gone, bystander = uniq("keep"), uniq("gone"), topic_factory("bystander")
    custom = client.CustomObjectsApi(kube_api)
    apply(dyn, pipeline("retain", namespace, kafka_bootstrap, [{"name": keep, "role": "events"}]))
    apply(dyn, pipeline("delete", namespace, kafka_bootstrap, [{"name": gone, "role": "events"}],
                        topicDeletionPolicy="Delete"))
    for name in ("retain", "delete"):
        wait_until(partial(ready, kube_api, namespace, name), timeout=60, what=f"{name} Ready")
    retain_obj = get_pipeline(kube_api, namespace, "retain")
    assert not retain_obj["metadata"].get("finalizers")  # Retain needs no finalizer
    wait_until(lambda: get_pipeline(kube_api, namespace, "delete")["metadata"].get("finalizers"),
               timeout=30, what="finalizer on the Delete pipeline")
    for name in ("retain", "delete"):
        custom.delete_namespaced_custom_object("dashstream.io", "v1alpha1", namespace,
                                               "dashstreampipelines", name)

    def both_gone() -> bool:
        items = list_custom(custom, "dashstream.io", "v1alpha1", namespace,
                            "dashstreampipelines")
        return not items

    wait_until(both_gone, timeout=60, what="both pipelines deleted")
    assert broker_topic(kafka_admin, keep) is not None, "Retain topic was deleted"
    wait_until(lambda: broker_topic(kafka_admin, gone) is None, timeout=30,
               what="Delete topic removed")
    assert broker_topic(kafka_admin, bystander) is not None, "an unrelated topic was deleted"
    kafka_admin.delete_topics([keep])
