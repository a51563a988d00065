"""WorkloadsReady and MonitoringReady, from what the Deployments report. Pure.

Nothing is Ready that was not observed: with no kubelet (or no nodes) Deployments
never get ready pods, and the condition says exactly that; a rollout counts only once
every replica runs the current template (a failed one is ``RolloutFailed``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashstream_operator.models import ComponentStatus
from dashstream_operator.reconcile.children import Key, child_key
from dashstream_operator.reconcile.selection import SelectionCheck
from dashstream_operator.reconcile.status import MAX_MESSAGE, ConditionSpec

__all__ = ["Rollout", "monitoring_condition", "rollout_state", "workloads_condition"]

COMPONENT_LABEL = "app.kubernetes.io/component"


@dataclass(frozen=True)
class Rollout:
    ready_replicas: int
    complete: bool
    detail: str = ""  # what the rollout still lacks, when that is more than ready pods
    failed: bool = False


def rollout_state(want: int, seen: Mapping[str, Any]) -> Rollout:
    """A Deployment read as `kubectl rollout status` reads it: the old ReplicaSet's pods
    stay Ready while a new, crash-looping one never does, so readyReplicas alone would
    call a broken rollout Ready."""
    status = seen.get("status") or {}
    if status.get("observedGeneration", 0) < seen.get("metadata", {}).get("generation", 1):
        return Rollout(0, False, "rollout not yet observed")
    ready = int(status.get("readyReplicas") or 0)
    progressing: Mapping[str, Any] = next((c for c in status.get("conditions") or []
                                           if c.get("type") == "Progressing"), {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Rollout(ready, False, "rollout failed: "
                       + (progressing.get("message") or "progress deadline exceeded"), True)
    updated = int(status.get("updatedReplicas") or 0)
    if updated < want:
        return Rollout(ready, False, f"rollout: {updated} of {want} updated")
    old = int(status.get("replicas") or 0) - updated
    if old > 0:
        return Rollout(ready, False, f"rollout: {old} old replicas still running")
    available = int(status.get("availableReplicas") or 0)
    return Rollout(ready, ready >= want and available >= updated)


def workloads_condition(desired: Sequence[Mapping[str, Any]],
                        live: Mapping[Key, Mapping[str, Any]],
                        ) -> tuple[ConditionSpec, list[ComponentStatus]]:
    components: list[ComponentStatus] = []
    waiting: list[str] = []
    failed = False
    for dep in (d for d in desired if d["kind"] == "Deployment"):
        name = dep["metadata"]["labels"].get(COMPONENT_LABEL, dep["metadata"]["name"])
        want = int(dep["spec"].get("replicas", 1))
        rollout = rollout_state(want, live.get(child_key(dep)) or {})
        failed = failed or rollout.failed
        components.append(ComponentStatus(name=name, replicas=want,
                                          ready_replicas=rollout.ready_replicas,
                                          ready=rollout.complete))
        if not rollout.complete:
            waiting.append(f"{name} {rollout.ready_replicas}/{want} ready"
                           + (f" ({rollout.detail})" if rollout.detail else ""))
    if not components:
        return ("WorkloadsReady", "True", "NoComponents", "no component is enabled"), []
    if waiting:
        reason = "RolloutFailed" if failed else "ReplicasUnavailable"
        return ("WorkloadsReady", "False", reason, "; ".join(waiting)), components
    return ("WorkloadsReady", "True", "ReplicasReady",
            f"{len(components)} components ready"), components


def monitoring_condition(enabled: bool, servicemonitor_crd: bool,
                         desired: Sequence[Mapping[str, Any]],
                         check: SelectionCheck) -> ConditionSpec:
    """Applied is not enough: whether a Prometheus selects the ServiceMonitors is what
    decides if anything is scraped (``NotSelected`` otherwise)."""
    if not enabled:
        return "MonitoringReady", "True", "MonitoringDisabled", "monitoring.serviceMonitor is off"
    if servicemonitor_crd:
        status, reason, message = check.summary("ServiceMonitor", desired)
        if reason == "SelectionUnknown":
            n = sum(d["kind"] == "ServiceMonitor" for d in desired)
            message = f"{n} ServiceMonitors applied; {message}"
        return "MonitoringReady", status, reason, message[:MAX_MESSAGE]
    return ("MonitoringReady", "True", "ScrapeAnnotations",
            "the ServiceMonitor CRD is not installed: Services carry prometheus.io/scrape "
            "annotations instead")
