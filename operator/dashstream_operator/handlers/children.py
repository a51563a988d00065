"""Watches of everything we manage, feeding the caches and putting drift back at once.

Every child we render carries ``app.kubernetes.io/managed-by: dashstream-operator``
and a controller ownerReference to one of our CRs. A watch event on a child updates
the child cache and hands the owner to that kind's "children changed" callback,
which re-renders and re-applies only what differs: a hand edit or a deleted child is
repaired within a second or so, without waiting for any timer. What a watch misses
(a gap while it reconnects) the resync pass finds: it refreshes the caches from
LISTs (handlers/resync.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from dashstream_operator.handlers.skeleton import forget_locks, log_failure
from dashstream_operator.models import GROUP, KINDS, VERSION
from dashstream_operator.render.names import MANAGED_BY as MANAGED_BY_VALUE

__all__ = ["CHILD_RESOURCES", "MANAGED_BY", "MANAGED_BY_SELECTOR", "Coalescer",
           "register_owner_callback"]

MANAGED_BY = {"app.kubernetes.io/managed-by": MANAGED_BY_VALUE}  # what render/ puts on each
OUR_API_VERSION = f"{GROUP}/{VERSION}"

# (group, version, plural, kind) of every kind of child; the optional CRDs' kinds are
# simply not watched by kopf (nor listed by the resync) until they exist in the cluster.
CHILD_RESOURCES = (
    ("apps", "v1", "deployments", "Deployment"),
    ("", "v1", "services", "Service"),
    ("", "v1", "configmaps", "ConfigMap"),
    ("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor"),
    ("monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule"),
    ("grafana.integreatly.org", "v1beta1", "grafanadashboards", "GrafanaDashboard"),
)
MANAGED_BY_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())

# owner kind -> callback(memo, namespace, name, uid, child_deleted)
OwnerCallback = Callable[[kopf.Memo, str, str, str, bool], None]
_CALLBACKS: dict[str, OwnerCallback] = {}


def register_owner_callback(kind: str, fn: OwnerCallback) -> None:
    _CALLBACKS[kind] = fn


class Coalescer:
    """Many events of one owner's children while its reconcile runs (a rollout moves a
    Deployment's status a dozen times) become one more reconcile, not a dozen. A
    pending call made for a deletion is not replaced by one made for a change: the
    deletion's call checks with the API server that the owner is not being deleted."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[Callable[[], None], bool] | None] = {}
        self._lock = threading.Lock()

    def run(self, key: str, fn: Callable[[], None], for_deletion: bool = False) -> None:
        """Run ``fn`` (which must not raise), or leave it to the run already going."""
        with self._lock:
            if key in self._pending:
                waiting = self._pending[key]
                if waiting is None or not waiting[1]:
                    self._pending[key] = (fn, for_deletion)  # the running one goes again
                return
            self._pending[key] = None
        while True:
            fn()
            with self._lock:
                waiting = self._pending[key]
                if waiting is None:
                    del self._pending[key]  # in the same critical section as the check
                    return
                fn, self._pending[key] = waiting[0], None


_COALESCER = Coalescer()


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
    ns = obj["metadata"]["namespace"]

    def repair() -> None:
        try:
            callback(memo, ns, owner["name"], owner["uid"], deleted)
        except Exception as exc:
            log_failure(owner["kind"], ns, owner["name"], "repairing children", exc)

    _COALESCER.run(owner["uid"], repair, for_deletion=deleted)


for _group, _version, _plural, _kind in CHILD_RESOURCES:
    kopf.on.event(_group, _version, _plural, labels=MANAGED_BY,
                  id=f"watch-{_plural}")(on_child_event)


def on_owner_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
    if event.get("type") == "DELETED":
        memo.bodies.remove(event["object"])
        uid = str(event["object"]["metadata"].get("uid", ""))
        retries = getattr(memo, "retries", None)
        if retries is not None:
            retries.succeeded(uid)  # drops a pending retry and its history
        forget_locks(uid)
    else:
        memo.bodies.put(event["object"])


for _info in KINDS:
    kopf.on.event(GROUP, VERSION, _info.plural, id=f"watch-{_info.plural}")(on_owner_event)
