"""The cluster's Prometheus objects as far as selection goes: what a watch reported and
what the last LIST found, reconciled by resourceVersion. Thread-safe."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from dashstream_operator.reconcile.selection import Prometheuses, PrometheusSelectors, State

__all__ = ["PrometheusIndex"]


Key = tuple[str, str, str]  # kind, namespace, name


def _key(obj: Mapping[str, Any], kind: str) -> Key:
    meta = obj.get("metadata") or {}
    return kind, str(meta.get("namespace", "")), str(meta.get("name", ""))


class PrometheusIndex:
    """Thread-safe: watch events, the resync pass and reconciles all use it. Holds the
    Prometheus, PrometheusAgent and ThanosRuler objects; its state is the Prometheus
    kind's (whether the CRD exists, whether we may read it)."""

    def __init__(self) -> None:
        self._items: dict[Key, PrometheusSelectors] = {}
        self._versions: dict[Key, int] = {}  # resourceVersion a watch saw
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
        kind = str(obj.get("kind") or "Prometheus")
        new = PrometheusSelectors.of({**obj, "kind": kind})
        key = _key(obj, kind)
        with self._lock:
            if self._state == "unknown":  # one object is not the whole list
                return False
            old = self._items.get(key)
            self._items[key] = new
            self._versions[key] = _version(obj)
            changed = old != new
            if kind == "Prometheus" and self._state != "listed":
                self._state, changed = "listed", True  # a watch event: the CRD exists now
        return changed

    def remove(self, obj: Mapping[str, Any]) -> bool:
        key = _key(obj, str(obj.get("kind") or "Prometheus"))
        with self._lock:
            self._versions.pop(key, None)
            return self._items.pop(key, None) is not None

    def replace(self, state: State, listed: list[Mapping[str, Any]],
                version: str | None = None, kind: str = "Prometheus") -> bool:
        """A LIST of one kind; returns whether the verdicts may change. What a watch saw
        after the LIST was taken (a newer resourceVersion) wins over the LIST. Only the
        Prometheus kind's LIST sets the state; the others only their objects."""
        fresh = {_key(o, kind): PrometheusSelectors.of({**o, "kind": kind}) for o in listed}
        seen_at = {_key(o, kind): _version(o) for o in listed}
        listed_at = int(version) if version and version.isdigit() else 0
        with self._lock:
            for key, seen in self._versions.items():
                if key[0] == kind and listed_at and seen > listed_at and key in self._items:
                    fresh[key], seen_at[key] = self._items[key], seen
            items = {k: v for k, v in self._items.items() if k[0] != kind} | fresh
            versions = {k: v for k, v in self._versions.items() if k[0] != kind} | seen_at
            new_state = state if kind == "Prometheus" else self._state
            changed = (new_state, items) != (self._state, self._items)
            self._state, self._items, self._versions = new_state, items, versions
        return changed


def _version(obj: Mapping[str, Any]) -> int:
    rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    return int(rv) if rv.isdigit() else 0
