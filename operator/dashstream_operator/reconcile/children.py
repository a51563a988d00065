"""Apply an owner's rendered children, prune the stale ones, observe the result.

One function for the three kinds. For each desired child:

1. *Ownership first.* A child is written only if it does not exist yet or carries
   our controller ownerReference to this very owner. An object of the same name that
   someone else made (a user's ConfigMap, a child of another owner) is reported as a
   conflict and left byte for byte as it is; since it never gets our ownerReference,
   deleting the owner never garbage-collects it.
2. *Apply decisions from desired state* (reconcile/compare.py): the whole desired
   object, stamped with its hash, is server-side applied when the live one does not
   hold it, so a field we stop declaring is removed and a hand edit is put back.

The watch cache answers the comparison, so a no-op reconcile sends no request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiException

from dashstream_operator.k8s import Kube
from dashstream_operator.reconcile.cache import ChildCache, Key, child_key
from dashstream_operator.reconcile.compare import holds, stamped

__all__ = ["CHILD_CONFLICT", "PIPELINE_LABEL", "ChildCache", "ChildrenOutcome", "Key",
           "child_key", "controlled_by", "owner_of", "sync_children"]

PIPELINE_LABEL = "dashstream.io/pipeline"
CHILD_CONFLICT = "ChildConflict"


@dataclass
class ChildrenOutcome:
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # spec change or hand edit put back
    pruned: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "Kind/name: the API server's reason"
    conflicts: list[str] = field(default_factory=list)  # "Kind/name exists and is ..."
    live: dict[Key, dict[str, Any]] = field(default_factory=dict)

    @property
    def wrote(self) -> bool:
        return bool(self.created or self.changed or self.pruned)

    def conflict_message(self) -> str:
        return ("; ".join(self.conflicts) + ": left untouched; rename or delete it, or "
                "change this object's names")


def _name(obj: Mapping[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _api_reason(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)[:500]
    except ValueError:
        return str(exc.reason)


def controlled_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    return any(ref.get("uid") == owner_uid and ref.get("controller")
               for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def owner_of(obj: Mapping[str, Any]) -> str:
    """Who an object belongs to, in words, for a conflict message."""
    meta = obj.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return f"controlled by {ref.get('kind')} {ref.get('name')} (uid {ref.get('uid')})"
    managers = sorted({str(m.get("manager")) for m in meta.get("managedFields") or []
                       if m.get("manager")})
    return "not created by this object" + (f" (written by {', '.join(managers)})"
                                          if managers else "")


def sync_children(kube: Kube, cache: ChildCache, desired: Iterable[Mapping[str, Any]],
                  namespace: str, owner_uid: str) -> ChildrenOutcome:
    out = ChildrenOutcome()
    wanted: set[Key] = set()
    for plain in desired:
        obj = stamped(plain)
        key = child_key(obj)
        wanted.add(key)
        live = cache.get(key)
        if live is None:
            # Not in the cache (not ours, or not seen by a watch yet): ask once. Only
            # our own children are cached; a foreign object is asked for each time, so
            # its deletion is noticed without a watch on it.
            found = kube.get(*key)
            live = found.to_dict() if found is not None else None
            if live is not None and controlled_by(live, owner_uid):
                cache.put(live)
        if live is not None and not controlled_by(live, owner_uid):
            out.conflicts.append(f"{_name(obj)} exists and is {owner_of(live)}")
            continue
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
        if child_key(stale) not in wanted and controlled_by(stale, owner_uid):
            kube.delete(stale["apiVersion"], stale["kind"], namespace, stale["metadata"]["name"])
            cache.remove(stale)
            out.pruned.append(_name(stale))
    return out
