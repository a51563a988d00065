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

__all__ = ["CHILD_CONFLICT", "ChildCache", "ChildrenOutcome", "Key",
           "child_key", "controlled_by", "owner_of", "repair_events", "sync_children"]

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


def repair_events(outcome: ChildrenOutcome, body: Mapping[str, Any],
                  ) -> list[tuple[str, str, str]]:
    """One ``DriftRepaired`` Event when children had to be written although the spec did
    not change since the status last reported it: someone edited or deleted them (or a
    target became possible, e.g. a CRD was installed). The same rule for every kind."""
    observed = (body.get("status") or {}).get("observedGeneration")
    if not outcome.wrote or observed != body["metadata"].get("generation"):
        return []
    done = [*(f"put back {c}" for c in outcome.changed),
            *(f"re-created {c}" for c in outcome.created),
            *(f"pruned {c}" for c in outcome.pruned)]
    return [("Normal", "DriftRepaired", ", ".join(done)[:1024])]


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
        try:
            _sync_one(kube, cache, obj, owner_uid, out)
        except ApiException as exc:
            # One refused child (quota, a full Service IP range, an admission webhook)
            # must not stop the others; the caller reports it and retries.
            out.failed.append(f"{_name(obj)}: {_api_reason(exc)}")
    for stale in cache.of_owner(namespace, owner_uid):
        if child_key(stale) not in wanted and controlled_by(stale, owner_uid):
            try:
                deleted = kube.delete(*child_key(stale), uid=stale["metadata"].get("uid"))
            except ApiException as exc:
                if exc.status != 409:  # 409: the name holds another object now: not ours
                    raise
                deleted = False
            cache.remove(stale)
            if deleted:
                out.pruned.append(_name(stale))
    return out


def _sync_one(kube: Kube, cache: ChildCache, obj: dict[str, Any], owner_uid: str,
              out: ChildrenOutcome) -> None:
    key = child_key(obj)
    for fresh in (False, True):
        live = None if fresh else cache.get(key)
        if live is None:
            # Not in the cache (not ours, or not seen by a watch yet): ask. Only our own
            # children are cached; a foreign object is asked for each time, so its
            # deletion is noticed without a watch on it.
            found = kube.get(*key)
            live = found.to_dict() if found is not None else None
            if live is not None and controlled_by(live, owner_uid):
                cache.put(live)
        if live is not None and not controlled_by(live, owner_uid):
            out.conflicts.append(f"{_name(obj)} exists and is {owner_of(live)}")
            return
        if holds(obj, live):
            assert live is not None
            out.live[key] = live
            return
        version = live["metadata"].get("resourceVersion") if live is not None else None
        try:
            # From the cache: onto the version whose ownership was checked, so if the name
            # changed hands since (a deletion the cache missed), the apply fails and we
            # look again. After a fresh read no precondition: ownership was checked a
            # moment ago, and a controller's status write would only make it fail.
            applied = kube.apply(obj, resource_version=None if fresh else version).to_dict()
        except ApiException as exc:
            if exc.status == 409 and not fresh:
                cache.remove(obj)
                continue
            raise
        cache.put(applied)
        out.live[key] = applied
        if live is None:
            out.created.append(_name(obj))
        elif applied["metadata"].get("resourceVersion") != version:
            out.changed.append(_name(obj))  # the apply moved it: it was really different
        return
