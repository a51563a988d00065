"""One DashboardSet: decode, validate, settle uid conflicts, render, apply, report.

Kopf-free (returns the status patch and Events). Per dashboard: decode, validate (JSON,
PromQL, metrics vs the contract and recording rules), settle its uid with the set and
the namespace's other sets (the oldest claimant wins), check it fits one object. Valid
ones are synced; an invalid one keeps the version it last synced (a typo must not make
a dashboard vanish from Grafana); a uid-conflict loser keeps nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import urllib3
from kubernetes.client import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from dashstream_operator.k8s import Kube
from dashstream_operator.models import (
    DashboardSetSpec,
    DashboardSpec,
    ResolvedDashboardTargets,
)
from dashstream_operator.reconcile.children import (
    CHILD_CONFLICT,
    ChildCache,
    child_key,
    controlled_by,
    repair_events,
    sync_children,
)
from dashstream_operator.reconcile.compare import holds
from dashstream_operator.reconcile.dashboardset_status import CONFLICT, Outcome, build_status
from dashstream_operator.reconcile.status import ConditionSpec
from dashstream_operator.render import dashboards as rd
from dashstream_operator.render.dashboards import GRAFANA_DASHBOARD, DashboardPayload, Owner
from dashstream_operator.validation.dashboards import validate_dashboard
from dashstream_workloads.contract import known_series

__all__ = ["CONFLICT", "DashboardSetResult", "UidClaim", "claim_of", "reconcile_dashboardset"]


@dataclass(frozen=True)
class UidClaim:
    """The dashboard uids one DashboardSet declares and has synced, from its status."""

    name: str
    set_uid: str
    created: str
    declared: frozenset[str] = frozenset()
    synced: frozenset[str] = frozenset()
    conflicted: bool = False

    def rank(self, uid: str) -> tuple[str, int, str]:
        """Older first; same-second ties: the set that already synced it; then uid."""
        return self.created, 0 if uid in self.synced else 1, self.set_uid


def claim_of(body: Mapping[str, Any]) -> UidClaim:
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    entries = [d for d in status.get("dashboards") or [] if isinstance(d, dict) and d.get("uid")]
    return UidClaim(str(meta.get("name", "")), str(meta.get("uid", "")),
                    str(meta.get("creationTimestamp", "")), frozenset(d["uid"] for d in entries),
                    frozenset(d["uid"] for d in entries if d.get("synced")),
                    any(str(e).startswith(CONFLICT)
                        for d in entries for e in d.get("errors") or []))


@dataclass
class DashboardSetResult:
    patch: dict[str, Any] | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, msg)
    retry: str | None = None


def _evaluate(d: DashboardSpec, spec: DashboardSetSpec, read_cm: Callable[[str], Any],
              known: Mapping[str, object], recorded: frozenset[str], reject: bool) -> Outcome:
    out = Outcome(d.name)
    try:
        ref = d.config_map_key_ref
        raw = rd.decode_source(d, read_cm(ref.name) if ref else None)
        obj = rd.parse_dashboard(raw)
    except rd.SourceError as exc:
        out.invalid = "SourceError"
        out.fail("SourceError", str(exc))
        return out
    report = validate_dashboard(obj, known, recorded)
    out.uid, out.title, out.panels = report.uid, report.title, report.panels
    out.payload = rd.bind_datasource(raw, obj, spec.datasource)
    out.unknown = list(report.unknown_metrics)
    for error in report.errors:
        out.invalid = "InvalidDashboard"
        out.fail("InvalidDashboard", error)
    if out.unknown and reject:
        out.problem = out.problem or "UnknownMetrics"
    return out


def _settle_uids(outcomes: Sequence[Outcome], me: UidClaim, peers: Sequence[UidClaim]) -> None:
    first: dict[str, str] = {}
    for o in outcomes:
        if not o.uid:
            continue
        if o.uid in first:
            o.conflict, o.problem = True, CONFLICT  # the reason it is not synced at all
            o.errors.append(f"{CONFLICT}: uid {o.uid!r} is also used by dashboard "
                            f"{first[o.uid]!r} of this set, which keeps it")
            continue
        first[o.uid] = o.name
        rivals = [p for p in peers if o.uid in p.declared and p.set_uid != me.set_uid]
        winner = min([me, *rivals], key=lambda c: c.rank(o.uid))
        if winner is not me:
            o.conflict, o.problem = True, CONFLICT
            o.errors.append(f"{CONFLICT}: uid {o.uid!r} is also used by DashboardSet "
                            f"{winner.name!r}, which is older (or synced it first) and keeps it")


def _kept_children(o: Outcome, owner: Owner, targets: ResolvedDashboardTargets,
                   folder: str | None, grafana: bool, cache: ChildCache) -> list[dict[str, Any]]:
    """Re-render the version a child of ``o`` last synced (each target from its own copy)."""
    out = []
    name = rd.child_name(owner.name, o.name)
    for kind, api_version, on in (("ConfigMap", "v1", targets.sidecar),
                                  (GRAFANA_DASHBOARD[1], GRAFANA_DASHBOARD[0], grafana)):
        live = cache.get((api_version, kind, owner.namespace, name)) if on else None
        if live is None or not any(r.get("uid") == owner.uid
                                   for r in live["metadata"].get("ownerReferences") or []):
            continue
        held = rd.payload_of_child(live)
        if held is not None:
            one = replace(targets, sidecar=kind == "ConfigMap",
                          grafana_operator=kind != "ConfigMap")
            out += rd.render_dashboard_children(owner, [DashboardPayload(o.name, *held)], one,
                                             folder, grafana)
            o.kept = True
    return out


def _recreate_immutable(kube: Kube, cache: ChildCache, desired: Sequence[Mapping[str, Any]],
                        owner_uid: str) -> list[str]:
    """grafana-operator forbids changing instanceSelector and turning off cross-namespace
    import in place (CEL): delete such a GrafanaDashboard so the apply re-creates it."""
    done = []
    for obj in desired:
        if (obj["apiVersion"], obj["kind"]) != GRAFANA_DASHBOARD:
            continue
        live = cache.get(child_key(obj))
        if live is None or not controlled_by(live, owner_uid):
            continue
        want, have = obj["spec"], live.get("spec") or {}
        if (have.get("instanceSelector") or {}) != want["instanceSelector"] or (
                have.get("allowCrossNamespaceImport") and not want["allowCrossNamespaceImport"]):
            kube.delete(*child_key(obj), uid=live["metadata"].get("uid"))
            cache.remove(live)
            done.append(f"GrafanaDashboard/{obj['metadata']['name']}")
    return done


def _target_problem(spec: DashboardSetSpec, targets: ResolvedDashboardTargets,
                    grafana_crd: bool) -> ConditionSpec | None:
    explicit_go = spec.targets is not None and targets.grafana_operator
    if explicit_go and not grafana_crd:
        return ("Synced", "False", "GrafanaDashboardCRDMissing", "targets.grafanaOperator is "
                "set but the cluster has no grafana.integreatly.org/v1beta1 GrafanaDashboard")
    if not targets.sidecar and not (targets.grafana_operator and grafana_crd):
        return ("Synced", "False", "NoTargets", "no target is enabled: nothing is synced")
    return None


def _plan(body: Mapping[str, Any], spec: DashboardSetSpec, owner: Owner, kube: Kube,
          cache: ChildCache, peers: Sequence[UidClaim], recorded: frozenset[str],
          grafana: bool) -> tuple[list[Outcome], dict[str, list[dict[str, Any]]],
                                  list[dict[str, Any]]]:
    """(outcomes, children wanted per synced dashboard, every child to keep in place)."""
    targets, validation = spec.resolved_targets(), spec.resolved_validation().resolved()
    read: dict[str, Any] = {}

    def read_cm(name: str) -> Any:
        if name not in read:
            found = kube.get("v1", "ConfigMap", owner.namespace, name)
            read[name] = found.to_dict() if found is not None else None
        return read[name]

    known = known_series(validation.components)
    reject = validation.unknown_metrics == "Reject"
    outcomes = [_evaluate(d, spec, read_cm, known, recorded, reject) for d in spec.dashboards]
    _settle_uids(outcomes, claim_of(body), peers)
    wanted: dict[str, list[dict[str, Any]]] = {}
    kept: list[dict[str, Any]] = []
    for o in outcomes:
        problem = rd.size_problem(o.payload, targets, grafana) \
            if o.problem is None and o.payload is not None else None
        if problem:
            o.fail("TooLarge", problem)
        if o.problem is None and o.payload is not None:
            o.packed = targets.sidecar and len(o.payload) > rd.SIZE_LIMIT
            wanted[o.name] = rd.render_dashboard_children(
                owner, [DashboardPayload(o.name, o.uid, o.payload)], targets, spec.folder, grafana)
        elif not o.conflict:
            kept += _kept_children(o, owner, targets, spec.folder, grafana, cache)
    return outcomes, wanted, [obj for objs in wanted.values() for obj in objs] + kept


def _apply(kube: Kube, cache: ChildCache, owner: Owner, desired: list[dict[str, Any]],
           body: Mapping[str, Any], drift: bool,
           result: DashboardSetResult) -> ConditionSpec | None:
    """Apply what differs; Events for what is worth a person's attention."""
    try:
        recreated = _recreate_immutable(kube, cache, desired, owner.uid)
        outcome = sync_children(kube, cache, desired, owner.namespace, owner.uid)
    except (ApiException, ResourceNotFoundError, urllib3.exceptions.HTTPError, OSError) as exc:
        result.retry = f"applying children failed: {getattr(exc, 'reason', None) or exc}"
        return ("Synced", "False", "ApplyFailed", result.retry)
    if recreated:
        result.events.append(("Normal", "Recreated", "re-created for an immutable field: "
                              + ", ".join(recreated)))
    if drift:
        result.events += repair_events(outcome, body)
    packed = {f"ConfigMap/{o['metadata']['name']}" for o in desired if "binaryData" in o}
    gzipped = [n for n in outcome.created + outcome.changed if n in packed]
    if gzipped:
        result.events.append(("Warning", "StoredGzipped", f"{', '.join(gzipped)}: over 900 "
                              "KiB, stored gzipped in binaryData (<uid>.json.gz), which the "
                              "stock Grafana sidecar does not unpack"[:1024]))
    if outcome.conflicts:
        return ("Synced", "False", CHILD_CONFLICT, outcome.conflict_message())
    if outcome.failed:
        result.retry = "; ".join(outcome.failed)
        return ("Synced", "False", "ApplyFailed", result.retry)
    return None


def reconcile_dashboardset(body: Mapping[str, Any], spec: DashboardSetSpec, kube: Kube,
                           cache: ChildCache, peers: Sequence[UidClaim],
                           recorded: frozenset[str], grafana_crd: bool,
                           drift: bool = True) -> DashboardSetResult:
    """``peers``: the namespace's DashboardSets (self included or not); ``recorded``:
    recording-rule names that count as known metrics; ``grafana_crd``: whether the
    GrafanaDashboard CRD exists; ``drift`` False: called because a source, a peer or a
    recording rule changed, so a write it causes is no repair."""
    meta = body["metadata"]
    owner = Owner(meta["name"], meta["namespace"], meta["uid"])
    targets = spec.resolved_targets()
    grafana = targets.grafana_operator and grafana_crd
    outcomes, wanted, desired = _plan(body, spec, owner, kube, cache, peers, recorded, grafana)
    result = DashboardSetResult()
    target_problem = _target_problem(spec, targets, grafana)
    apply_problem = _apply(kube, cache, owner, desired, body, drift, result)
    for o in outcomes:
        objs = wanted.get(o.name) or []
        o.synced = bool(objs) and target_problem is None and all(
            holds(obj, cache.get(child_key(obj))) for obj in objs)
    reject = spec.resolved_validation().resolved().unknown_metrics == "Reject"
    result.patch, events = build_status(body, outcomes, reject, target_problem or apply_problem)
    result.events += events
    return result
