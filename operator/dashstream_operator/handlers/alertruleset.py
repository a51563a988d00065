"""kopf handlers of AlertRuleSet: thin — parse, reconcile, report (issue 6).

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

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from dashstream_operator.handlers.children import register_owner_callback
from dashstream_operator.handlers.resync import register_resync
from dashstream_operator.handlers.startup import object_lock
from dashstream_operator.models import (
    ALERT_RULE_SET,
    GROUP,
    VERSION,
    AlertRuleSetSpec,
    AlertRuleSetStatus,
    SpecError,
)
from dashstream_operator.observability import METRICS, about, reconcile_timer
from dashstream_operator.reconcile.alertruleset import LastValid, reconcile_alertruleset
from dashstream_operator.reconcile.status import invalid_spec_patch

__all__ = ["reconcile"]

log = logging.getLogger(__name__)

KIND, PLURAL = ALERT_RULE_SET.kind, ALERT_RULE_SET.plural


def _last_valid(memo: kopf.Memo) -> LastValid:
    # kopf.Memo is a dict: setdefault is atomic, so two threads get the same store.
    store: LastValid = memo.setdefault("alertruleset_last_valid", LastValid())
    return store


def _write_status(memo: kopf.Memo, body: Mapping[str, Any], patch: dict[str, Any] | None) -> None:
    if patch is None:
        return  # a no-op reconcile writes nothing
    meta = body["metadata"]
    updated = memo.kube.patch_status(ALERT_RULE_SET, meta["namespace"], meta["name"], patch)
    if updated:
        memo.bodies.put(updated)  # our write is the newest truth until the watch catches up


def reconcile(body: Mapping[str, Any], memo: kopf.Memo) -> None:
    """Read, validate, sync (or keep the last valid content), report."""
    raw = dict(body)
    with reconcile_timer(KIND), object_lock(raw["metadata"]["uid"]):
        # Re-read under the lock: another path may have written status meanwhile.
        cached = memo.bodies.get(KIND, raw["metadata"]["namespace"], raw["metadata"]["name"])
        if cached is not None and cached["metadata"].get("uid") == raw["metadata"]["uid"] and \
                int(cached["metadata"].get("resourceVersion", 0)) >= int(
                    raw["metadata"].get("resourceVersion", 0)):
            raw = cached
        try:
            spec = AlertRuleSetSpec.from_body(raw)
        except SpecError as exc:
            _report_invalid(memo, raw, exc)
            raise kopf.PermanentError(f"invalid spec: {exc}") from exc
        result = reconcile_alertruleset(raw, spec, memo.kube, memo.children, _last_valid(memo))
        for type_, reason, message in result.events:
            kopf.event(raw, type=type_, reason=reason, message=message)
            if reason == "DriftRepaired":
                METRICS.drift_repairs.labels(KIND).inc()
            elif type_ == "Warning":
                METRICS.validation_failures.labels(KIND, reason).inc()
        _write_status(memo, raw, result.patch)


def _report_invalid(memo: kopf.Memo, body: Mapping[str, Any], exc: SpecError) -> None:
    """Admission (schema and CEL) should have refused it; say so in status."""
    METRICS.validation_failures.labels(KIND, "InvalidSpec").inc()
    _write_status(memo, body, invalid_spec_patch(
        AlertRuleSetStatus.from_body(body), body, "Valid", str(exc),
        datetime.now(UTC).replace(microsecond=0)))


def _reconcile_quietly(body: dict[str, Any], memo: kopf.Memo) -> None:
    """Reconcile; refusals are in status, failures are logged and retried by the resync."""
    meta = body["metadata"]
    try:
        reconcile(body, memo)
    except kopf.PermanentError as exc:
        log.info("AlertRuleSet %s/%s: %s", meta.get("namespace"), meta.get("name"), exc,
                 extra=about("AlertRuleSet", meta.get("namespace"), meta.get("name")))
    except Exception:
        log.exception("reconcile of AlertRuleSet %s/%s failed; the resync loop retries",
                      meta.get("namespace"), meta.get("name"),
                      extra=about("AlertRuleSet", meta.get("namespace"), meta.get("name")))


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
    body = memo.bodies.get(KIND, namespace, name)
    if body is None or body["metadata"].get("uid") != uid or \
            body["metadata"].get("deletionTimestamp"):
        return  # unknown yet, a child of an older set of the same name, or going away
    if child_deleted:
        # Garbage collection after the owner's deletion also deletes children: ask the
        # API server, not the cache, before re-creating anything.
        fresh = memo.kube.get_cr(ALERT_RULE_SET, namespace, name)
        if fresh is None or fresh["metadata"].get("uid") != uid or \
                fresh["metadata"].get("deletionTimestamp"):
            return
    _reconcile_quietly(body, memo)


register_owner_callback(KIND, on_children_changed)


def _resync(body: dict[str, Any], memo: kopf.Memo) -> None:
    memo.bodies.put(body)
    _reconcile_quietly(body, memo)


register_resync(ALERT_RULE_SET, _resync)


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
        body = memo.bodies.get(KIND, namespace, set_name)
        if body is not None:
            _reconcile_quietly(body, memo)
