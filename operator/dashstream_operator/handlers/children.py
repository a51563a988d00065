"""Watches of everything we manage, feeding the caches and putting drift back at once.

Every child we render carries ``app.kubernetes.io/managed-by: dashstream-operator``
and a controller ownerReference to one of our CRs. A watch event on a child updates
the child cache and hands the owner to that kind's "children changed" callback,
which re-renders and re-applies only what differs: a hand edit or a deleted child is
repaired within a second or so, without waiting for any timer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from dashstream_operator.models import GROUP, KINDS, VERSION
from dashstream_operator.observability import about

__all__ = ["MANAGED_BY", "BodyCache", "register_owner_callback"]

log = logging.getLogger(__name__)

MANAGED_BY = {"app.kubernetes.io/managed-by": "dashstream-operator"}
OUR_API_VERSION = f"{GROUP}/{VERSION}"

# (group, version, plural) of every kind of child; the optional CRDs' kinds are simply
# not watched by kopf until they exist in the cluster.
CHILD_RESOURCES = (
    ("apps", "v1", "deployments"),
    ("", "v1", "services"),
    ("", "v1", "configmaps"),
    ("monitoring.coreos.com", "v1", "servicemonitors"),
    ("monitoring.coreos.com", "v1", "prometheusrules"),
    ("grafana.integreatly.org", "v1beta1", "grafanadashboards"),
)

# owner kind -> callback(memo, namespace, name, uid, child_deleted)
OwnerCallback = Callable[[kopf.Memo, str, str, str, bool], None]
_CALLBACKS: dict[str, OwnerCallback] = {}


def register_owner_callback(kind: str, fn: OwnerCallback) -> None:
    _CALLBACKS[kind] = fn


class BodyCache:
    """Latest body of each of our CRs, by (kind, namespace, name), from watch events
    and our own status writes (whichever has the newer resourceVersion)."""

    def __init__(self) -> None:
        self._bodies: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(body: Mapping[str, Any]) -> tuple[str, str, str]:
        meta = body["metadata"]
        return body["kind"], meta.get("namespace", ""), meta["name"]

    def put(self, body: Mapping[str, Any]) -> None:
        key = self._key(body)
        with self._lock:
            old = self._bodies.get(key)
            if old is None or _rv(body) >= _rv(old):
                self._bodies[key] = dict(body)

    def remove(self, body: Mapping[str, Any]) -> None:
        with self._lock:
            self._bodies.pop(self._key(body), None)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._bodies.get((kind, namespace, name))


def _rv(obj: Mapping[str, Any]) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion", 0))
    except (TypeError, ValueError):
        return 0


def _controller_owner(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("apiVersion") == OUR_API_VERSION:
            return dict(ref)
    return None


def on_child_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    obj = event["object"]
    deleted = event.get("type") == "DELETED"
    if deleted:
        memo.children.remove(obj)
    else:
        memo.children.put(obj)
    owner = _controller_owner(obj)
    callback = _CALLBACKS.get(owner["kind"]) if owner else None
    if owner is None or callback is None:
        return
    try:
        callback(memo, obj["metadata"]["namespace"], owner["name"], owner["uid"], deleted)
    except Exception:
        log.exception("repairing children of %s %s/%s failed", owner["kind"],
                      obj["metadata"]["namespace"], owner["name"],
                      extra=about(owner["kind"], obj["metadata"]["namespace"], owner["name"]))


for _group, _version, _plural in CHILD_RESOURCES:
    kopf.on.event(_group, _version, _plural, labels=MANAGED_BY,
                  id=f"watch-{_plural}")(on_child_event)


def on_owner_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    if event.get("type") == "DELETED":
        memo.bodies.remove(event["object"])
    else:
        memo.bodies.put(event["object"])


for _info in KINDS:
    kopf.on.event(GROUP, VERSION, _info.plural, id=f"watch-{_info.plural}")(on_owner_event)
