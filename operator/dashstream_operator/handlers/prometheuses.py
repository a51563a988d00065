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
import threading
from collections.abc import Callable, Mapping
from typing import Any

import kopf
from kubernetes import client

from dashstream_operator.handlers.skeleton import log_failure
from dashstream_operator.k8s import Kube
from dashstream_operator.reconcile.selection import (
    Prometheuses,
    PrometheusSelectors,
    SelectionCheck,
    State,
)

__all__ = ["PROMETHEUS", "PrometheusIndex", "refresh_prometheuses", "register_reselect",
           "selection_check"]

log = logging.getLogger(__name__)

PROMETHEUS = ("monitoring.coreos.com", "v1", "prometheuses")

# owner kind -> fn(body, memo) that reconciles one object (and swallows its failures)
_RESELECT: dict[str, Callable[[dict[str, Any], kopf.Memo], None]] = {}


def register_reselect(kind: str, fn: Callable[[dict[str, Any], kopf.Memo], None]) -> None:
    _RESELECT[kind] = fn


class PrometheusIndex:
    """Thread-safe: watch events, the resync pass and reconciles all use it."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], PrometheusSelectors] = {}
        self._state: State = "unknown"
        self._lock = threading.Lock()

    def view(self) -> Prometheuses:
        with self._lock:
            state = self._state
            items = tuple(self._items[k] for k in sorted(self._items))
        if state != "listed":
            return Prometheuses(state)
        return Prometheuses("listed", items)

    def put(self, obj: Mapping[str, Any]) -> bool:
        """Returns whether what it selects changed."""
        new = PrometheusSelectors.of(obj)
        with self._lock:
            old = self._items.get((new.namespace, new.name))
            self._items[new.namespace, new.name] = new
            changed = old != new or self._state != "listed"
            self._state = "listed"
        return changed

    def remove(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        with self._lock:
            return self._items.pop((meta.get("namespace", ""), meta.get("name", "")),
                                   None) is not None

    def replace(self, state: State, listed: list[Mapping[str, Any]]) -> bool:
        """A LIST's outcome; returns whether the verdicts may change."""
        items = {(p.namespace, p.name): p for p in map(PrometheusSelectors.of, listed)}
        with self._lock:
            changed = (state, items) != (self._state, self._items)
            self._state, self._items = state, items
        return changed


def refresh_prometheuses(kube: Kube, index: PrometheusIndex) -> bool:
    """One cluster-wide LIST; a missing CRD or a refusal is a state, not a failure."""
    group, version, plural = PROMETHEUS
    try:
        listing: Any = kube.custom.list_cluster_custom_object(group, version, plural)
    except client.ApiException as exc:
        if exc.status == 404:
            return index.replace("absent", [])
        if exc.status == 403:
            return index.replace("forbidden", [])
        raise
    return index.replace("listed", list(listing.get("items") or []))


def selection_check(memo: kopf.Memo) -> SelectionCheck | None:
    index: PrometheusIndex | None = getattr(memo, "prometheuses", None)
    if index is None:
        return None
    return SelectionCheck(index.view(), memo.kube.namespace_labels)


def reselect_all(memo: kopf.Memo) -> None:
    """Every owner judged again (the Prometheus objects changed); reconciles that
    change nothing write nothing."""
    for body in memo.bodies.values():
        fn = _RESELECT.get(body.get("kind", ""))
        if fn is not None and not body["metadata"].get("deletionTimestamp"):
            fn(body, memo)


@kopf.on.event(*PROMETHEUS, id="watch-prometheuses")
def on_prometheus_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    index: PrometheusIndex = memo.prometheuses
    obj = event["object"]
    changed = index.remove(obj) if event.get("type") == "DELETED" else index.put(obj)
    if changed:
        meta = obj.get("metadata") or {}
        log.info("Prometheus %s/%s %s: judging what selects our monitors again",
                 meta.get("namespace"), meta.get("name"),
                 "deleted" if event.get("type") == "DELETED" else "changed")
        try:
            reselect_all(memo)
        except Exception as exc:
            log_failure("Prometheus", meta.get("namespace"), meta.get("name"),
                        "re-judging selection", exc)
