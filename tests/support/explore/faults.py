"""Faults: each takes a real part away, runs one inner step while it is away, and
brings it back. The oracle then judges whether the operator recovered."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from kubernetes import client

from support.env import devenv, etcd_compact
from support.explore.world import World
from support.kube import list_custom, present
from support.wait import wait_until

Step = dict[str, Any] | None


def _during(world: World, step: Step) -> None:
    if step is not None:
        world.do(step)


def operator_kill(world: World, during: Step) -> None:
    """SIGKILL (no cleanup, as an evicted pod), the step, a new process."""
    world.operator_up().kill()
    _during(world, during)
    world.operator_up()


def operator_kill_mid(world: World, during: Step) -> None:
    """The step, then SIGKILL at once: mid-reconcile, between writes that belong
    together (an applied child and its status, a topic altered and its managedConfig)."""
    op = world.operator_up()
    _during(world, during)
    op.kill()
    world.operator_up()


def broker_stop(world: World, during: Step) -> None:
    devenv("stop", "kafka")
    try:
        _during(world, during)
        if any(k == "DashStreamPipeline" for k, _ in world.declared):
            wait_until(lambda: _kafka_unavailable_reported(world), timeout=90,
                       what="a pipeline reporting KafkaUnavailable")
    finally:
        devenv("start", "kafka")


def apiserver_restart(world: World, during: Step) -> None:
    """The operator frozen (SIGSTOP) through an API server restart, the step, and an
    etcd compaction: its watches resume with 410 Gone and relist, and never see the
    step's events — a watch gap only the resync's refresh can heal."""
    op = world.operator_up()
    op.proc.send_signal(signal.SIGSTOP)
    try:
        devenv("stop", "kube-apiserver")
        devenv("start", "kube-apiserver")
        _during(world, during)
        etcd_compact()
    finally:
        op.proc.send_signal(signal.SIGCONT)


def quota(world: World, during: Step) -> None:
    """A ResourceQuota refuses every new ConfigMap while the step happens."""
    core = client.CoreV1Api(world.api)
    count = len(core.list_namespaced_config_map(world.ns).items)
    core.create_namespaced_resource_quota(world.ns, client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="explore-quota"),
        spec=client.V1ResourceQuotaSpec(hard={"count/configmaps": str(count)})))
    try:
        wait_until(lambda: (present(core.read_namespaced_resource_quota(
            "explore-quota", world.ns).status).used or {}).get("count/configmaps"),
            timeout=60, what="the ResourceQuota's usage computed")
        _during(world, during)
        world.operator_up().wait_passes(2)  # at least one pass ran into the quota
    finally:
        core.delete_namespaced_resource_quota("explore-quota", world.ns)


FAULTS: dict[str, Callable[[World, Step], None]] = {
    "operator-kill": operator_kill, "operator-kill-mid": operator_kill_mid,
    "broker-stop": broker_stop,
    "apiserver-restart": apiserver_restart, "quota": quota}


def _kafka_unavailable_reported(world: World) -> bool:
    items = list_custom(client.CustomObjectsApi(world.api), "dashstream.io", "v1alpha1",
                        world.ns, "dashstreampipelines")
    return any(c.get("reason") == "KafkaUnavailable"
               for i in items for c in (i.get("status") or {}).get("conditions") or [])
