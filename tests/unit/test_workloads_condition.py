"""WorkloadsReady from what the Deployments report (pure): a rollout counts only when
every replica runs the current template, as `kubectl rollout status` decides."""

from __future__ import annotations

from typing import Any

import pytest

from dashstream_operator.reconcile.children import child_key
from dashstream_operator.reconcile.workloads import rollout_state, workloads_condition


def _desired(component: str, replicas: int = 1) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"p-{component}", "namespace": "ns",
                         "labels": {"app.kubernetes.io/component": component}},
            "spec": {"replicas": replicas}}


def _live(generation: int = 2, observed: int = 2, **status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": generation},
            "status": {"observedGeneration": observed, **status}}


DONE = {"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}


@pytest.mark.parametrize(("status", "complete", "detail"), [
    (DONE, True, ""),
    # The case readyReplicas alone gets wrong: the old pod is Ready, the new one is not.
    ({"replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2},
     False, "rollout: 1 of 2 updated"),
    ({"replicas": 3, "updatedReplicas": 2, "readyReplicas": 3, "availableReplicas": 3},
     False, "rollout: 1 old replicas still running"),
    ({"replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1},
     False, ""),
    ({"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 1},
     False, ""),
    ({}, False, "rollout: 0 of 2 updated"),
], ids=["complete", "new-pod-not-ready", "old-pod-still-running", "one-not-ready",
        "not-yet-available", "no-status"])
def test_rollout_state(status: dict[str, Any], complete: bool, detail: str) -> None:
    rollout = rollout_state(2, _live(**status))
    assert (rollout.complete, rollout.detail, rollout.failed) == (complete, detail, False)
    assert rollout.ready_replicas == status.get("readyReplicas", 0)


def test_a_generation_not_yet_observed_counts_nothing_ready() -> None:
    rollout = rollout_state(2, _live(generation=3, observed=2, **DONE))
    assert (rollout.complete, rollout.ready_replicas, rollout.detail) == (
        False, 0, "rollout not yet observed")


def test_a_failed_rollout_is_reported_as_failed_not_waiting() -> None:
    stuck = _live(replicas=2, updatedReplicas=1, readyReplicas=1, availableReplicas=1,
                  conditions=[{"type": "Progressing", "status": "False",
                               "reason": "ProgressDeadlineExceeded",
                               "message": 'ReplicaSet "p-ws-7d" has timed out progressing.'}])
    desired = [_desired("websocket-server", 2), _desired("prometheus-exporter")]
    live = {child_key(desired[0]): stuck,
            child_key(desired[1]): _live(replicas=1, updatedReplicas=1, readyReplicas=1,
                                         availableReplicas=1)}
    (ctype, status, reason, message), components = workloads_condition(desired, live)
    assert (ctype, status, reason) == ("WorkloadsReady", "False", "RolloutFailed")
    assert message == ('websocket-server 1/2 ready (rollout failed: ReplicaSet "p-ws-7d" has '
                       'timed out progressing.)')
    assert [(c.name, c.ready, c.ready_replicas) for c in components] == [
        ("websocket-server", False, 1), ("prometheus-exporter", True, 1)]


def test_all_rolled_out_is_ready_and_a_missing_deployment_waits() -> None:
    desired = [_desired("websocket-server", 2), _desired("quality-monitor")]
    cond, _ = workloads_condition(desired, {child_key(desired[0]): _live(**DONE)})
    assert cond[:3] == ("WorkloadsReady", "False", "ReplicasUnavailable")
    assert cond[3] == "quality-monitor 0/1 ready (rollout not yet observed)"
    live = {child_key(desired[0]): _live(**DONE),
            child_key(desired[1]): _live(replicas=1, updatedReplicas=1, readyReplicas=1,
                                         availableReplicas=1)}
    assert workloads_condition(desired, live)[0] == (
        "WorkloadsReady", "True", "ReplicasReady", "2 components ready")
    assert workloads_condition([], {})[0][2] == "NoComponents"
