"""What every kind's handler does the same way: pick the newest body, lock it, honour a
pause, write status, post Events, count them, and decide whether a child's event is
worth a reconcile. Kept in one place so the three kinds cannot drift apart.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import kopf

from dashstream_operator.k8s import api_forbidden, api_unavailable
from dashstream_operator.models import BaseStatus, KindInfo
from dashstream_operator.observability import METRICS, about
from dashstream_operator.reconcile.pause import is_paused, paused_patch
from dashstream_operator.reconcile.status import invalid_spec_patch

__all__ = ["REPAIR_REASONS", "VALIDATION_REASONS", "child_event_matters", "forget_locks",
           "leave_alone", "locked_newest", "log_failure", "log_refusal", "now", "object_lock",
           "post_events", "refuse_invalid_spec", "retry_done", "retry_soon", "write_status"]

log = logging.getLogger(__name__)

_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()

# Events that say something was put back; counted as drift repairs.
REPAIR_REASONS = ("DriftRepaired", "TopicsRepaired")
# Events that refuse input; counted as validation failures (the reconcile is "invalid").
VALIDATION_REASONS = frozenset({
    "InvalidSpec", "InvalidRules", "UnknownMetrics", "SourceNotFound", "TooLarge",
    "InvalidDashboard", "SourceError", "UidConflict"})


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def forget_locks(uid: str) -> None:
    """The object is gone: its locks are not needed any more."""
    with _locks_guard:
        for key in [k for k in _locks if k.split("/", 1)[0] == uid]:
            del _locks[key]


def object_lock(key: str) -> threading.Lock:
    """One lock per object (and purpose): the resync pass, a retry, a child's event and
    the object's own event never reconcile the same object at once."""
    with _locks_guard:
        return _locks[key]


@contextmanager
def locked_newest(memo: kopf.Memo, body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Hold the object's lock and yield the newest body known: the one given, or the
    cache's when another path (a status write of ours, a newer event) is newer."""
    with object_lock(body["metadata"]["uid"]):
        yield memo.bodies.newest(body)


def write_status(memo: kopf.Memo, kind: KindInfo, body: Mapping[str, Any],
                 patch: dict[str, Any] | None) -> None:
    if patch is None:
        return  # a reconcile that changed nothing writes nothing
    meta = body["metadata"]
    updated = memo.kube.patch_status(kind, meta["namespace"], meta["name"], patch)
    if updated:
        memo.bodies.put(updated)  # our write is the newest truth until the watch catches up


def post_events(memo: kopf.Memo, body: Mapping[str, Any],
                events: Sequence[tuple[str, str, str]]) -> bool:
    """Post (type, reason, message) Events about ``body``, count repairs and refusals;
    returns whether any Event refused input (the reconcile's result is then "invalid")."""
    refused = False
    for type_, reason, message in events:
        memo.kube.post_event(body, type_, reason, message)
        if reason in REPAIR_REASONS:
            METRICS.drift_repairs.labels(body["kind"]).inc()
        elif reason in VALIDATION_REASONS:
            METRICS.validation_failures.labels(body["kind"], reason).inc()
            refused = True
    return refused


def refuse_invalid_spec(memo: kopf.Memo, kind: KindInfo, body: Mapping[str, Any],
                        status_type: type[BaseStatus], condition: str,
                        exc: Exception) -> None:
    """A spec the API server should have refused (its schema or CEL did not run, e.g. an
    older CRD): ``condition`` False with reason InvalidSpec, counted and logged."""
    METRICS.validation_failures.labels(kind.kind, "InvalidSpec").inc()
    write_status(memo, kind, body, invalid_spec_patch(
        status_type.from_body(body), body, condition, str(exc), now()))
    log_refusal(kind, body, f"invalid spec: {exc}")


def leave_alone(memo: kopf.Memo, kind: KindInfo, body: Mapping[str, Any],
                status_type: type[BaseStatus]) -> bool:
    """Whether to stop before reconciling the newest body: it is being deleted (children
    go by garbage collection; re-applying them would fight it), or it is paused (said in
    status, once)."""
    if body["metadata"].get("deletionTimestamp"):
        return True
    if not is_paused(body):
        return False
    write_status(memo, kind, body, paused_patch(body, now(), status_type))
    return True


def child_event_matters(memo: kopf.Memo, kind: KindInfo, namespace: str, name: str,
                        uid: str, child_deleted: bool) -> dict[str, Any] | None:
    """The owner's body when a child's event should reconcile it, else None: the owner
    is unknown yet, a different object of the same name, or going away."""
    body = memo.bodies.find(kind.kind, namespace, name)
    if body is None or body["metadata"].get("uid") != uid or \
            body["metadata"].get("deletionTimestamp"):
        return None
    if child_deleted:
        # Garbage collection after the owner's deletion deletes children too: ask the
        # API server, not the cache, before re-creating anything.
        fresh = memo.kube.get_cr(kind, namespace, name)
        if fresh is None or fresh["metadata"].get("uid") != uid or \
                fresh["metadata"].get("deletionTimestamp"):
            return None
    return body


def log_refusal(kind: KindInfo, body: Mapping[str, Any], what: str) -> None:
    meta = body["metadata"]
    log.info("%s %s/%s: %s", kind.kind, meta.get("namespace"), meta.get("name"), what,
             extra=about(kind.kind, meta.get("namespace"), meta.get("name")))


def retry_soon(memo: kopf.Memo, uid: str, fn: Callable[[], None]) -> None:
    """A transient failure: run ``fn`` again after the object's backoff delay (seconds,
    doubling up to the resync interval) rather than at the next resync pass."""
    retries = getattr(memo, "retries", None)
    if retries is not None:
        retries.schedule(uid, fn)


def retry_done(memo: kopf.Memo, uid: str) -> None:
    retries = getattr(memo, "retries", None)
    if retries is not None:
        retries.succeeded(uid)


def log_failure(kind: str, namespace: object, name: object, what: str,
                exc: BaseException) -> None:
    """A reconcile failed: the API server being away is a warning without a traceback
    (the next pass retries), a missing permission an error naming it; anything else is a
    bug, logged with its traceback."""
    extra = about(kind, namespace, name)
    refusal = api_forbidden(exc)
    if api_unavailable(exc):
        log.warning("%s of %s %s/%s: API server unavailable (%s); the resync pass retries",
                    what, kind, namespace, name, type(exc).__name__, extra=extra)
    elif refusal:
        log.error("%s of %s %s/%s forbidden: %s; grant the operator's ServiceAccount this "
                  "permission (the chart's Role does); the resync pass retries", what, kind,
                  namespace, name, refusal, extra=extra)
    else:
        log.error("%s of %s %s/%s failed; the resync pass retries", what, kind, namespace,
                  name, exc_info=exc, extra=extra)
