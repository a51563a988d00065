"""Apply a pipeline's rendered children, prune the stale ones, observe the result.

The watch cache (fed by kopf event handlers) answers "does the live object already
hold what we render?", so a no-op reconcile sends no request at all; anything that
differs is server-side applied with force, which is also how a hand edit is put back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiException

from dashstream_operator.k8s import Kube
from dashstream_operator.reconcile.compare import holds

__all__ = ["PIPELINE_LABEL", "ChildCache", "ChildrenOutcome", "child_key", "sync_children"]

PIPELINE_LABEL = "dashstream.io/pipeline"
Key = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


def child_key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]


def _rv(obj: Mapping[str, Any]) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion", 0))
    except (TypeError, ValueError):
        return 0


class ChildCache:
    """The latest version seen of every object we manage (watch events and our own
    apply responses); an older event never overwrites a newer apply response."""

    def __init__(self) -> None:
        self._objs: dict[Key, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def put(self, obj: Mapping[str, Any]) -> None:
        key = child_key(obj)
        with self._lock:
            old = self._objs.get(key)
            if old is None or _rv(obj) >= _rv(old):
                self._objs[key] = dict(obj)

    def remove(self, obj: Mapping[str, Any]) -> None:
        with self._lock:
            self._objs.pop(child_key(obj), None)

    def get(self, key: Key) -> dict[str, Any] | None:
        with self._lock:
            return self._objs.get(key)

    def of_owner(self, namespace: str, owner_uid: str) -> list[dict[str, Any]]:
        with self._lock:
            return [o for (_, _, ns, _), o in self._objs.items() if ns == namespace and any(
                ref.get("uid") == owner_uid for ref in o["metadata"].get("ownerReferences") or [])]


@dataclass
class ChildrenOutcome:
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # spec change or hand edit put back
    pruned: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "Kind/name: the API server's reason"
    live: dict[Key, dict[str, Any]] = field(default_factory=dict)

    @property
    def wrote(self) -> bool:
        return bool(self.created or self.changed or self.pruned)


def _name(obj: Mapping[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _api_reason(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)[:500]
    except ValueError:
        return str(exc.reason)


def sync_children(kube: Kube, cache: ChildCache, desired: Iterable[Mapping[str, Any]],
                  namespace: str, owner_uid: str) -> ChildrenOutcome:
    out = ChildrenOutcome()
    wanted: set[Key] = set()
    for obj in desired:
        key = child_key(obj)
        wanted.add(key)
        live = cache.get(key)
        if live is None:
            # Not seen by the watch yet (e.g. just after start): ask once.
            found = kube.get(*key)
            if found is not None:
                live = found.to_dict()
                cache.put(live)
        if holds(obj, live):
            assert live is not None
            out.live[key] = live
            continue
        try:
            applied = kube.apply(obj).to_dict()
        except ApiException as exc:
            # One refused child (quota, a full Service IP range, an admission webhook)
            # must not stop the others; the caller reports it and retries.
            out.failed.append(f"{_name(obj)}: {_api_reason(exc)}")
            continue
        cache.put(applied)
        out.live[key] = applied
        (out.created if live is None else out.changed).append(_name(obj))
    for stale in cache.of_owner(namespace, owner_uid):
        if child_key(stale) not in wanted:
            kube.delete(stale["apiVersion"], stale["kind"], namespace, stale["metadata"]["name"])
            cache.remove(stale)
            out.pruned.append(_name(stale))
    return out
