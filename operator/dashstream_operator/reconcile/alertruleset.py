"""One AlertRuleSet: read the rules, validate them, sync the targets, report.

All or nothing: a generation is synced only when every rule is valid (and, with
``unknownMetrics: Reject``, every metric is known). Otherwise the targets keep the
*last valid content* untouched: Prometheus keeps evaluating the previous version of
every rule, including the one being edited (syncing only the valid rules would
silently drop that alert, or a recording rule other rules read), and one bad rule
can never break Prometheus' reload of the others. The last
valid content is held in memory per object and, after an operator restart, taken
from the live children when their content still matches its hash annotation.

Returns what the handler must do (status patch, Events) instead of doing kopf
things itself, so this stays testable and kopf-free.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from kubernetes import client

from dashstream_operator.k8s import Kube
from dashstream_operator.models import AlertRuleSetSpec, AlertRuleSetStatus, Condition
from dashstream_operator.models.alertruleset import InvalidRule, UnknownMetric
from dashstream_operator.reconcile.children import (
    CHILD_CONFLICT,
    ChildCache,
    ChildrenOutcome,
    repair_events,
    sync_children,
)
from dashstream_operator.reconcile.pause import without_pause
from dashstream_operator.reconcile.selection import SelectionCheck
from dashstream_operator.reconcile.status import (
    MAX_MESSAGE,
    ConditionSpec,
    apply_conditions,
    ready_of,
    status_patch,
)
from dashstream_operator.render.rules import PROMETHEUSRULE, last_synced, render_rule_children
from dashstream_operator.validation.rules import (
    RuleError,
    RulesReport,
    load_rule_file,
    validate_groups,
)

__all__ = ["LastValid", "RuleSetResult", "read_source", "reconcile_alertruleset"]

MAX_ITEMS = 256  # status list bounds (CRD maxItems)
# Synced=False for these reasons repeats Valid/MetricsResolved: one Event is enough.
_EXPLAINED_ELSEWHERE = ("InvalidRules", "UnknownMetrics", "SourceNotFound")
Objects = list[dict[str, Any]]


@dataclass
class RuleSetResult:
    patch: dict[str, Any] | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, msg)
    retry: str | None = None  # a transient failure (a child the API server refused)


class LastValid:
    """uid -> (generation, children) of the last content that passed validation."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[int, Objects]] = {}
        self._lock = threading.Lock()

    def get(self, uid: str) -> tuple[int, Objects] | None:
        with self._lock:
            return self._items.get(uid)

    def put(self, uid: str, generation: int, objects: Objects) -> None:
        with self._lock:
            self._items[uid] = (generation, objects)

    def forget(self, uid: str) -> None:
        with self._lock:
            self._items.pop(uid, None)


@lru_cache(maxsize=16)
def _known(components: tuple[str, ...]) -> Mapping[str, Any]:
    from dashstream_workloads.contract import known_series

    return known_series(components)


def read_source(spec: AlertRuleSetSpec, kube: Kube, namespace: str
                ) -> tuple[list[Any], list[RuleError], str | None]:
    """(groups, file-level errors, why the source cannot be read) of ``spec``."""
    if spec.groups is not None:
        return [g.model_dump(mode="json", by_alias=True, exclude_none=True)
                for g in spec.groups], [], None
    assert spec.groups_from is not None  # the model guarantees exactly one source
    ref = spec.groups_from.config_map_key_ref
    try:
        cm = kube.core.read_namespaced_config_map(ref.name, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return [], [], f"ConfigMap {namespace}/{ref.name} (spec.groupsFrom) not found"
        raise
    data = cm.data or {}
    if ref.key not in data:
        return [], [], f"ConfigMap {namespace}/{ref.name} has no key {ref.key!r}"
    groups, errors = load_rule_file(data[ref.key])
    return groups, errors, None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _short(items: Sequence[str], limit: int = 5) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def _conditions(report: RulesReport, missing: str | None, reject: bool,
                components: Sequence[str]) -> list[ConditionSpec]:
    if missing:
        return [("Valid", "False", "SourceNotFound", missing),
                ("MetricsResolved", "Unknown", "SourceNotFound", missing)]
    bad = report.rules - report.usable_rules(reject_unknown=False)
    if report.errors:
        lines = [f"{e.group}/{e.rule}: {e.reason}" for e in report.errors]
        valid = ("Valid", "False", "InvalidRules",
                 f"{_count(len(report.errors), 'problem')} in {bad} of {report.rules} rules: "
                 f"{_short(lines)}")
    else:
        valid = ("Valid", "True", "Valid",
                 f"{report.rules} rules in {report.groups} groups are valid")
    who = ", ".join(components)
    if report.unknown_metrics:
        names = sorted({f"{u.metric} ({u.group}/{u.rule})" for u in report.unknown_metrics})
        policy = "Reject: not synced" if reject else "Warn: synced anyway"
        metrics = ("MetricsResolved", "False", "UnknownMetrics",
                   f"{_count(len(names), 'selector')} match nothing exported by {who} "
                   "(unknownMetrics: "
                   f"{policy}): {_short(names)}")
    else:
        metrics = ("MetricsResolved", "True", "MetricsResolved",
                   f"every selected metric is exported by {who}, recorded by this set or "
                   "standard")
    return [valid, metrics]


def _blocked(report: RulesReport, missing: str | None, reject: bool) -> tuple[str, str] | None:
    if missing:
        return "SourceNotFound", missing
    if report.errors:
        return "InvalidRules", "invalid rules"
    if reject and report.unknown_metrics:
        return "UnknownMetrics", "unknown metrics (unknownMetrics: Reject)"
    return None


def _names(objects: Objects, kind: str) -> list[str]:
    return [o["metadata"]["name"] for o in objects if o["kind"] == kind]


def _synced(objects: Objects | None, generation: int | None, blocked: tuple[str, str] | None,
            current: int | None, crd_missing: bool) -> ConditionSpec:
    where = ", ".join(f"{o['kind']} {o['metadata']['name']}" for o in objects or []) or \
        "no target"
    if blocked is None and crd_missing:
        return ("Synced", "False", "PrometheusRuleCRDMissing",
                f"generation {generation} synced to {where}; no PrometheusRule: its CRD "
                f"({PROMETHEUSRULE[0]}) is not installed")
    if blocked is None:
        return "Synced", "True", "Synced", f"generation {generation} synced to {where}"
    reason, why = blocked
    if objects is None:
        return ("Synced", "False", reason, f"generation {current} is not synced ({why}) and no "
                "valid generation is known: the targets are left as they are")
    return ("Synced", "False", reason,
            f"generation {current} is not synced ({why}); kept generation {generation} in "
            f"{where}")


def _selected(objects: Objects | None, check: SelectionCheck) -> ConditionSpec:
    """A synced PrometheusRule that no Prometheus selects evaluates nothing."""
    if not any(o["kind"] == PROMETHEUSRULE[1] for o in objects or []):
        return ("Selected", "True", "NoPrometheusRule",
                "no PrometheusRule is synced: nothing for a Prometheus to select")
    status, reason, message = check.summary(PROMETHEUSRULE[1], objects or [])
    return "Selected", status, reason, message[:MAX_MESSAGE]


def _changed(old: Condition | None, new: ConditionSpec) -> bool:
    if new[0] == "Selected":  # its wording names other Prometheus objects (see pipeline)
        return old is None or (old.status, old.reason) != new[1:3]
    return old is None or (old.status, old.reason, old.message) != new[1:]


def _events(body: Mapping[str, Any], old: AlertRuleSetStatus,
            updates: Sequence[ConditionSpec],
            outcome: ChildrenOutcome | None, drift: bool) -> list[tuple[str, str, str]]:
    events = [("Warning", reason, message[:1024]) for type_, status, reason, message in updates
              if status == "False" and type_ in ("Valid", "MetricsResolved", "Synced", "Selected")
              and _changed(old.condition(type_), (type_, status, reason, message))
              and not (type_ == "Synced" and reason in _EXPLAINED_ELSEWHERE)]
    if outcome is not None:
        repaired = repair_events(outcome, body) if drift else []
        events += repaired
        if outcome.wrote and not repaired:  # a new generation, or its source changed
            done = [*(f"created {c}" for c in outcome.created),
                    *(f"updated {c}" for c in outcome.changed),
                    *(f"pruned {c}" for c in outcome.pruned)]
            events.append(("Normal", "RulesSynced", ", ".join(done)[:1024]))
    return events


def reconcile_alertruleset(body: Mapping[str, Any], spec: AlertRuleSetSpec, kube: Kube,
                           children: ChildCache, store: LastValid,
                           drift: bool = True,
                           selection: SelectionCheck | None = None) -> RuleSetResult:
    """Validate, then sync the current generation or keep the last valid one; report.
    ``drift`` False: the rule source changed, so a write it causes is no repair.
    ``selection``: the Prometheus objects that may select the PrometheusRule."""
    meta = body["metadata"]
    ns, name, uid, generation = meta["namespace"], meta["name"], meta["uid"], \
        meta.get("generation")
    old = AlertRuleSetStatus.from_body(body)
    policy = spec.resolved_validation().resolved()
    reject = policy.unknown_metrics == "Reject"
    groups, source_errors, missing = read_source(spec, kube, ns)
    report = validate_groups(groups, _known(tuple(policy.components)),
                             required_labels=policy.required_labels)
    report.errors[:0] = source_errors
    targets = spec.resolved_targets(name)
    want_pr = targets.prometheus_rule_name is not None
    pr_crd = want_pr and kube.has_kind(*PROMETHEUSRULE)
    explicit_pr = spec.targets is not None and spec.targets.prometheus_rule is not None
    blocked = _blocked(report, missing, reject)
    objects: Objects | None = None
    synced_generation: int | None = generation
    if blocked is None:
        rendered = render_rule_children(name, ns, uid, generation, groups, targets,
                                        prometheus_rule_crd=pr_crd)
        if rendered.too_large:
            blocked = ("TooLarge", _short(rendered.too_large))
        else:
            objects = rendered.objects
            store.put(uid, generation or 0, objects)
    if blocked is not None:
        last = store.get(uid) or last_synced(children.of_owner(ns, uid))
        if last is not None:
            store.put(uid, *last)
        synced_generation, objects = last if last is not None else (None, None)
    outcome = sync_children(kube, children, objects, ns, uid) if objects is not None else None

    updates = _conditions(report, missing, reject, policy.components)
    if outcome is not None and outcome.conflicts:
        updates.append(("Synced", "False", CHILD_CONFLICT, outcome.conflict_message()))
    elif outcome is not None and outcome.failed:
        updates.append(("Synced", "False", "ApplyFailed", "; ".join(outcome.failed)))
    else:
        updates.append(_synced(objects, synced_generation, blocked, generation,
                               explicit_pr and not pr_crd))
    updates.append(_selected(objects, selection or SelectionCheck()))
    updates.append(ready_of(updates, tolerated=() if reject else ("MetricsResolved",)))
    now = datetime.now(UTC).replace(microsecond=0)
    conditions = apply_conditions(without_pause(old.conditions), updates, generation, now)
    invalid = [InvalidRule(group=e.group, rule=e.rule, reason=e.reason[:4096])
               for e in report.errors][:MAX_ITEMS]
    unknown = [UnknownMetric(group=u.group, rule=u.rule, metric=u.metric[:256])
               for u in report.unknown_metrics][:MAX_ITEMS]
    extra: dict[str, Any] = {
        "rules": None if missing else report.rules,
        "rules_valid": None if missing else
        f"{report.usable_rules(reject_unknown=reject)}/{report.rules}",
        "invalid_rules": invalid or None, "unknown_metrics": unknown or None}
    if objects is not None:
        extra["config_maps"] = _names(objects, "ConfigMap") or None
        extra["prometheus_rule"] = ",".join(_names(objects, PROMETHEUSRULE[1]))[:253] or None
    new = old.model_copy(update={"observed_generation": generation, "conditions": conditions,
                                 **extra})
    events = _events(body, old, updates, outcome, drift)
    return RuleSetResult(patch=status_patch(body.get("status"), new), events=events,
                         retry="; ".join(outcome.failed) if outcome and outcome.failed else None)
