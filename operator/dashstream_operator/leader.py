"""Leader election on a coordination.k8s.io Lease: several replicas, one reconciling.

The same protocol as client-go's leaderelection (what kube-controller-manager and
controller-runtime operators use), so `kubectl get lease` reads it as for any other
controller: the holder renews ``spec.renewTime`` every ``retry`` seconds; another
replica takes the Lease over only when its record has not changed for
``leaseDurationSeconds`` *by the taker's own clock* (never comparing two machines'
clocks); every write carries the resourceVersion it was decided on, so two replicas
racing for an expired Lease cannot both win. A leader that cannot renew within
``renew_deadline`` stops (the process exits and its pod restarts as a standby) before
a successor can take over; one that shuts down releases the Lease, so the standby
takes over within one retry instead of one lease duration.

Why not kopf's peering: it pauses kopf's handlers but not the operator's own resync
loop and retries, and needs cluster-scoped peering CRDs; a standby here runs nothing
but this loop and its /healthz.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

__all__ = ["LeaderElection", "LeaseRecord", "may_take"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseRecord:
    holder: str
    renew_time: str
    duration: int


def may_take(record: LeaseRecord | None, me: str, unchanged_for: float) -> bool:
    """Whether ``me`` may write itself into the Lease: it is absent, released, ours, or
    its record has not changed for a whole lease duration (the holder is gone)."""
    if record is None or not record.holder or record.holder == me:
        return True
    return unchanged_for >= record.duration


def _micro_time(at: datetime) -> str:
    # The API server's MicroTime wants exactly six decimals; isoformat() drops them at 0.
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElection:
    """One replica's side of the election: :meth:`wait_until_leader` as a standby, then
    :meth:`keep_renewing` while it reconciles, :meth:`release` when it stops.

    Every request is bounded by ``retry`` seconds, and a watchdog, not the renewing
    loop, decides that the Lease is lost: a renewal that hangs cannot keep a leader
    reconciling past ``renew_deadline`` after the last renewal *sent* (so before the
    write a successor times from), which is shorter than the lease duration."""

    def __init__(self, api: client.CoordinationV1Api, namespace: str, name: str,
                 identity: str, *, lease_seconds: int = 10, renew_deadline: float = 7.0,
                 retry: float = 1.5, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < retry < renew_deadline < lease_seconds:
            raise ValueError("need 0 < retry < renew deadline < lease duration")
        # Any: Lease bodies are written as dicts (MicroTime strings of our own making).
        self.api: Any = api
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_seconds, self.renew_deadline, self.retry = lease_seconds, renew_deadline, retry
        self._clock = clock
        self._seen: LeaseRecord | None = None
        self._seen_at = clock()
        self._renewed_sent = clock()  # when the last successful renewal was sent
        self._threads: list[threading.Thread] = []
        self._released = False
        self.stop = threading.Event()

    def _call(self, method: str, *args: Any) -> Any:
        # Bounded: the kubernetes client waits forever on a half-open connection.
        return getattr(self.api, method)(*args, _request_timeout=self.retry)

    def _record(self, lease: Any) -> LeaseRecord:
        spec = lease.spec
        return LeaseRecord(spec.holder_identity or "", str(spec.renew_time),
                           int(spec.lease_duration_seconds or self.lease_seconds))

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the Lease afterwards."""
        now, sent = datetime.now(UTC), self._clock()
        try:
            lease: Any = self._call("read_namespaced_lease", self.name, self.namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            return self._write(None, now, sent)
        record = self._record(lease)
        if record != self._seen:
            self._seen, self._seen_at = record, self._clock()
        if not may_take(record, self.identity, self._clock() - self._seen_at):
            return False
        return self._write(lease, now, sent)

    def _write(self, lease: Any, now: datetime, sent: float) -> bool:
        spec: dict[str, Any] = {"holderIdentity": self.identity,
                                "leaseDurationSeconds": self.lease_seconds,
                                "renewTime": _micro_time(now)}
        body: dict[str, Any] = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                "metadata": {"name": self.name, "namespace": self.namespace},
                                "spec": spec}
        ours = lease is not None and lease.spec.holder_identity == self.identity
        if ours:
            spec["acquireTime"] = _micro_time(lease.spec.acquire_time or now)
            spec["leaseTransitions"] = lease.spec.lease_transitions or 0
        else:
            spec["acquireTime"] = _micro_time(now)
            spec["leaseTransitions"] = 0 if lease is None else (
                (lease.spec.lease_transitions or 0) + 1)
        try:
            if lease is None:
                self._call("create_namespaced_lease", self.namespace, body)
            else:
                # A patch on the version it was decided on (a 409 if anyone wrote since):
                # the chart grants "patch", never whole-object "update".
                body["metadata"]["resourceVersion"] = lease.metadata.resource_version
                self._call("patch_namespaced_lease", self.name, self.namespace, body)
        except client.ApiException as exc:
            if exc.status == 409:  # another replica wrote first: look again
                return False
            raise
        self._renewed_sent = sent
        self._seen = LeaseRecord(self.identity, "", self.lease_seconds)  # ours: never stale
        self._seen_at = self._clock()
        if not ours:
            held = lease.spec.holder_identity if lease is not None else None
            log.info("became the leader (Lease %s/%s%s)", self.namespace, self.name,
                     f", taken over from {held}" if held else "")
        return True

    def _attempt(self) -> bool:
        try:
            return self.try_acquire_or_renew()
        except Exception as exc:  # the API server away: the next retry tries again
            reason = getattr(exc, "reason", None) or exc.__class__.__name__
            log.warning("leader election: %s (%s)", reason, getattr(exc, "status", ""))
            return False

    def wait_until_leader(self) -> bool:
        """Block until this replica holds the Lease (True) or ``stop`` is set (False)."""
        told = False
        while not self.stop.is_set():
            if self._attempt():
                return True
            if not told and self._seen is not None:
                log.info("standby: Lease %s/%s is held by %s; waiting", self.namespace,
                         self.name, self._seen.holder)
                told = True
            self.stop.wait(self.retry)
        return False

    def keep_renewing(self, on_lost: Callable[[], None]) -> None:
        """Renew every ``retry`` seconds in one thread; a watchdog thread calls
        ``on_lost`` once no renewal sent in the last ``renew_deadline`` seconds
        succeeded, or another replica holds the Lease."""
        def renew() -> None:
            while not self.stop.wait(self.retry):
                self._attempt()

        def watch() -> None:
            while not self.stop.wait(min(0.5, self.retry)):
                taken = self._seen is not None and self._seen.holder not in ("", self.identity)
                if taken or self._clock() - self._renewed_sent > self.renew_deadline:
                    log.error("leader election: lost the Lease %s/%s (held by %s); stopping "
                              "so that only one replica reconciles", self.namespace, self.name,
                              self._seen.holder if taken and self._seen else "nobody renewed")
                    on_lost()
                    return

        for name, target in (("lease-renewal", renew), ("lease-watchdog", watch)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def release(self) -> None:
        """Give the Lease up (on shutdown): a standby takes it within one retry. Once:
        called from kopf's cleanup and again, as a fallback, after kopf.run returns."""
        if self._released:
            return
        self._released = True
        self.stop.set()
        for thread in self._threads:  # a renewal under way must not write it back
            thread.join(timeout=3 * self.retry)
        try:
            lease: Any = self._call("read_namespaced_lease", self.name, self.namespace)
            if lease.spec.holder_identity != self.identity:
                return
            now = _micro_time(datetime.now(UTC))
            self._call("patch_namespaced_lease", self.name, self.namespace, {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace,
                             "resourceVersion": lease.metadata.resource_version},
                "spec": {"holderIdentity": None, "leaseDurationSeconds": 1,
                         "renewTime": now, "acquireTime": now,
                         "leaseTransitions": lease.spec.lease_transitions or 0}})
            log.info("released the Lease %s/%s", self.namespace, self.name)
        except Exception as exc:  # it expires by itself
            log.warning("could not release the Lease: %s", exc.__class__.__name__)
