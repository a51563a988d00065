"""Does a live child already hold what we would apply? Pure.

Two questions, both needed:

- *Did what we declare change?* A hash of the whole desired object is stamped on it
  as an annotation (prometheus-operator's input-hash pattern). When the hash differs
  the whole object is applied, and server-side apply then removes every field our
  field manager set before and no longer declares: a settings key, a toleration or a
  resource limit dropped from the spec leaves the cluster. A check that the desired
  fields are present could never notice that one is gone.
- *Did someone change what we declare?* A hand edit of a field we own (a value
  changed or removed) shows as a desired field the live object lacks or holds
  differently. Fields others added are theirs: server-side apply leaves them too.

Comparing against the watch cache first makes a no-op resync cost no request at all,
and fields the API server fills in (defaults) never cause an apply.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["APPLIED_HASH", "first_difference", "holds", "stamped"]

APPLIED_HASH = "dashstream.io/applied-hash"


def stamped(desired: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``desired`` carrying the hash of its own content as an annotation."""
    digest = hashlib.sha256(json.dumps(desired, sort_keys=True, separators=(",", ":"),
                                       default=str).encode()).hexdigest()[:20]
    meta = dict(desired.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), APPLIED_HASH: digest}
    return {**desired, "metadata": meta}


def first_difference(desired: Any, live: Any, path: str = "") -> str | None:
    """The path of the first desired field the live object lacks or holds differently."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return path or "."
        for key, value in desired.items():
            diff = first_difference(value, live.get(key), f"{path}.{key}")
            if diff is not None:
                return diff
        return None
    if isinstance(desired, Sequence) and not isinstance(desired, str):
        if not isinstance(live, Sequence) or isinstance(live, str):
            return path
        key = _merge_key(path.rsplit(".", 1)[-1], desired, live)
        if key is not None:
            # A keyed list (containers, env, ports, volumes, ownerReferences): server-side
            # apply merges it by key, so entries other managers added stay, and are not
            # drift; each entry we declare must be there and hold what we declare.
            have = {_key_of(v, key): v for v in live}
            for d in desired:
                diff = first_difference(d, have.get(_key_of(d, key)),
                                        f"{path}[{key[0]}={_key_of(d, key)[0]}]")
                if diff is not None:
                    return diff
            return None
        if len(live) != len(desired):  # an atomic list is ours whole
            return path
        for i, (d, v) in enumerate(zip(desired, live, strict=True)):
            diff = first_difference(d, v, f"{path}[{i}]")
            if diff is not None:
                return diff
        return None
    return None if desired == live else path


# The keyed lists we render (the API's x-kubernetes-list-map-keys / patchMergeKey) by
# field name, with their keys, most specific first. Every other list is atomic for
# server-side apply (e.g. tolerations, args, a ServiceMonitor's endpoints, a
# PrometheusRule's groups): applying it replaces it whole, so it must be ours whole.
_KEYED_LISTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "containers": (("name",),), "initContainers": (("name",),), "env": (("name",),),
    "volumes": (("name",),), "volumeMounts": (("mountPath",),),
    "ports": (("containerPort", "protocol"), ("port", "protocol")),
    "ownerReferences": (("uid",),), "imagePullSecrets": (("name",),),
}


def _merge_key(field: str, desired: Sequence[Any],
               live: Sequence[Any]) -> tuple[str, ...] | None:
    items = [*desired, *live]
    if not desired or not all(isinstance(i, Mapping) for i in items):
        return None
    for key in _KEYED_LISTS.get(field, ()):
        if all(key[0] in i for i in items):
            return key
    return None


def _key_of(item: Mapping[str, Any], key: tuple[str, ...]) -> tuple[Any, ...]:
    # "protocol" defaults to TCP on the server side; absent and "TCP" are the same port.
    return tuple(item.get(k, "TCP" if k == "protocol" else None) for k in key)


def holds(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """``live`` holds every field of ``desired`` (a :func:`stamped` object: its hash
    annotation included, so a declaration that changed never holds)."""
    return live is not None and first_difference(desired, live) is None
