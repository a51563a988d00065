"""The cluster's Prometheus objects, kept current to judge whether they select our
ServiceMonitors and PrometheusRules (reconcile/selection.py).

A kopf watch keeps the selectors current; a changed selector re-judges every owner at
once, so fixing a ``release`` label or a Prometheus selector shows in status within
seconds. The resync pass re-lists them (what a watch gap missed) and learns whether the
CRD exists and whether we may read it — neither is an error: status says so. Only
selector fields are kept: a Prometheus's status changes every few seconds and must
not wake anything.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import kopf
from kubernetes import client

from dashstream_operator.handlers.children import Coalescer
from dashstream_operator.handlers.skeleton import log_failure
from dashstream_operator.k8s import Kube
from dashstream_operator.reconcile.prometheus_index import PrometheusIndex
from dashstream_operator.reconcile.selection import SelectionCheck, State

__all__ = ["SERVERS", "PrometheusIndex", "refresh_prometheuses", "register_reselect",
           "selection_check"]

log = logging.getLogger(__name__)

# Every kind of prometheus-operator server that selects ServiceMonitors or rules:
# (group, version, plural, kind). The first is the one whose absence or refusal status
# reports; the others only add what they select.
SERVERS = (("monitoring.coreos.com", "v1", "prometheuses", "Prometheus"),
           ("monitoring.coreos.com", "v1alpha1", "prometheusagents", "PrometheusAgent"),
           ("monitoring.coreos.com", "v1", "thanosrulers", "ThanosRuler"))

# owner kind -> fn(body, memo) that reconciles one object (and swallows its failures)
_RESELECT: dict[str, Callable[[dict[str, Any], kopf.Memo], None]] = {}
_ROUNDS = Coalescer()


def register_reselect(kind: str, fn: Callable[[dict[str, Any], kopf.Memo], None]) -> None:
    _RESELECT[kind] = fn


def refresh_prometheuses(kube: Kube, index: PrometheusIndex) -> bool:
    """One cluster-wide LIST per kind; a missing CRD or a refusal is a state, not a
    failure, and any other error keeps what is known (the watch goes on; the next pass
    lists again). Returns whether the verdicts may change."""
    changed = False
    for group, version, plural, kind in SERVERS:
        if not kube.has_kind(f"{group}/{version}", kind):  # discovery, cached: no 404s
            changed = index.replace("absent", [], kind=kind) or changed
            continue
        try:
            listing: Any = kube.custom.list_cluster_custom_object(group, version, plural)
        except client.ApiException as exc:
            if exc.status in (403, 404):
                state: State = "forbidden" if exc.status == 403 else "absent"
                changed = index.replace(state, [], kind=kind) or changed
            else:
                log.warning("cannot list %s objects (%s %s); keeping the last listing",
                            kind, exc.status, exc.reason)
            continue
        changed = index.replace("listed", list(listing.get("items") or []),
                                listing.get("metadata", {}).get("resourceVersion"),
                                kind=kind) or changed
    return changed


def selection_check(memo: kopf.Memo) -> SelectionCheck | None:
    index: PrometheusIndex | None = getattr(memo, "prometheuses", None)
    if index is None:
        return None
    return SelectionCheck(index.view(), memo.kube.namespace_labels)


def reselect_all(memo: kopf.Memo) -> None:
    """Every owner judged again (the Prometheus objects changed); reconciles that
    change nothing write nothing. A burst of Prometheus events while this runs becomes
    one more round, not one per event."""
    def round_() -> None:
        for body in memo.bodies.values():
            fn = _RESELECT.get(body.get("kind", ""))
            if fn is None or body["metadata"].get("deletionTimestamp"):
                continue
            try:
                fn(body, memo)
            except Exception as exc:  # the resync pass judges it again
                meta = body["metadata"]
                log_failure(body.get("kind", "?"), meta.get("namespace"), meta.get("name"),
                            "re-judging selection", exc)

    _ROUNDS.run("reselect", round_)


def on_prometheus_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    index: PrometheusIndex = memo.prometheuses
    obj = event["object"]
    changed = index.remove(obj) if event.get("type") == "DELETED" else index.put(obj)
    if changed:
        meta = obj.get("metadata") or {}
        log.info("%s %s/%s %s: judging what selects our monitors again",
                 obj.get("kind", "Prometheus"), meta.get("namespace"), meta.get("name"),
                 "deleted" if event.get("type") == "DELETED" else "changed")
        reselect_all(memo)


def watched_servers() -> list[str]:
    """The plurals main.py found we may watch (kopf stops the whole operator when a
    watch is refused; without one, the resync pass's LIST is what reports it)."""
    return [p for p in os.environ.get("DASHSTREAM_WATCH_PROMETHEUSES", "").split(",") if p]


for _group, _version, _plural, _kind in SERVERS:
    if _plural in watched_servers():
        kopf.on.event(_group, _version, _plural, id=f"watch-{_plural}")(on_prometheus_event)
