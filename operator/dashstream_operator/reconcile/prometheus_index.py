"""The cluster's Prometheus objects as far as selection goes: what a watch reported and
what the last LIST found, reconciled by resourceVersion. Thread-safe."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from dashstream_operator.reconcile.selection import Prometheuses, PrometheusSelectors, State

__all__ = ["PrometheusIndex"]


class PrometheusIndex:
    """Thread-safe: watch events, the resync pass and reconciles all use it."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], PrometheusSelectors] = {}
        self._versions: dict[tuple[str, str], int] = {}  # resourceVersion a watch saw
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
        key = (new.namespace, new.name)
        with self._lock:
            if self._state == "unknown":  # one object is not the whole list
                return False
            old = self._items.get(key)
            self._items[key] = new
            self._versions[key] = _version(obj)
            changed = old != new or self._state != "listed"
            self._state = "listed"  # a watch event: the CRD exists now
        return changed

    def remove(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        with self._lock:
            self._versions.pop(key, None)
            return self._items.pop(key, None) is not None

    def replace(self, state: State, listed: list[Mapping[str, Any]],
                version: str | None = None) -> bool:
        """A LIST's outcome; returns whether the verdicts may change. What a watch saw
        after the LIST was taken (a newer resourceVersion) wins over the LIST."""
        items = {(p.namespace, p.name): p for p in map(PrometheusSelectors.of, listed)}
        versions = {(p["metadata"].get("namespace", ""), p["metadata"].get("name", "")):
                    _version(p) for p in listed}
        listed_at = int(version) if version and version.isdigit() else 0
        with self._lock:
            for key, seen in self._versions.items():
                if listed_at and seen > listed_at and key in self._items:
                    items[key], versions[key] = self._items[key], seen
            changed = (state, items) != (self._state, self._items)
            self._state, self._items, self._versions = state, items, versions
        return changed


def _version(obj: Mapping[str, Any]) -> int:
    rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    return int(rv) if rv.isdigit() else 0
