"""kopf handlers of AlertRuleSet: thin — parse, reconcile, report.

Level-based: every event of the set (its listing at operator start, creation, spec
and status changes), events of the synced children (a hand edit or deletion is put
back within about a second), events of the ConfigMap named in ``spec.groupsFrom``
and the resync loop all run the same reconcile and never look at a diff. A
reconcile that changes nothing writes nothing, so our own status write ends in
one no-op reconcile.

Only watching handlers, no ``on.create``/``on.update``/``on.resume`` (as for
DashboardSet): kopf's change detection would keep a copy of the whole spec, i.e.
of every rule, in ``status.kopf.last-handled-configuration`` and double the
object. No finalizer either: children go with their owner through garbage
collection. Watch handlers are not retried by kopf; the resync loop is the retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from dashstream_operator.handlers.children import register_owner_callback
from dashstream_operator.handlers.prometheuses import register_reselect, selection_check
from dashstream_operator.handlers.resync import register_resync
from dashstream_operator.handlers.skeleton import (
    child_event_matters,
    leave_alone,
    locked_newest,
    log_failure,
    post_events,
    refuse_invalid_spec,
    retry_done,
    retry_soon,
    write_status,
)
from dashstream_operator.models import (
    ALERT_RULE_SET,
    GROUP,
    VERSION,
    AlertRuleSetSpec,
    AlertRuleSetStatus,
    SpecError,
)
from dashstream_operator.observability import reconcile_timer
from dashstream_operator.reconcile.alertruleset import LastValid, reconcile_alertruleset

__all__ = ["reconcile"]

KIND, PLURAL = ALERT_RULE_SET.kind, ALERT_RULE_SET.plural


def _last_valid(memo: kopf.Memo) -> LastValid:
    # kopf.Memo is a dict: setdefault is atomic, so two threads get the same store.
    store: LastValid = memo.setdefault("alertruleset_last_valid", LastValid())
    return store


def reconcile(body: Mapping[str, Any], memo: kopf.Memo, drift: bool = True) -> bool:
    """Read, validate, sync (or keep the last valid content), report; returns whether a
    retry is due soon. ``drift`` False: called because the rule source changed, whose
    writes are no repairs."""
    with reconcile_timer(KIND) as timed, locked_newest(memo, body) as raw:
        if leave_alone(memo, ALERT_RULE_SET, raw, AlertRuleSetStatus):
            return False
        try:
            spec = AlertRuleSetSpec.from_body(raw)
        except SpecError as exc:
            timed.result = "invalid"
            refuse_invalid_spec(memo, ALERT_RULE_SET, raw, AlertRuleSetStatus, "Valid", exc)
            return False
        result = reconcile_alertruleset(raw, spec, memo.kube, memo.children, _last_valid(memo),
                                        drift, selection_check(memo))
        if post_events(memo, raw, result.events):
            timed.result = "invalid"
        write_status(memo, ALERT_RULE_SET, raw, result.patch)
        if result.retry:
            timed.result = "retry"
    return bool(result.retry)


def _reconcile_quietly(body: dict[str, Any], memo: kopf.Memo, drift: bool = True) -> None:
    """Reconcile; refusals are in status, failures are logged and retried by the resync."""
    meta = body["metadata"]
    try:
        retry = reconcile(body, memo, drift)
    except Exception as exc:
        log_failure(KIND, meta.get("namespace"), meta.get("name"), "reconcile", exc)
        retry = True
    uid = str(meta.get("uid", ""))
    if not retry:
        retry_done(memo, uid)
        return

    def again() -> None:
        newest = memo.bodies.find(KIND, meta.get("namespace", ""), meta["name"])
        if newest is not None and newest["metadata"].get("uid") == uid:
            _reconcile_quietly(newest, memo)

    retry_soon(memo, uid, again)


@kopf.on.event(GROUP, VERSION, PLURAL, id="alertruleset-reconcile")
def on_alertruleset(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    obj = event["object"]
    if event.get("type") == "DELETED":
        _last_valid(memo).forget(obj["metadata"].get("uid", ""))
        return  # the children go with their ownerReferences
    if obj["metadata"].get("deletionTimestamp"):
        return
    memo.bodies.put(obj)
    _reconcile_quietly(dict(obj), memo)


def on_children_changed(memo: kopf.Memo, namespace: str, name: str, uid: str,
                        child_deleted: bool) -> None:
    """A synced ConfigMap or PrometheusRule changed or vanished: re-apply what differs."""
    body = child_event_matters(memo, ALERT_RULE_SET, namespace, name, uid, child_deleted)
    if body is not None:
        _reconcile_quietly(body, memo)


register_owner_callback(KIND, on_children_changed)


def _resync(body: dict[str, Any], memo: kopf.Memo) -> None:
    _reconcile_quietly(body, memo)


register_resync(ALERT_RULE_SET, _resync)
register_reselect(KIND, _resync)


@kopf.index(GROUP, VERSION, PLURAL, id="alertruleset_sources")
def alertruleset_sources(spec: Any, namespace: str, name: str,
                         **_: Any) -> dict[tuple[str, str], str]:
    """(namespace, ConfigMap) named in spec.groupsFrom -> the AlertRuleSets reading it."""
    ref = (spec.get("groupsFrom") or {}).get("configMapKeyRef") or {}
    return {(namespace, ref["name"]): name} if ref.get("name") else {}


def _is_source(namespace: str, name: str,
               alertruleset_sources: kopf.Index[tuple[str, str], str], **_: Any) -> bool:
    # A filter, not an early return: the other ConfigMaps' events then cost one lookup
    # and neither a thread nor a "handler succeeded" log line.
    return (namespace, name) in alertruleset_sources


@kopf.on.event("", "v1", "configmaps", id="alertruleset-source-configmaps", when=_is_source)
def on_source_configmap(namespace: str, name: str, memo: kopf.Memo,
                        alertruleset_sources: kopf.Index[tuple[str, str], str],
                        **_: Any) -> None:
    """A rule source ConfigMap changed or vanished: re-validate the sets reading it."""
    for set_name in sorted(set(alertruleset_sources.get((namespace, name), []))):
        body = memo.bodies.find(KIND, namespace, set_name)
        if body is not None:
            _reconcile_quietly(body, memo, drift=False)
