"""WorkloadsReady and MonitoringReady, from what the Deployments report. Pure.

Nothing is Ready that was not observed: with no kubelet (or no nodes) Deployments
never get ready pods, and the condition says exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dashstream_operator.models import ComponentStatus
from dashstream_operator.reconcile.children import Key, child_key
from dashstream_operator.reconcile.status import ConditionSpec

__all__ = ["monitoring_condition", "workloads_condition"]

COMPONENT_LABEL = "app.kubernetes.io/component"


def workloads_condition(desired: Sequence[Mapping[str, Any]],
                        live: Mapping[Key, Mapping[str, Any]],
                        ) -> tuple[ConditionSpec, list[ComponentStatus]]:
    components: list[ComponentStatus] = []
    waiting: list[str] = []
    for dep in (d for d in desired if d["kind"] == "Deployment"):
        name = dep["metadata"]["labels"].get(COMPONENT_LABEL, dep["metadata"]["name"])
        want = int(dep["spec"].get("replicas", 1))
        seen = live.get(child_key(dep)) or {}
        status = seen.get("status") or {}
        current = status.get("observedGeneration", 0) >= seen.get("metadata", {}).get(
            "generation", 1)
        ready_n = int(status.get("readyReplicas") or 0) if current else 0
        ok = current and ready_n >= want
        components.append(ComponentStatus(name=name, replicas=want, ready_replicas=ready_n,
                                          ready=ok))
        if not ok:
            waiting.append(f"{name} {ready_n}/{want} ready"
                           + ("" if current else " (rollout not yet observed)"))
    if not components:
        return ("WorkloadsReady", "True", "NoComponents", "no component is enabled"), []
    if waiting:
        return ("WorkloadsReady", "False", "ReplicasUnavailable", "; ".join(waiting)), components
    return ("WorkloadsReady", "True", "ReplicasReady",
            f"{len(components)} components ready"), components


def monitoring_condition(enabled: bool, servicemonitor_crd: bool,
                         desired: Sequence[Mapping[str, Any]]) -> ConditionSpec:
    if not enabled:
        return "MonitoringReady", "True", "MonitoringDisabled", "monitoring.serviceMonitor is off"
    if servicemonitor_crd:
        n = sum(d["kind"] == "ServiceMonitor" for d in desired)
        return "MonitoringReady", "True", "ServiceMonitorsApplied", f"{n} ServiceMonitors applied"
    return ("MonitoringReady", "True", "ScrapeAnnotations",
            "the ServiceMonitor CRD is not installed: Services carry prometheus.io/scrape "
            "annotations instead")
