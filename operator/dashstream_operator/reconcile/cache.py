"""What the operator knows of the cluster between requests: the latest version seen of
every child it manages and of every one of its own objects.

Fed by watch events and by the responses to our own writes, and healed by the resync
pass: each pass LISTs every kind (one request per kind and watched namespace; for
children only their metadata) and :meth:`ObjectCache.refresh` drops what the LIST no
longer has, or has in another version. A watch that broke and relisted emits no
DELETED event for an object deleted during the gap; without the refresh the cache
would hold it for good and nothing would ever re-create it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

__all__ = ["BodyCache", "ChildCache", "Key", "ObjectCache", "child_key", "rv_newer",
           "rv_not_older"]

Key = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


def child_key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]


def _body_key(obj: Mapping[str, Any]) -> Key:
    # Our own kinds have one apiVersion; the key ignores it so a lookup needs only kind.
    meta = obj["metadata"]
    return "", obj["kind"], meta.get("namespace", ""), meta["name"]


def rv_not_older(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """Whether ``new`` is the same version as ``old`` or a later one.

    resourceVersions are opaque strings in general. Since Kubernetes 1.35 (KEP-5504,
    "comparable resource version") the API server promises that versions it writes as
    decimal integers without leading zeros compare as integers, which is what etcd
    gives. Anything else is not compared: the version that arrived last wins, which is
    also the order a single watch stream delivers.
    """
    a = str((new.get("metadata") or {}).get("resourceVersion") or "")
    b = str((old.get("metadata") or {}).get("resourceVersion") or "")
    if not (_comparable(a) and _comparable(b)):
        return True
    return (len(a), a) >= (len(b), b)


def rv_newer(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """Whether ``new`` is a later version than ``old`` (True when they cannot be
    compared, as in :func:`rv_not_older`)."""
    a = str((new.get("metadata") or {}).get("resourceVersion") or "")
    b = str((old.get("metadata") or {}).get("resourceVersion") or "")
    if not (_comparable(a) and _comparable(b)):
        return True
    return (len(a), a) > (len(b), b)


def _comparable(rv: str) -> bool:
    return rv.isascii() and rv.isdigit() and (rv == "0" or not rv.startswith("0"))


class ObjectCache:
    """Objects by key; a put never replaces a newer version with an older one.

    Every entry carries the value of a counter at the time it was stored, so a refresh
    from a LIST can tell entries stored before the LIST started (which the LIST must
    confirm) from those our own writes stored while it ran (which it cannot know of).
    """

    def __init__(self, key: Callable[[Mapping[str, Any]], Key] = child_key) -> None:
        self._key = key
        self._objs: dict[Key, tuple[int, dict[str, Any]]] = {}
        # Keys removed (a DELETED event), with when and at which version: a LIST that
        # started before, or a read that was answered before, must not bring them back.
        self._gone: dict[Key, tuple[int, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._clock = itertools.count(1)

    def mark(self) -> int:
        """A point in time for :meth:`refresh`: take it before sending the LIST."""
        with self._lock:
            return next(self._clock)

    def put(self, obj: Mapping[str, Any]) -> None:
        key = self._key(obj)
        with self._lock:
            gone = self._gone.get(key)
            if gone is not None and not rv_newer(obj, gone[1]):
                return  # a version from before its deletion
            old = self._objs.get(key)
            if old is None or rv_not_older(obj, old[1]):
                self._objs[key] = (next(self._clock), dict(obj))
                self._gone.pop(key, None)

    def remove(self, obj: Mapping[str, Any]) -> None:
        key = self._key(obj)
        with self._lock:
            self._objs.pop(key, None)
            self._gone[key] = (next(self._clock), {"metadata": dict(obj.get("metadata") or {})})

    def get(self, key: Key) -> dict[str, Any] | None:
        with self._lock:
            hit = self._objs.get(key)
            return hit[1] if hit is not None else None

    def values(self) -> list[dict[str, Any]]:
        with self._lock:
            return [obj for _, obj in self._objs.values()]

    def refresh(self, api_version: str, kind: str, namespaces: Collection[str] | None,
                listed: Iterable[Mapping[str, Any]], since: int, add: bool = True) -> int:
        """Make the entries of one kind (in ``namespaces``; None: all) agree with what a
        LIST sent after :meth:`mark` returned ``since``; returns how many were dropped.

        Entries stored before the LIST started and missing from it, or (``add`` False: a
        metadata-only LIST) held there in another version, are dropped; the next
        reconcile asks for them. With ``add`` the listed objects are stored, except
        those a DELETED event removed while the LIST ran."""
        items = list(listed)
        versions = {self._key({**o, "apiVersion": api_version, "kind": kind}):
                    (o.get("metadata") or {}).get("resourceVersion") for o in items}
        probe = self._key({"apiVersion": api_version, "kind": kind, "metadata": {"name": ""}})
        dropped = 0
        with self._lock:
            for key, (stamp, obj) in list(self._objs.items()):
                if key[:2] != probe[:2] or stamp >= since or \
                        (namespaces is not None and key[2] not in namespaces):
                    continue
                stale = not add and versions.get(key) != obj["metadata"].get("resourceVersion")
                if key not in versions or stale:
                    del self._objs[key]
                    dropped += 1
            gone = {k for k, (stamp, _) in self._gone.items() if stamp >= since}
            for key in [k for k, (stamp, _) in self._gone.items() if stamp < since]:
                del self._gone[key]  # no LIST still running can predate it
        if add:
            for item in items:
                if self._key(item) not in gone:
                    self.put(item)
        return dropped


class ChildCache(ObjectCache):
    """Every object we manage, by (apiVersion, kind, namespace, name)."""

    def __init__(self) -> None:
        super().__init__(child_key)

    def of_owner(self, namespace: str, owner_uid: str) -> list[dict[str, Any]]:
        return [o for o in self.values() if o["metadata"].get("namespace", "") == namespace
                and any(ref.get("uid") == owner_uid
                        for ref in o["metadata"].get("ownerReferences") or [])]


class BodyCache(ObjectCache):
    """Latest body of each of our CRs, from watch events, LISTs and our status writes."""

    def __init__(self) -> None:
        super().__init__(_body_key)

    def find(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(("", kind, namespace, name))

    def newest(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``body`` or the cached version of the same object, whichever is newer: a
        handler's body (or a resync's LIST) may predate our own last status write."""
        meta = body["metadata"]
        cached = self.find(body["kind"], meta.get("namespace", ""), meta["name"])
        if cached is not None and cached["metadata"].get("uid") == meta.get("uid") and \
                rv_not_older(cached, body):
            return dict(cached)
        return dict(body)
