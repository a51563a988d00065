"""Pausing a pipeline by annotation (dashstream.io/paused), with the real operator, API
server and broker: nothing is created, repaired or deleted while paused, the status
says so, resuming repairs at once, and deleting a paused Delete-policy pipeline keeps
its topics (the way out when the broker is gone for good)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.events import wait_for_events
from support.kube import apply, list_custom, present
from support.operator import OperatorProcess, run_operator
from support.pipelines import broker_topic, condition, get_pipeline, pipeline
from support.wait import wait_until

RESYNC = 2.0
PAUSE = "dashstream.io/paused"


@pytest.fixture
def operator(namespace: str, crds_installed: list[str], artifacts_dir: Path,
             ) -> Iterator[OperatorProcess]:
    with run_operator([namespace], artifacts_dir / "logs", resync=RESYNC) as op:
        yield op


def _paused_condition(api: client.ApiClient, ns: str, name: str) -> dict[str, Any] | None:
    return condition(get_pipeline(api, ns, name), "ReconcilePaused")


def _replicas(apps: client.AppsV1Api, ns: str, name: str) -> int | None:
    return present(apps.read_namespaced_deployment(name, ns).spec).replicas


def test_a_paused_pipeline_is_left_alone_and_resumes(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_bootstrap: str,
        kafka_admin: Any, operator: OperatorProcess) -> None:
    apps = client.AppsV1Api(kube_api)
    events, later = f"pause-{namespace}", f"pause-{namespace}-later"
    body = pipeline("paused", namespace, kafka_bootstrap,
                    [{"name": events, "role": "events"}], topicDeletionPolicy="Delete")
    apply(dyn, body)
    wait_until(lambda: _replicas(apps, namespace, "paused-websocket-server") == 1
               and condition(get_pipeline(kube_api, namespace, "paused"), "Ready"), timeout=60,
               what="children created and a first status written")

    body["metadata"]["annotations"] = {PAUSE: "true"}
    apply(dyn, body)
    cond, took = wait_until(lambda: (c := _paused_condition(kube_api, namespace, "paused"))
                            and c["status"] == "True" and c, timeout=30,
                            what="ReconcilePaused=True")
    print(f"paused: ReconcilePaused reported {took:.2f}s after the annotation: "
          f"{cond['message']}")
    # The other conditions stay as last observed (not removed, not recomputed).
    assert condition(get_pipeline(kube_api, namespace, "paused"), "Ready") is not None
    # While paused: a hand edit stays, and a new topic in the spec is not created.
    apps.patch_namespaced_deployment("paused-websocket-server", namespace,
                                     {"spec": {"replicas": 4}})
    body["spec"]["topics"].append({"name": later, "role": "dlq"})
    apply(dyn, body)
    operator.wait_passes(3)  # three passes that saw the edit and the new topic
    assert _replicas(apps, namespace, "paused-websocket-server") == 4, "repaired while paused"
    assert broker_topic(kafka_admin, later) is None, "a topic was created while paused"

    # Resuming: the annotation's removal is acted on at once, not at the next pass.
    del body["metadata"]["annotations"]
    apply(dyn, body)
    _, took = wait_until(lambda: _replicas(apps, namespace, "paused-websocket-server") == 1
                         and broker_topic(kafka_admin, later) is not None, timeout=30,
                         what="hand edit put back and new topic created after resuming")
    wait_until(lambda: _paused_condition(kube_api, namespace, "paused") is None, timeout=30,
               what="ReconcilePaused gone")
    print(f"resumed: replicas put back and topic {later} created after {took:.2f}s")

    # Deleting a paused pipeline keeps its topics even under topicDeletionPolicy Delete.
    body["metadata"]["annotations"] = {PAUSE: "true"}
    apply(dyn, body)
    wait_until(lambda: (c := _paused_condition(kube_api, namespace, "paused"))
               and c["status"] == "True", timeout=30, what="paused again")
    client.CustomObjectsApi(kube_api).delete_namespaced_custom_object(
        "dashstream.io", "v1alpha1", namespace, "dashstreampipelines", "paused")
    wait_for_events(kube_api, namespace, "paused", ("Normal", "TopicsKept"))
    wait_until(lambda: not list_custom(client.CustomObjectsApi(kube_api), "dashstream.io",
                                       "v1alpha1", namespace, "dashstreampipelines"),
               timeout=30, what="the paused pipeline deleted (finalizer released)")
    assert broker_topic(kafka_admin, events) is not None
    assert broker_topic(kafka_admin, later) is not None
    kafka_admin.delete_topics([events, later], operation_timeout=30)
