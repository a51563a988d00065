"""Operator-wide settings and shared clients (kopf startup/probe handlers)."""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from typing import Any

import kopf

from dashstream_operator.handlers.children import BodyCache
from dashstream_operator.k8s import Kube
from dashstream_operator.kafka.admin import AdminPool
from dashstream_operator.observability import serve
from dashstream_operator.reconcile.children import ChildCache

__all__ = ["RESYNC_SECONDS", "object_lock"]

# The timer interval must be known when handlers are registered (import time), so it
# comes from the environment; `dashstream-operator --resync-interval` sets it.
RESYNC_SECONDS = float(os.environ.get("DASHSTREAM_RESYNC_SECONDS", "15"))
KAFKA_TIMEOUT_SECONDS = float(os.environ.get("DASHSTREAM_KAFKA_TIMEOUT_SECONDS", "10"))

_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


def object_lock(uid: str) -> threading.Lock:
    """One lock per object: a timer tick and a change handler never reconcile the same
    object at once (kopf serialises events per object, but timers run beside them)."""
    with _locks_guard:
        return _locks[uid]


@kopf.on.startup(id="configure")
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # GitOps: keep kopf's bookkeeping out of metadata.annotations (Argo CD owns them);
    # it goes to status.kopf, which the CRD declares as free-form.
    settings.persistence.progress_storage = kopf.StatusProgressStorage()
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage()
    settings.persistence.finalizer = "dashstream.io/topic-deletion"
    # Events only for what a person must see (refusals, repairs), not every success.
    settings.posting.level = 30  # logging.WARNING
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    settings.watching.server_timeout = 120
    settings.watching.client_timeout = 150
    settings.watching.connect_timeout = 10
    settings.execution.max_workers = int(os.environ.get("DASHSTREAM_WORKERS", "16"))
    memo.kube = Kube()
    memo.kafka = AdminPool(timeout=KAFKA_TIMEOUT_SECONDS)
    memo.children = ChildCache()
    memo.bodies = BodyCache()


@kopf.on.startup(id="http-endpoint")
async def http_endpoint(memo: kopf.Memo, **_: Any) -> None:
    """/healthz and /metrics on the liveness URL (kopf's own liveness server is off)."""
    url = os.environ.get("DASHSTREAM_LIVENESS", "none")
    if url != "none":
        memo.http = await serve(url, stale_after=max(60.0, 3 * RESYNC_SECONDS))


@kopf.on.cleanup(id="http-endpoint-stop")
async def http_endpoint_stop(memo: kopf.Memo, **_: Any) -> None:
    runner = getattr(memo, "http", None)
    if runner is not None:
        await runner.cleanup()


@kopf.on.probe(id="kafka-admins")
def kafka_admins(memo: kopf.Memo, **_: Any) -> int:
    """Reported on the liveness endpoint; proves the memo (clients) is initialised."""
    return len(getattr(memo.kafka, "_admins", {}))
