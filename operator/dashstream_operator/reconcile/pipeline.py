"""One DashStreamPipeline: topics (Kafka), children (Kubernetes), status — in that order.

Returns what the handler must do (status patch, Events, retry) instead of doing kopf
things itself, so this stays testable and kopf-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dashstream_operator.defaults import default_workload_image
from dashstream_operator.k8s import Kube
from dashstream_operator.kafka.admin import AdminPool
from dashstream_operator.models import DashStreamPipelineSpec, DashStreamPipelineStatus
from dashstream_operator.models.pipeline import MAX_SETTINGS_NOTES
from dashstream_operator.reconcile.children import (
    CHILD_CONFLICT,
    ChildCache,
    repair_events,
    sync_children,
)
from dashstream_operator.reconcile.pause import without_pause
from dashstream_operator.reconcile.selection import SelectionCheck
from dashstream_operator.reconcile.status import (
    MAX_MESSAGE,
    ConditionSpec,
    apply_conditions,
    as_specs,
    ready_of,
    status_patch,
)
from dashstream_operator.reconcile.topics import (
    KAFKA_UNAVAILABLE,
    Claim,
    TopicsOutcome,
    reconcile_topics,
)
from dashstream_operator.reconcile.workloads import monitoring_condition, workloads_condition

__all__ = ["DEFAULT_IMAGE", "PipelineResult", "current_topics", "reconcile_pipeline",
           "reconcile_pipeline_topics"]

DEFAULT_IMAGE = default_workload_image()
SERVICEMONITOR_CRD = "servicemonitors.monitoring.coreos.com"


@dataclass
class PipelineResult:
    patch: dict[str, Any] | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, msg)
    retry: str | None = None  # message of a transient failure worth retrying soon


def reconcile_pipeline_topics(body: Mapping[str, Any], spec: DashStreamPipelineSpec,
                              kube: Kube, pool: AdminPool,
                              claims: Mapping[str, Iterable[Claim]]) -> TopicsOutcome:
    """The Kafka half; may take a Kafka timeout, so callers run it outside the object
    lock that the children half (drift repair) needs."""
    meta = body["metadata"]
    managed = {t.name: t.managed_config or []
               for t in DashStreamPipelineStatus.from_body(body).topics or []}
    return reconcile_topics(spec, meta["uid"], claims, pool,
                            lambda ref: kube.read_secret(meta["namespace"], ref), managed)


def current_topics(topics: TopicsOutcome | None, computed_for: int | None,
                   body: Mapping[str, Any]) -> TopicsOutcome | None:
    """``topics`` if it was computed for the generation ``body`` has now, else None: a
    result observed for an older spec must not be reported as the newer spec's (the
    newer spec's own reconcile reports it)."""
    if topics is None or body["metadata"].get("generation") != computed_for:
        return None
    return topics


def reconcile_pipeline(body: Mapping[str, Any], spec: DashStreamPipelineSpec, kube: Kube,
                       children: ChildCache, topics: TopicsOutcome | None,
                       selection: SelectionCheck | None = None) -> PipelineResult:
    """``topics`` None: leave the topic status alone (a child changed; Kafka is the
    resync's job). ``selection``: the Prometheus objects that may select our
    ServiceMonitors (None: not known)."""
    meta = body["metadata"]
    ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
    generation = meta.get("generation")
    old = DashStreamPipelineStatus.from_body(body)
    result = PipelineResult()
    updates: list[ConditionSpec] = []
    extra: dict[str, Any] = {}

    if topics is not None:
        before = old.condition("TopicsReady")
        if topics.reason == KAFKA_UNAVAILABLE and before is not None and \
                before.reason == KAFKA_UNAVAILABLE:
            # The client's error text varies from try to try; while the outage lasts
            # the status keeps the first words, so nothing is written on each retry.
            topics.message = before.message
        updates.append(("TopicsReady", topics.status, topics.reason, topics.message[:MAX_MESSAGE]))
        extra |= {"topics": topics.topics,
                  "topics_ready": f"{topics.ready_count}/{len(topics.topics)}"}
        if before is None or (before.reason, before.message) != (topics.reason, topics.message):
            result.events += [("Warning", r, m[:1024]) for r, m in topics.warnings]
        result.events += _kafka_transition(before.reason if before else None, topics)
        if topics.plan and topics.reason != "KafkaUnavailable" and \
                old.observed_generation == generation:
            # The spec did not change, yet Kafka needed changes: someone altered it.
            result.events.append(("Normal", "TopicsRepaired", "; ".join(topics.plan)[:1024]))
        if topics.retry:
            result.retry = topics.message

    from dashstream_operator.render import render_pipeline_children, settings_problems

    sm_crd = kube.has_crd(SERVICEMONITOR_CRD)
    desired = render_pipeline_children(name, ns, uid, spec, default_image=DEFAULT_IMAGE,
                                       servicemonitor_crd=sm_crd)
    synced = sync_children(kube, children, desired, ns, uid)
    spec_unchanged = old.observed_generation == generation
    result.events += repair_events(synced, body)
    workloads, components = workloads_condition(desired, synced.live)
    if synced.conflicts:
        message = synced.conflict_message()
        workloads = ("WorkloadsReady", "False", CHILD_CONFLICT, message[:MAX_MESSAGE])
        before = old.condition("WorkloadsReady")
        if before is None or before.reason != CHILD_CONFLICT:
            result.events.append(("Warning", CHILD_CONFLICT, message[:1024]))
    elif synced.failed:
        message = "; ".join(synced.failed)
        workloads = ("WorkloadsReady", "False", "ApplyFailed", message[:MAX_MESSAGE])
        before = old.condition("WorkloadsReady")
        if before is None or before.reason != "ApplyFailed":
            result.events.append(("Warning", "ApplyFailed", message[:1024]))
        result.retry = result.retry or message
    monitoring = monitoring_condition(spec.resolved_service_monitor().enabled, sm_crd, desired,
                                      selection or SelectionCheck())
    updates += [workloads, monitoring]
    before = old.condition("MonitoringReady")
    # One Event when the verdict turns, not one per change of its wording (which names
    # other Prometheus objects: one of them changing would otherwise post an Event on
    # every pipeline of the cluster).
    if monitoring[1] == "False" and (before is None or before.reason != monitoring[2]):
        result.events.append(("Warning", monitoring[2], monitoring[3][:1024]))
    notes = [n[:512] for n in settings_problems(name, ns, spec)][:MAX_SETTINGS_NOTES]
    extra |= {"components": components or None,
              "components_ready": f"{sum(c.ready for c in components)}/{len(components)}",
              "settings_notes": notes or None}
    if notes and (not spec_unchanged or old.settings_notes != notes):
        ignored = any(": ignored," in n for n in notes)
        result.events.append(("Warning", "SettingsIgnored" if ignored else "UnknownSettings",
                              "; ".join(notes)[:1024]))

    now = datetime.now(UTC).replace(microsecond=0)
    conditions = apply_conditions(without_pause(old.conditions), updates, generation, now)
    conditions = apply_conditions(conditions, [ready_of(as_specs(conditions))], generation, now)
    # observedGeneration says the whole spec was reconciled: a reconcile of the children
    # alone (a child's event) does not advance it past what Kafka was reconciled for.
    observed = generation if topics is not None else old.observed_generation
    new = old.model_copy(update={"observed_generation": observed, "conditions": conditions,
                                 **extra})
    result.patch = status_patch(body.get("status"), new)
    return result


def _kafka_transition(before: str | None, topics: TopicsOutcome) -> list[tuple[str, str, str]]:
    """One Event when Kafka becomes unreachable and one when it answers again; nothing
    while an outage lasts (the condition says it, and retries are the resync's)."""
    if topics.reason == KAFKA_UNAVAILABLE and before != KAFKA_UNAVAILABLE:
        return [("Warning", KAFKA_UNAVAILABLE, topics.message[:1024])]
    if before == KAFKA_UNAVAILABLE and topics.reason != KAFKA_UNAVAILABLE:
        return [("Normal", "KafkaAvailable", "Kafka answers again: " + topics.message)]
    return []
