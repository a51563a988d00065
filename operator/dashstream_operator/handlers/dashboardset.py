"""kopf handlers of DashboardSet: thin — index, pick the body, reconcile, report.

Only watching handlers (``@kopf.on.event``), no ``on.create``/``on.update``: kopf's
change detection stores a copy of the whole spec in
``status.kopf.last-handled-configuration``, and a DashboardSet's spec carries
dashboards of up to 1.5 MB, so that copy would double the object and push it past
etcd's 1.5 MiB request limit (grafana-operator #789 made the same mistake with
content caching). Reconciles are level-based, so watching is enough; what triggers one:

- an event of the set itself (creation, spec or status change, operator start);
- an event of one of its children (a hand edit or deletion is put back at once);
- an event of a ConfigMap one of its dashboards reads (``configMapKeyRef``);
- a change of the recording rules the namespace's AlertRuleSets declare;
- an event of another set of the namespace sharing a dashboard uid (``UidConflict``);
- the operator's resync pass (handlers/resync.py), every interval: retries after
  failures, and notices a GrafanaDashboard CRD installed later. No timer, hence no
  finalizer.

A reconcile that finds nothing to change writes nothing, so the status write it
makes when something did change ends in one more (no-op) reconcile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from dashstream_operator.handlers.children import register_owner_callback
from dashstream_operator.handlers.resync import register_resync
from dashstream_operator.handlers.skeleton import (
    child_event_matters,
    leave_alone,
    locked_newest,
    log_failure,
    log_refusal,
    post_events,
    refuse_invalid_spec,
    retry_done,
    retry_soon,
    write_status,
)
from dashstream_operator.k8s import Kube
from dashstream_operator.models import (
    ALERT_RULE_SET,
    DASHBOARD_SET,
    GROUP,
    VERSION,
    DashboardSetSpec,
    DashboardSetStatus,
    SpecError,
)
from dashstream_operator.observability import reconcile_timer
from dashstream_operator.reconcile.dashboardset import (
    UidClaim,
    claim_of,
    reconcile_dashboardset,
)
from dashstream_operator.render.dashboards import GRAFANA_DASHBOARD

__all__ = ["reconcile"]

log = logging.getLogger(__name__)

PLURAL = DASHBOARD_SET.plural
KIND = DASHBOARD_SET.kind
CRD_RECHECK_SECONDS = 10.0  # a missing CRD costs a discovery refresh; ask at most this often


@dataclass
class _Indexes:
    uids: kopf.Index[str, UidClaim]
    recorded: kopf.Index[str, frozenset[str]]


@kopf.index(GROUP, VERSION, PLURAL, id="dashboard_uids")
def dashboard_uids(body: kopf.Body, namespace: str, **_: Any) -> dict[str, UidClaim]:
    """namespace -> what each DashboardSet claims (its status), for UidConflict."""
    return {namespace: claim_of(body)}


@kopf.index(GROUP, VERSION, PLURAL, id="dashboard_sources")
def dashboard_sources(spec: kopf.Spec, namespace: str, name: str,
                      **_: Any) -> dict[tuple[str, str], str]:
    """(namespace, ConfigMap) -> the sets reading a dashboard from it."""
    return {(namespace, d["configMapKeyRef"]["name"]): name for d in spec.get("dashboards") or []
            if isinstance(d, dict) and isinstance(d.get("configMapKeyRef"), dict)}


@kopf.index(GROUP, VERSION, ALERT_RULE_SET.plural, id="dashboard_recorded")
def dashboard_recorded(spec: kopf.Spec, namespace: str,
                       **_: Any) -> dict[str, frozenset[str]]:
    """namespace -> recording-rule names declared inline by each AlertRuleSet."""
    names = frozenset(r["record"] for g in spec.get("groups") or [] if isinstance(g, dict)
                      for r in g.get("rules") or []
                      if isinstance(r, dict) and isinstance(r.get("record"), str))
    return {namespace: names} if names else {}


def _values(index: kopf.Index[Any, Any] | None, key: Any) -> list[Any]:
    """A snapshot of one index key (the index is updated in place by kopf's loop)."""
    for _attempt in range(3):
        try:
            return list(index.get(key, [])) if index is not None else []
        except RuntimeError:  # changed size during iteration: try again
            continue
    return []


def _keys(index: kopf.Index[Any, Any]) -> list[Any]:
    for _attempt in range(3):
        try:
            return list(index)
        except RuntimeError:
            continue
    return []


_crd_missing_since = [-1e9]


def _grafana_crd(kube: Kube) -> bool:
    if time.monotonic() - _crd_missing_since[0] < CRD_RECHECK_SECONDS:
        return False
    present = kube.has_kind(*GRAFANA_DASHBOARD)
    if not present:
        _crd_missing_since[0] = time.monotonic()
    return present


def reconcile(memo: kopf.Memo, namespace: str, name: str, *,
              body: Mapping[str, Any] | None = None, drift: bool = True) -> None:
    """Reconcile one set from the newest body known (the given one or the cache's).
    Never raises: a failure is logged and the resync pass retries. ``drift`` False: called
    because a source, a peer or a recording rule changed; its writes are no repairs."""
    known = body if body is not None else memo.bodies.find(KIND, namespace, name)
    if known is None:
        return
    uid = str(known["metadata"].get("uid", ""))
    try:
        retry = _reconcile(memo, known, namespace, drift)
    except Exception as exc:
        log_failure(KIND, namespace, name, "reconcile", exc)
        retry = True
    if retry:
        retry_soon(memo, uid, lambda: reconcile(memo, namespace, name))
    else:
        retry_done(memo, uid)


def _reconcile(memo: kopf.Memo, known: Mapping[str, Any], namespace: str,
               drift: bool) -> bool:
    """Returns whether a retry is due soon."""
    with reconcile_timer(KIND) as timed, locked_newest(memo, known) as raw:
        if leave_alone(memo, DASHBOARD_SET, raw, DashboardSetStatus):
            return False
        try:
            spec = DashboardSetSpec.from_body(raw)
        except SpecError as exc:
            timed.result = "invalid"
            refuse_invalid_spec(memo, DASHBOARD_SET, raw, DashboardSetStatus, "Valid", exc)
            return False
        indexes: _Indexes | None = getattr(memo, "dashboard_indexes", None)
        peers = _values(indexes.uids if indexes else None, namespace)
        recorded = frozenset().union(*_values(indexes.recorded if indexes else None, namespace))
        result = reconcile_dashboardset(raw, spec, memo.kube, memo.children, peers, recorded,
                                        _grafana_crd(memo.kube), drift)
        if post_events(memo, raw, result.events):
            timed.result = "invalid"
        write_status(memo, DASHBOARD_SET, raw, result.patch)
        if result.retry:
            timed.result = "retry"
    if result.retry:
        log_refusal(DASHBOARD_SET, raw, f"{result.retry}; retrying soon")
    return bool(result.retry)


def _wake_peers(memo: kopf.Memo, body: Mapping[str, Any]) -> None:
    """Re-settle uid conflicts with the sets sharing a uid with ``body`` (or losing one)."""
    indexes: _Indexes | None = getattr(memo, "dashboard_indexes", None)
    me, ns = claim_of(body), body["metadata"]["namespace"]
    for peer in _values(indexes.uids if indexes else None, ns):
        if peer.set_uid != me.set_uid and (peer.declared & me.declared or peer.conflicted):
            reconcile(memo, ns, peer.name, drift=False)


@kopf.on.event(GROUP, VERSION, PLURAL, id="dashboardset-reconcile")
def on_dashboardset(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    obj = event["object"]
    meta = obj["metadata"]
    if event.get("type") != "DELETED":  # children go with their ownerReferences
        memo.bodies.put(obj)
        reconcile(memo, meta["namespace"], meta["name"], body=obj)
        obj = memo.bodies.find(KIND, meta["namespace"], meta["name"]) or obj
    _wake_peers(memo, obj)


def _is_source(namespace: str, name: str, dashboard_sources: kopf.Index[Any, str],
               **_: Any) -> bool:
    return (namespace, name) in dashboard_sources


@kopf.on.event("", "v1", "configmaps", id="dashboardset-sources", when=_is_source)
def on_source(namespace: str, name: str, memo: kopf.Memo,
              dashboard_sources: kopf.Index[Any, str], **_: Any) -> None:
    """A ConfigMap a dashboard reads changed: re-sync the sets reading it."""
    for set_name in sorted(set(_values(dashboard_sources, (namespace, name)))):
        reconcile(memo, namespace, set_name, drift=False)


_recorded_seen: dict[str, frozenset[str]] = {}
_recorded_lock = threading.Lock()


@kopf.on.event(GROUP, VERSION, ALERT_RULE_SET.plural, id="dashboardset-recording-rules")
def on_recording_rules(namespace: str, memo: kopf.Memo,
                       dashboard_recorded: kopf.Index[str, frozenset[str]],
                       dashboard_uids: kopf.Index[str, UidClaim], **_: Any) -> None:
    """Recording rules count as known metrics: re-validate the namespace's sets when the
    names declared there change (not on every AlertRuleSet status write)."""
    names = frozenset().union(*_values(dashboard_recorded, namespace))
    with _recorded_lock:
        changed = _recorded_seen.get(namespace) != names
        _recorded_seen[namespace] = names
    if changed:
        for claim in _values(dashboard_uids, namespace):
            reconcile(memo, namespace, claim.name, drift=False)


def on_children_changed(memo: kopf.Memo, namespace: str, name: str, uid: str,
                        child_deleted: bool) -> None:
    """A child of this set changed or vanished: put back what differs."""
    if child_event_matters(memo, DASHBOARD_SET, namespace, name, uid, child_deleted):
        reconcile(memo, namespace, name)


register_owner_callback(KIND, on_children_changed)


def _resync(body: dict[str, Any], memo: kopf.Memo) -> None:
    """One DashboardSet in the operator's resync pass (handlers/resync.py)."""
    meta = body["metadata"]
    reconcile(memo, meta["namespace"], meta["name"], body=body)


register_resync(DASHBOARD_SET, _resync)


@kopf.on.startup(id="dashboardset-indexes")
async def start(memo: kopf.Memo, dashboard_uids: kopf.Index[str, UidClaim],
                dashboard_recorded: kopf.Index[str, frozenset[str]], **_: Any) -> None:
    # The indexes are live views kopf keeps current; child callbacks and the resync need them.
    memo.dashboard_indexes = _Indexes(dashboard_uids, dashboard_recorded)
